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
//! | `half_if_even` | flat_map | `u64 -> u64` | `Some(n / 2)` for even `n`, `None` for odd (a filter-map) |
//! | `checksum_in_place` | map_in_place | `ShmBytes -> u64` | [`checksum`] of the input, read where it lies |
//! | `memset_bytes` | map | `(u8, u64) -> Vec<u8>` | `(byte, len)`: `len` copies of `byte` |
//! | `memset_in_place` | fill_bytes | `(u8, u64) -> Vec<u8>` | the same, written in place |
//! | `produce_f32` | map_slice | `(u64, u64) -> ShmSlice<f32>` | `(seed, n)`: see [`f32_pattern`] |
//! | `produce_f32_in_place` | fill_slice | `(u64, u64) -> ShmSlice<f32>` | the same, written in place |
//! | `fill_f32_in_place` | fill_slice | `(u32, u64) -> ShmSlice<f32>` | `(bits, n)`: `n` copies of `f32::from_bits(bits)`, in place |

use std::time::Duration;

use crate::shm::{ShmBytes, ShmSlice};

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

fn half_if_even(n: u64) -> Option<u64> {
    (n % 2 == 0).then_some(n / 2)
}

fn memset_bytes((byte, len): (u8, u64)) -> Vec<u8> {
    vec![byte; len as usize]
}

fn memset_len(input: &(u8, u64)) -> usize {
    input.1 as usize
}

fn memset_fill((byte, _): (u8, u64), out: &mut [u8]) {
    out.fill(byte);
}

/// The values of [`PRODUCE_F32`]: value `i` of `(seed, n)` is `(seed + i) as f32 * 0.5`.
pub fn f32_pattern(seed: u64, out: &mut [f32]) {
    for (i, x) in out.iter_mut().enumerate() {
        *x = (seed + i as u64) as f32 * 0.5;
    }
}

fn produce_f32((seed, n): (u64, u64)) -> Vec<f32> {
    let mut out = vec![0.0; n as usize];
    f32_pattern(seed, &mut out);
    out
}

fn f32_len(input: &(u64, u64)) -> usize {
    input.1 as usize
}

fn fill_f32_pattern((seed, _): (u64, u64), out: &mut [f32]) {
    f32_pattern(seed, out);
}

fn fill_f32_len(input: &(u32, u64)) -> usize {
    input.1 as usize
}

fn fill_f32((bits, _): (u32, u64), out: &mut [f32]) {
    out.fill(f32::from_bits(bits));
}

crate::task! {
    /// `ShmBytes -> u64`: [`checksum`] of the input, read in place (no copy out of the ring).
    pub static CHECKSUM_IN_PLACE: ShmBytes => u64 = map_in_place("checksum_in_place", checksum);
    /// `(byte, len) -> Vec<u8>`: `len` copies of `byte` (allocated, then handed to the codec).
    pub static MEMSET_BYTES: (u8, u64) => Vec<u8> = map("memset_bytes", memset_bytes);
    /// `(byte, len) -> Vec<u8>`: as [`MEMSET_BYTES`], written in place (in a worker, straight
    /// into the output ring at or above the shm threshold).
    pub static MEMSET_IN_PLACE: (u8, u64) => Vec<u8> =
        fill_bytes("memset_in_place", memset_len, memset_fill);
    /// `(seed, n) -> ShmSlice<f32>`: `n` values of [`f32_pattern`], stored as raw bytes.
    pub static PRODUCE_F32: (u64, u64) => ShmSlice<f32> = map_slice("produce_f32", produce_f32);
    /// `(seed, n) -> ShmSlice<f32>`: as [`PRODUCE_F32`], written in place.
    pub static PRODUCE_F32_IN_PLACE: (u64, u64) => ShmSlice<f32> =
        fill_slice("produce_f32_in_place", f32_len, fill_f32_pattern);
    /// `(bits, n) -> ShmSlice<f32>`: `n` copies of `f32::from_bits(bits)`, written in place.
    pub static FILL_F32_IN_PLACE: (u32, u64) => ShmSlice<f32> =
        fill_slice("fill_f32_in_place", fill_f32_len, fill_f32);
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
    /// `u64 -> u64`, flat-map over an `Option` (a filter-map): half of an even input, no
    /// output for an odd one.
    pub static HALF_IF_EVEN: u64 => u64 = flat_map("half_if_even", half_if_even);
}

fn double(x: u64) -> u64 {
    x * 2
}

fn to_decimal(x: u64) -> String {
    x.to_string()
}

fn digits(s: String) -> u64 {
    s.len() as u64
}

fn with_pid(x: u64) -> (u64, u32) {
    (x, std::process::id())
}

fn same_pid((x, pid): (u64, u32)) -> Result<u64, String> {
    let here = std::process::id();
    if pid == here {
        Ok(x)
    } else {
        Err(format!(
            "item {x} was tagged in process {pid}, checked in {here}"
        ))
    }
}

