//! The 3-stage identity pipeline in thread mode beside hand-written crossbeam pipelines
//! and parallel iterators (the cases of `examples/bench_thread.rs`, at 100,000 u64).
//! `cargo bench --bench thread_pipeline`; the example prints the full-size table.

#[path = "shared/thread_cases.rs"]
mod thread_cases;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const N: u64 = 100_000;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("identity_3_stages_100k_u64");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    let expected = thread_cases::expected(N);
    for case in thread_cases::all() {
        println!("{}: {}", case.id, case.name);
        g.bench_function(case.id, |b| {
            b.iter(|| assert_eq!(black_box((case.run)(black_box(N))), expected))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
