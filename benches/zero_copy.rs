//! Criterion version of `examples/bench_zero_copy.rs`, smaller: 40 values of 2 MiB made by a
//! memset in 2 worker processes and read by the driver (one byte per 4 KiB page plus the
//! first and last 8 bytes of each value), against a single-threaded alloc + memcpy loop.
//!
//! ```text
//! cargo bench --bench zero_copy
//! ```
//!
//! The bench binary is its own worker program: `skorche::worker::enter()` runs first in
//! `main`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use skorche::worker::builtin;
use skorche::{Pipeline, ShmBytes};

const VALUES: u64 = 40;
const LEN: u64 = 2 << 20;
const BYTE: u8 = 0x5A;

/// Reads what the driver reads of each value: first and last 8 bytes, one byte per page.
fn touch(bytes: &[u8]) -> u64 {
    let n = bytes.len();
    let mut acc = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"))
        ^ u64::from_le_bytes(bytes[n - 8..].try_into().expect("8 bytes"));
    for page in bytes.iter().step_by(4096) {
        acc = acc.wrapping_add(u64::from(*page));
    }
    acc
}

fn baseline() -> u64 {
    let source = vec![BYTE; LEN as usize];
    (0..VALUES)
        .map(|_| {
            let mut v = Vec::with_capacity(LEN as usize);
            v.extend_from_slice(&source);
            touch(black_box(&v))
        })
        .fold(0, u64::wrapping_add)
}

fn owned(in_place: bool) -> u64 {
    let p = Pipeline::new();
    let task = if in_place {
        &builtin::MEMSET_IN_PLACE
    } else {
        &builtin::MEMSET_BYTES
    };
    let q = p
        .source((0..VALUES).map(|_| (BYTE, LEN)))
        .map_task(task)
        .processes(2);
    p.run_iter(q)
        .expect("start")
        .map(|v| touch(&v.expect("value")))
        .fold(0, u64::wrapping_add)
}

fn zero_copy() -> u64 {
    let p = Pipeline::new();
    let q = p
        .source((0..VALUES).map(|_| (BYTE, LEN)))
        .map_task_as::<_, ShmBytes>(&builtin::MEMSET_IN_PLACE)
        .processes(2);
    p.run_iter(q)
        .expect("start")
        .map(|v| touch(&v.expect("value")))
        .fold(0, u64::wrapping_add)
}

fn bench_zero_copy(c: &mut Criterion) {
    let expected = baseline();
    let mut g = c.benchmark_group("payloads_40x2MiB_2_workers");
    g.throughput(Throughput::Bytes(VALUES * LEN));
    g.bench_function(BenchmarkId::from_parameter("alloc_memcpy_baseline"), |b| {
        b.iter(|| assert_eq!(black_box(baseline()), expected))
    });
    g.bench_function(BenchmarkId::from_parameter("shm_owned_vec"), |b| {
        b.iter(|| assert_eq!(black_box(owned(false)), expected))
    });
    g.bench_function(
        BenchmarkId::from_parameter("filled_in_place_owned_vec"),
        |b| b.iter(|| assert_eq!(black_box(owned(true)), expected)),
    );
    g.bench_function(BenchmarkId::from_parameter("zero_copy_shm_bytes"), |b| {
        b.iter(|| assert_eq!(black_box(zero_copy()), expected))
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_zero_copy
}

fn main() {
    skorche::worker::enter();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