crate::task! {
    /// `u64 -> u64`: twice the input.
    pub static DOUBLE_U64: u64 => u64 = map("double_u64", double);
    /// `u64 -> String`: the input in decimal.
    pub static TO_DECIMAL: u64 => String = map("to_decimal", to_decimal);
    /// `String -> u64`: the length of the input in bytes (its digit count, after
    /// [`TO_DECIMAL`]).
    pub static DIGITS: String => u64 = map("digits", digits);
    /// `u64 -> (u64, pid)`: the input, tagged with the id of the process that ran the task.
    pub static WITH_PID: u64 => (u64, u32) = map("with_pid", with_pid);
    /// `(u64, pid) -> u64`: the input, or an error if [`WITH_PID`] ran in another process
    /// (so a chain of both proves its steps ran in one worker).
    pub static SAME_PID: (u64, u32) => u64 = try_map("same_pid", same_pid);
    /// `u64 -> u64`: twice the input, declared to run in 2 worker processes by default.
    pub static DOUBLE_IN_2_PROCESSES: u64 => u64 = map("double_in_2_processes", double).processes(2);
}

// ======================================================================================
// Fixtures for the process-mode regression tests (issue #8, "process mode that holds under
// real load": tests/process_*.rs, tests/outputs_untaken.rs). Nothing below is product code.
//
// | name | kind | types | what |
// |---|---|---|---|
// | `sleep_then_pid` | map | `(u64, u64) -> (u64, u64)` | `(id, ms)`: sleeps `ms`, returns `(id, pid)` |
// | `stall_on_tag` | stateful | `Vec<u8> -> u64` | param `(k, ms)`: sleeps `ms` when the tag is `k`; [`checksum`] |
// | `spawn_sleeper` | map | `u64 -> u64` | spawns `sleep <secs>` (not waited), returns its pid |
// | `open_parent_memfds` | map | `u64 -> u64` | how many of the parent's memfds it could open read-write |
// | `hostile_identity` | map | `Hostile -> Hostile` | identity over a type whose serde impls panic on demand |
// ======================================================================================

fn sleep_then_pid((id, ms): (u64, u64)) -> (u64, u64) {
    if ms > 0 {
        std::thread::sleep(Duration::from_millis(ms));
    }
    (id, u64::from(std::process::id()))
}

/// The tag of a byte buffer: its first 8 bytes, little-endian (0 if shorter).
pub fn bytes_tag(bytes: &[u8]) -> u64 {
    bytes
        .get(..8)
        .map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
}

fn keep_pair(p: (u64, u64)) -> (u64, u64) {
    p
}

fn stall_on_tag(&mut (k, ms): &mut (u64, u64), bytes: Vec<u8>) -> u64 {
    if bytes_tag(&bytes) == k {
        std::thread::sleep(Duration::from_millis(ms));
    }
    checksum(&bytes)
}

// Not waited on purpose: the tests check that the worker's process group takes it along.
#[allow(clippy::zombie_processes)]
fn spawn_sleeper(secs: u64) -> u64 {
    let child = std::process::Command::new("sleep")
        .arg(secs.to_string())
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("spawn_sleeper: cannot run `sleep`");
    // Dropped without waiting: the child keeps running on its own.
    u64::from(child.id())
}

fn open_parent_memfds(_: u64) -> u64 {
    let parent = std::os::unix::process::parent_id();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{parent}/fd")) else {
        return 0;
    };
    let mut opened = 0;
    for entry in dir.flatten() {
        let is_memfd = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("/memfd:"));
        if is_memfd
            && std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(entry.path())
                .is_ok()
        {
            opened += 1;
        }
    }
    opened
}

/// Where the serde impls of a [`Hostile`] value panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostileFault {
    /// Never.
    None,
    /// When it is serialized (in the driver, encoding it as an input).
    Serialize,
    /// When it is deserialized (in the worker, decoding it as an input).
    Deserialize,
    /// [`HOSTILE_IDENTITY`] turns it into `Serialize`: the worker panics encoding the output.
    OutputSerialize,
    /// [`HOSTILE_IDENTITY`] turns it into `Deserialize`: the driver panics decoding the output.
    OutputDeserialize,
}

impl HostileFault {
    fn code(self) -> u8 {
        match self {
            HostileFault::None => 0,
            HostileFault::Serialize => 1,
            HostileFault::Deserialize => 2,
            HostileFault::OutputSerialize => 3,
            HostileFault::OutputDeserialize => 4,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => HostileFault::None,
            1 => HostileFault::Serialize,
            2 => HostileFault::Deserialize,
            3 => HostileFault::OutputSerialize,
            4 => HostileFault::OutputDeserialize,
            _ => return None,
        })
    }
}

/// A user type whose `Serialize` or `Deserialize` impl panics where its `fault` says; the
/// panic message starts with `hostile:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hostile {
    /// The payload.
    pub value: u64,
    /// Where its serde impls panic.
    pub fault: HostileFault,
}

