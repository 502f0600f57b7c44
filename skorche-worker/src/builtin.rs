//! Built-in tasks used by tests and benches, known to every binary linking this crate (the
//! `skorche-worker` binary hosts them).
//!
//! | name | kind | types | what |
//! |---|---|---|---|
//! | `identity_u64` | map | `u64 -> u64` | returns its input |
//! | `produce_bytes` | map | `(u64, u64) -> Vec<u8>` | `(seed, len)`: deterministic bytes |
//! | `produce_bytes_in_place` | fill_bytes | `(u64, u64) -> Vec<u8>` | same bytes, written in place |
//! | `checksum_bytes` | map | `Vec<u8> -> u64` | [`checksum`] of the bytes |
//! | `sleep_jitter` | map | `u64 -> u64` | sleeps 1–4 ms (by input), returns input |
//! | `fail_on` | try_stateful | `u64 -> u64` | param `k`: error when the input is `k` |
//! | `panic_on` | stateful | `u64 -> u64` | param `k`: panics when the input is `k` |
//! | `abort_on` | stateful | `u64 -> u64` | param `k`: aborts the process when the input is `k` |
//! | `repeat_n` | flat_map | `u64 -> u64` | `n` copies of `n` |

use std::time::Duration;

/// Deterministic bytes for `(seed, len)`: see [`fill_pattern`].
pub fn produce_bytes((seed, len): (u64, u64)) -> Vec<u8> {
    let mut out = vec![0u8; len as usize];
    fill_pattern(seed, &mut out);
    out
}

/// Fills `out` deterministically: word `i` (8 bytes, little-endian) is splitmix64 of
/// `seed + i·γ`; a short tail takes the first bytes of the next word.
///
/// Counter-based (no dependency between words), so the CPU generates words in parallel.
pub fn fill_pattern(seed: u64, out: &mut [u8]) {
    fn word(seed: u64, i: u64) -> [u8; 8] {
        let mut z = seed.wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)).to_le_bytes()
    }
    let mut chunks = out.chunks_exact_mut(8);
    let mut i = 0u64;
    for chunk in &mut chunks {
        chunk.copy_from_slice(&word(seed, i));
        i += 1;
    }
    let tail = chunks.into_remainder();
    let last = word(seed, i);
    let n = tail.len();
    tail.copy_from_slice(&last[..n]);
}

fn requested_len(input: &(u64, u64)) -> usize {
    input.1 as usize
}

fn fill_requested((seed, _): (u64, u64), out: &mut [u8]) {
    fill_pattern(seed, out);
}

/// A fast 64-bit checksum: FNV-1a-style mixing over little-endian `u64` words, then the tail
/// bytes, then the length.
pub fn checksum(bytes: &[u8]) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01B3;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let v = u64::from_le_bytes(w.try_into().expect("chunks_exact(8)"));
        h = (h ^ v).wrapping_mul(PRIME).rotate_left(23);
    }
    for &b in words.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(PRIME);
    }
    (h ^ bytes.len() as u64).wrapping_mul(PRIME)
}

fn identity(x: u64) -> u64 {
    x
}

fn checksum_owned(bytes: Vec<u8>) -> u64 {
    checksum(&bytes)
}

fn sleep_jitter(x: u64) -> u64 {
    let ms = 1 + (x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 62);
    std::thread::sleep(Duration::from_millis(ms));
    x
}

fn keep(k: u64) -> u64 {
    k
}

fn fail_on(k: &mut u64, x: u64) -> Result<u64, String> {
    if x == *k {
        Err(format!("fail_on: refusing item {x}"))
    } else {
        Ok(x)
    }
}

fn panic_on(k: &mut u64, x: u64) -> u64 {
    if x == *k {
        panic!("panic_on: panicking on item {x}");
    }
    x
}

fn abort_on(k: &mut u64, x: u64) -> u64 {
    if x == *k {
        std::process::abort();
    }
    x
}

fn repeat_n(n: u64) -> std::iter::RepeatN<u64> {
    std::iter::repeat_n(n, n as usize)
}

crate::task! {
    /// `u64 -> u64`, returns its input.
    pub static IDENTITY_U64: u64 => u64 = map("identity_u64", identity);
    /// `(seed, len) -> Vec<u8>`: `len` deterministic bytes (see [`produce_bytes`]).
    pub static PRODUCE_BYTES: (u64, u64) => Vec<u8> = map("produce_bytes", produce_bytes);
    /// `Vec<u8> -> u64`: [`checksum`] of the bytes.
    pub static CHECKSUM_BYTES: Vec<u8> => u64 = map("checksum_bytes", checksum_owned);
    /// `u64 -> u64`: sleeps 1–4 ms (chosen by the input), returns the input.
    pub static SLEEP_JITTER: u64 => u64 = map("sleep_jitter", sleep_jitter);
    /// `u64 -> u64` with param `k: u64`: an error on the input equal to `k`.
    pub static FAIL_ON: u64 => u64 = try_stateful("fail_on", keep, fail_on);
    /// `u64 -> u64` with param `k: u64`: panics on the input equal to `k`.
    pub static PANIC_ON: u64 => u64 = stateful("panic_on", keep, panic_on);
    /// `u64 -> u64` with param `k: u64`: aborts the process on the input equal to `k`.
    pub static ABORT_ON: u64 => u64 = stateful("abort_on", keep, abort_on);
    /// `(seed, len) -> Vec<u8>`: the same bytes as [`PRODUCE_BYTES`], written in place (in a
    /// worker, straight into the output ring when at or above the shm threshold).
    pub static PRODUCE_BYTES_IN_PLACE: (u64, u64) => Vec<u8> =
        fill_bytes("produce_bytes_in_place", requested_len, fill_requested);
    /// `u64 -> u64`, flat-map: `n` copies of `n`.
    pub static REPEAT_N: u64 => u64 = flat_map("repeat_n", repeat_n);
}
