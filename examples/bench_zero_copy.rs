//! Large payloads from 2 worker processes to the driver, copied and zero-copy, against a
//! single-threaded alloc + memcpy baseline of the same run: one markdown table.
//!
//! ```text
//! cargo run --release --example bench_zero_copy [values] [MiB] [row filter]
//! ```
//!
//! A filter (any word that is not a number) keeps the baseline and the rows whose name
//! contains it, e.g. `ShmBytes` for a profile of the zero-copy row alone.
//!
//! The same work in every row: `values` (default 200) values of `MiB` (default 8) made by a
//! memset (every byte written once) in 2 worker processes, and read by the driver as it pulls
//! them from `run_iter`. "Read" is measured two ways, each its own column:
//!
//! * **touch**: the driver reads the first and last 8 bytes of each value and one byte of
//!   every 4 KiB page (so every page of the value is mapped and read in the driver);
//! * **checksum**: the driver computes `builtin::checksum` over every byte.
//!
//! Rows:
//!
//! * *alloc + memcpy (baseline)*: one thread allocates each value and copies a prepared
//!   buffer into it, then reads it like the driver does;
//! * *process inline*: `builtin::MEMSET_BYTES` with `shm_threshold(usize::MAX)`: the bytes
//!   travel in the messages;
//! * *process shm, owned `Vec`*: `MEMSET_BYTES` through the ring; the driver decodes a
//!   `Vec<u8>` (a copy out of the ring);
//! * *shm filled in place, owned `Vec`*: `builtin::MEMSET_IN_PLACE` (the worker writes into its
//!   ring), still decoded as a `Vec<u8>`;
//! * *zero-copy `ShmBytes`*: `MEMSET_IN_PLACE` read with `map_task_as::<_, ShmBytes>`: no
//!   copy anywhere, the driver reads the worker's ring;
//! * *typed `f32` in place*: `builtin::FILL_F32_IN_PLACE` read as `ShmSlice<f32>`.
//!
//! Each rate is bytes made / wall time from the start of the run (workers spawned, handshake
//! included) to the last value read; each row is the best of 3 runs (the machine is shared).
//! The target: zero-copy ≥ 10 GB/s.
//!
//! The program is its own worker: `skorche::worker::enter()` runs first in `main`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use skorche::worker::builtin::{self, checksum};
use skorche::{Pipeline, ShmBytes, ShmSlice};

const RUNS: usize = 3;
const TARGET_GBPS: f64 = 10.0;
const BYTE: u8 = 0x5A;

#[derive(Clone, Copy, PartialEq)]
enum Read {
    Touch,
    Checksum,
}

/// What the driver does with each value; returns something that depends on every byte read.
fn read(bytes: &[u8], how: Read) -> u64 {
    match how {
        Read::Checksum => checksum(bytes),
        Read::Touch => {
            let n = bytes.len();
            let mut acc = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
            acc ^= u64::from_le_bytes(bytes[n - 8..].try_into().expect("8 bytes"));
            for page in bytes.iter().step_by(4096) {
                acc = acc.wrapping_add(u64::from(*page));
            }
            acc
        }
    }
}

#[derive(Clone, Copy)]
enum Row {
    Baseline,
    Inline,
    ShmOwned,
    InPlaceOwned,
    ZeroCopy,
    TypedF32,
}

impl Row {
    fn name(self) -> &'static str {
        match self {
            Row::Baseline => "alloc + memcpy, 1 thread (baseline)",
            Row::Inline => "process inline (`MEMSET_BYTES`, shm off)",
            Row::ShmOwned => "process shm, owned `Vec` (`MEMSET_BYTES`)",
            Row::InPlaceOwned => "shm filled in place, owned `Vec` (`MEMSET_IN_PLACE`)",
            Row::ZeroCopy => "zero-copy read, `ShmBytes` (`MEMSET_IN_PLACE`)",
            Row::TypedF32 => "typed `f32` in place, `ShmSlice<f32>` (`FILL_F32_IN_PLACE`)",
        }
    }
}

struct Setup {
    values: u64,
    len: u64,
}

