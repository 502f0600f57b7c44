//! Tasks of the multi-host tests and bench (`tests/remote_nats.rs`,
//! `examples/bench_remote.rs`), registered in the library so that the test binary (the
//! driver) and the worker binary `skorche-test-remote` link exactly the same registry: a
//! remote worker refuses a driver whose registry differs from its own.
//!
//! | name | kind | types | what |
//! |---|---|---|---|
//! | `remote_wait10_double` | map | `u64 -> u64` | sleeps [`BENCH_WAIT`], returns `2·n` |
//! | `remote_served_by` | stateful | `u64 -> (u64, u32)` | param `ms`: sleeps `ms`, returns `(n, pid)` |
//! | `remote_bytes_reverse` | map | `Vec<u8> -> Vec<u8>` | the bytes in reverse order |
//! | `remote_bytes_len` | map | `Vec<u8> -> u64` | the number of bytes |
//!
//! The tasks of [`skorche_worker::builtin`] (`fail_on`, `repeat_n`, `produce_bytes`,
//! `checksum_bytes` ...) are part of the same registry.
//!
//! ```
//! let served = skorche::fixtures::REMOTE_SERVED_BY.bind_with(&0u64).instantiate()?.call(7)?;
//! assert_eq!(served.into_vec(), vec![(7, std::process::id())]);
//! # Ok::<(), skorche::worker::protocol::TaskFailure>(())
//! ```

use std::time::Duration;

/// How long each item of `remote_wait10_double` waits: long enough that a worker's time
/// goes to waiting, not to the transport, so throughput measures how many hosts wait at once.
pub const BENCH_WAIT: Duration = Duration::from_millis(10);

fn wait_init(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn wait10_double(n: u64) -> u64 {
    std::thread::sleep(BENCH_WAIT);
    n * 2
}

fn served_by(wait: &mut Duration, n: u64) -> (u64, u32) {
    std::thread::sleep(*wait);
    (n, std::process::id())
}

fn bytes_reverse(mut bytes: Vec<u8>) -> Vec<u8> {
    bytes.reverse();
    bytes
}

fn bytes_len(bytes: Vec<u8>) -> u64 {
    bytes.len() as u64
}

skorche_worker::task! {
    /// Sleeps [`BENCH_WAIT`] per item, then doubles it.
    pub static REMOTE_WAIT10_DOUBLE: u64 => u64 = map("remote_wait10_double", wait10_double);
    /// Sleeps `ms` (the params) per item, then returns it with the id of the process that
    /// ran it, so a test can tell which host served which item.
    pub static REMOTE_SERVED_BY: u64 => (u64, u32) = stateful("remote_served_by", wait_init, served_by);
    /// Reverses the bytes (large in, large out).
    pub static REMOTE_BYTES_REVERSE: Vec<u8> => Vec<u8> = map("remote_bytes_reverse", bytes_reverse);
    /// The number of bytes (large in, small out).
    pub static REMOTE_BYTES_LEN: Vec<u8> => u64 = map("remote_bytes_len", bytes_len);
}

/// Every task registered in this program, one line each (name, kind, types, version),
/// sorted: the identities a remote worker compares with its driver's.
///
/// ```
/// let lines = skorche::fixtures::registry_lines();
/// assert!(lines.iter().any(|l| l.starts_with("\"remote_served_by\"")));
/// assert!(lines.windows(2).all(|w| w[0] <= w[1]));
/// ```
pub fn registry_lines() -> Vec<String> {
    let mut lines: Vec<String> = skorche_worker::registry::tasks()
        .map(|t| {
            let identity = skorche_worker::protocol::TaskIdentity {
                name: t.name().to_string(),
                kind: t.kind(),
                input_type: t.input_type().to_string(),
                output_type: t.output_type().to_string(),
                version: t.version().map(str::to_string),
            };
            identity.to_string()
        })
        .collect();
    lines.sort_unstable();
    lines
}
