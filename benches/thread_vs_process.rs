//! Criterion version of `examples/bench_thread_vs_process.rs`, smaller (sample size 10):
//!
//! ```text
//! cargo bench --bench thread_vs_process
//! ```
//!
//! * `identity_100k`: 100,000 `u64` items through `builtin::IDENTITY_U64`, thread mode vs
//!   one worker process (plus a plain closure `map` as the raw baseline);
//! * `payloads_20x8MiB`: 20 payloads of 8 MiB produced in the stage
//!   (`builtin::PRODUCE_BYTES_IN_PLACE`) and checksummed by the driver: thread mode, process
//!   via shm, process inline (shm off), and a single-threaded produce + checksum loop.
//!
//! The bench binary is its own worker program: `skorche::worker::enter()` runs first in
//! `main`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use skorche::worker::builtin::{self, checksum, produce_bytes};
use skorche::Pipeline;

const ITEMS: u64 = 100_000;
const PAYLOADS: u64 = 20;
const PAYLOAD_LEN: u64 = 8 << 20;

fn identity(processes: Option<usize>, closure: bool) -> u64 {
    let p = Pipeline::new();
    let src = p.source(0..ITEMS);
    // Only the registered task can be given processes: a closure stage has no such setting.
    let q = match (closure, processes) {
        (true, _) => src.map(|x: u64| x),
        (false, Some(n)) => src.map_task(&builtin::IDENTITY_U64).processes(n).into_any(),
        (false, None) => src.map_task(&builtin::IDENTITY_U64).into_any(),
    };
    p.run_iter(q)
        .expect("start")
        .map(|r| r.expect("item"))
        .fold(0u64, u64::wrapping_add)
}

fn payloads(processes: Option<usize>, shm: bool) -> u64 {
    let p = Pipeline::new();
    let q = p
        .source((0..PAYLOADS).map(|seed| (seed, PAYLOAD_LEN)))
        .map_task(&builtin::PRODUCE_BYTES_IN_PLACE)
        .capacity(4);
    let q = match processes {
        // One payload per message: a batch's outputs must fit the 64 MiB output ring.
        Some(n) => q.processes(n).process_batching(1, 4),
        None => q,
    };
    let q = if shm { q } else { q.shm_threshold(usize::MAX) };
    p.run_iter(q)
        .expect("start")
        .map(|r| checksum(&r.expect("payload")))
        .fold(0u64, u64::wrapping_add)
}

fn baseline() -> u64 {
    (0..PAYLOADS)
        .map(|seed| checksum(&produce_bytes((seed, PAYLOAD_LEN))))
        .fold(0u64, u64::wrapping_add)
}

fn bench_identity(c: &mut Criterion) {
    let expected = ITEMS * (ITEMS - 1) / 2;
    let mut g = c.benchmark_group("identity_100k");
    g.throughput(Throughput::Elements(ITEMS));
    for (name, processes, closure) in [
        ("thread_closure", None, true),
        ("thread_task", None, false),
        ("process_1", Some(1), false),
    ] {
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| assert_eq!(black_box(identity(processes, closure)), expected))
        });
    }
    g.finish();
}

fn bench_payloads(c: &mut Criterion) {
    let expected = baseline();
    let mut g = c.benchmark_group("payloads_20x8MiB");
    g.throughput(Throughput::Bytes(PAYLOADS * PAYLOAD_LEN));
    g.bench_function(BenchmarkId::from_parameter("baseline_loop"), |b| {
        b.iter(|| assert_eq!(black_box(baseline()), expected))
    });
    for (name, processes, shm) in [
        ("thread", None, true),
        ("process_shm", Some(1), true),
        ("process_inline", Some(1), false),
    ] {
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| assert_eq!(black_box(payloads(processes, shm)), expected))
        });
    }
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
    targets = bench_identity, bench_payloads
}

fn main() {
    skorche::worker::enter();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