/// One run of a row; returns the elapsed time after checking every value.
fn run(row: Row, how: Read, s: &Setup) -> Duration {
    let start = Instant::now();
    let mut acc = 0u64;
    let check = |bytes: &[u8]| {
        assert_eq!(bytes.len() as u64, s.len);
        assert_eq!(bytes[0], BYTE);
    };
    let p = Pipeline::new();
    let len = s.len;
    let inputs = || p.source((0..s.values).map(move |_| (BYTE, len)));
    let mut count = 0u64;
    match row {
        Row::Baseline => {
            let source = vec![BYTE; s.len as usize];
            for _ in 0..s.values {
                let mut v = Vec::<u8>::with_capacity(s.len as usize);
                v.extend_from_slice(&source);
                check(&v);
                acc ^= read(black_box(&v), how);
                count += 1;
            }
        }
        Row::Inline | Row::ShmOwned | Row::InPlaceOwned => {
            let task = match row {
                Row::InPlaceOwned => &builtin::MEMSET_IN_PLACE,
                _ => &builtin::MEMSET_BYTES,
            };
            let mut q = inputs().map_task(task).processes(2);
            if let Row::Inline = row {
                q = q.shm_threshold(usize::MAX);
            }
            for v in p.run_iter(q).expect("start") {
                let v: Vec<u8> = v.expect("value");
                check(&v);
                acc ^= read(&v, how);
                count += 1;
            }
        }
        Row::ZeroCopy => {
            let q = inputs()
                .map_task_as::<_, ShmBytes>(&builtin::MEMSET_IN_PLACE)
                .processes(2);
            for v in p.run_iter(q).expect("start") {
                let v = v.expect("value");
                assert!(v.in_ring());
                check(&v);
                acc ^= read(&v, how);
                count += 1;
            }
        }
        Row::TypedF32 => {
            let bits = f32::from_le_bytes([BYTE; 4]).to_bits();
            let n = s.len / 4;
            let q = p
                .source((0..s.values).map(move |_| (bits, n)))
                .map_task_as::<_, ShmSlice<f32>>(&builtin::FILL_F32_IN_PLACE)
                .processes(2);
            for v in p.run_iter(q).expect("start") {
                let v = v.expect("value");
                assert!(v.in_ring());
                check(v.as_bytes());
                acc ^= read(v.as_bytes(), how);
                count += 1;
            }
        }
    }
    black_box(acc);
    assert_eq!(count, s.values);
    start.elapsed()
}

fn gbps(s: &Setup, t: Duration) -> f64 {
    (s.values * s.len) as f64 / t.as_secs_f64() / 1e9
}

fn main() {
    skorche::worker::enter();
    let words: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<u64> = words.iter().filter_map(|a| a.parse().ok()).collect();
    let filter = words.iter().find(|a| a.parse::<u64>().is_err());
    let s = Setup {
        values: args.first().copied().unwrap_or(200),
        len: args.get(1).copied().unwrap_or(8) << 20,
    };
    let best = |row, how| {
        (0..RUNS)
            .map(|_| run(row, how, &s))
            .min()
            .expect("RUNS > 0")
    };
    let rows = [
        Row::Baseline,
        Row::Inline,
        Row::ShmOwned,
        Row::InPlaceOwned,
        Row::ZeroCopy,
        Row::TypedF32,
    ];
    let rows: Vec<Row> = rows
        .into_iter()
        .filter(|r| {
            matches!(r, Row::Baseline) || filter.is_none_or(|f| r.name().contains(f.as_str()))
        })
        .collect();
    let times: Vec<(Duration, Duration)> = rows
        .iter()
        .map(|&row| (best(row, Read::Touch), best(row, Read::Checksum)))
        .collect();
    let (base_touch, base_sum) = (gbps(&s, times[0].0), gbps(&s, times[0].1));
    println!(
        "{} values × {} MiB made by a memset in 2 worker processes, read by the driver; best of {RUNS} runs, wall time from the run's start",
        s.values,
        s.len >> 20
    );
    println!();
    println!("| path | touch: GB/s | touch: × baseline | full checksum: GB/s | full checksum: × baseline |");
    println!("|---|---|---|---|---|");
    for (row, (touch, sum)) in rows.iter().zip(&times) {
        let (t, c) = (gbps(&s, *touch), gbps(&s, *sum));
        println!(
            "| {} | {t:.1} | {:.2}× | {c:.1} | {:.2}× |",
            row.name(),
            t / base_touch,
            c / base_sum
        );
    }
    let zero = rows
        .iter()
        .zip(&times)
        .find(|(r, _)| matches!(r, Row::ZeroCopy))
        .map_or(0.0, |(_, t)| gbps(&s, t.0));
    println!();
    println!(
        "touch = first and last 8 bytes plus one byte per 4 KiB page of each value; target: zero-copy ≥ {TARGET_GBPS} GB/s (touch): {}",
        if zero >= TARGET_GBPS { "met" } else { "NOT met" }
    );
}