impl serde::Serialize for Hostile {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.fault == HostileFault::Serialize {
            panic!("hostile: Serialize of value {} panics", self.value);
        }
        serde::Serialize::serialize(&(self.value, self.fault.code()), s)
    }
}

impl<'de> serde::Deserialize<'de> for Hostile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (value, code): (u64, u8) = serde::Deserialize::deserialize(d)?;
        let fault = HostileFault::from_code(code)
            .ok_or_else(|| serde::de::Error::custom(format!("bad hostile fault {code}")))?;
        if fault == HostileFault::Deserialize {
            panic!("hostile: Deserialize of value {value} panics");
        }
        Ok(Hostile { value, fault })
    }
}

fn hostile_identity(mut h: Hostile) -> Hostile {
    h.fault = match h.fault {
        HostileFault::OutputSerialize => HostileFault::Serialize,
        HostileFault::OutputDeserialize => HostileFault::Deserialize,
        other => other,
    };
    h
}

crate::task! {
    /// `(id, ms) -> (id, pid)`: sleeps `ms` milliseconds, returns the id and the pid that ran it.
    pub static SLEEP_THEN_PID: (u64, u64) => (u64, u64) = map("sleep_then_pid", sleep_then_pid);
    /// `Vec<u8> -> u64` with param `(k, ms)`: sleeps `ms` ms on the input whose [`bytes_tag`] is `k`; returns its [`checksum`].
    pub static STALL_ON_TAG: Vec<u8> => u64 = stateful("stall_on_tag", keep_pair, stall_on_tag);
    /// `secs -> pid`: spawns `sleep secs` without waiting for it and returns the child's pid.
    pub static SPAWN_SLEEPER: u64 => u64 = map("spawn_sleeper", spawn_sleeper);
    /// `_ -> n`: how many `/proc/<parent>/fd` entries pointing at a memfd it could open read-write.
    pub static OPEN_PARENT_MEMFDS: u64 => u64 = map("open_parent_memfds", open_parent_memfds);
    /// `Hostile -> Hostile`: identity, except that an `Output*` fault becomes the plain one (see [`HostileFault`]).
    pub static HOSTILE_IDENTITY: Hostile => Hostile = map("hostile_identity", hostile_identity);
}

// ======================================================================================
// Fixtures for the transport tests (skorche-worker/tests/process_*.rs: what a worker process
// inherits). Nothing below is product code.
//
// | name | kind | types | what |
// |---|---|---|---|
// | `fd_census` | map | `u64 -> (Vec<String>, u64)` | targets of the worker's open descriptors above 2, and how many distinct memfds it has mapped |
// ======================================================================================

fn fd_census(_: u64) -> (Vec<String>, u64) {
    let mut targets = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        for entry in dir.flatten() {
            let fd: i32 = entry.file_name().to_string_lossy().parse().unwrap_or(-1);
            if fd <= 2 {
                continue;
            }
            if let Ok(target) = std::fs::read_link(entry.path()) {
                let target = target.to_string_lossy().into_owned();
                // The directory being listed is open too while it is read.
                if !target.starts_with("/proc/") {
                    targets.push(target);
                }
            }
        }
    }
    targets.sort();
    let mut inodes: Vec<&str> = Vec::new();
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    for line in maps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() >= 6 && fields[5].starts_with("/memfd:") && !inodes.contains(&fields[4]) {
            inodes.push(fields[4]);
        }
    }
    (targets, inodes.len() as u64)
}

crate::task! {
    /// `_ -> (targets, n)`: the targets of the worker's open descriptors above 2 (sorted) and
    /// the number of distinct memfds it has mapped.
    pub static FD_CENSUS: u64 => (Vec<String>, u64) = map("fd_census", fd_census);
}

// ======================================================================================
// Fixtures of the process-mode failure-policy tests (tests/process_failures.rs).

fn no_failures_yet(_: ()) -> std::collections::HashMap<u64, u32> {
    std::collections::HashMap::new()
}

fn flaky_twice(seen: &mut std::collections::HashMap<u64, u32>, x: u64) -> Result<u64, String> {
    let n = seen.entry(x).or_insert(0);
    *n += 1;
    if *n <= 2 {
        Err(format!("flaky_twice: attempt {n} on item {x} fails"))
    } else {
        Ok(x)
    }
}

crate::task! {
    /// `u64 -> u64`: fails the first two attempts on each item in this worker, then passes it on.
    pub static FLAKY_TWICE: u64 => u64 = try_stateful("flaky_twice", no_failures_yet, flaky_twice);
}

fn abort_on_tag(k: &mut u64, bytes: Vec<u8>) -> u64 {
    if bytes_tag(&bytes) == *k {
        std::process::abort();
    }
    bytes_tag(&bytes)
}

crate::task! {
    /// `Vec<u8> -> u64` with param `k`: aborts the process on the input whose [`bytes_tag`] is `k`; returns the tag.
    pub static ABORT_ON_TAG: Vec<u8> => u64 = stateful("abort_on_tag", keep, abort_on_tag);
}
