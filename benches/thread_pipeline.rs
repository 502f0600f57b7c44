//! A 3-stage identity pipeline over 1,000,000 u64: skorche against a hand-written
//! crossbeam-channel pipeline with the same shape (source thread, three identity stage
//! threads, the consumer on the calling thread, bounded(64) queues: 4 hops per item).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use crossbeam_channel::bounded;
use skorche::core::Pipeline;

const N: u64 = 1_000_000;
const HOPS: u64 = 4;

fn skorche_identity() -> u64 {
    let p = Pipeline::new();
    let q = p
        .source(0..N)
        .map(|x: u64| x)
        .map(|x: u64| x)
        .map(|x: u64| x);
    let mut sum = 0u64;
    for v in p.run_iter(q).expect("start") {
        sum = sum.wrapping_add(v.expect("identity cannot fail"));
    }
    sum
}

fn crossbeam_identity() -> u64 {
    let (tx0, rx0) = bounded::<u64>(64);
    let mut threads = Vec::new();
    threads.push(std::thread::spawn(move || {
        for i in 0..N {
            tx0.send(i).unwrap();
        }
    }));
    let mut rx = rx0;
    for _ in 0..3 {
        let (tx, next) = bounded::<u64>(64);
        let input = rx;
        threads.push(std::thread::spawn(move || {
            for v in input.iter() {
                tx.send(black_box(v)).unwrap();
            }
        }));
        rx = next;
    }
    let mut sum = 0u64;
    for v in rx.iter() {
        sum = sum.wrapping_add(v);
    }
    for t in threads {
        t.join().unwrap();
    }
    sum
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("identity_3_stages_1M_u64");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("skorche", |b| b.iter(|| black_box(skorche_identity())));
    g.bench_function("crossbeam_baseline", |b| {
        b.iter(|| black_box(crossbeam_identity()))
    });
    g.finish();
}

criterion_group!(benches, bench);

fn best_of(runs: usize, f: fn() -> u64) -> Duration {
    let expected = (0..N).fold(0u64, u64::wrapping_add);
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            assert_eq!(f(), expected);
            t.elapsed()
        })
        .min()
        .expect("at least one run")
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();

    let s = best_of(5, skorche_identity);
    let b = best_of(5, crossbeam_identity);
    let rate = |d: Duration| N as f64 / d.as_secs_f64();
    let per_hop = |d: Duration| d.as_nanos() as f64 / (N * HOPS) as f64;
    println!();
    println!("3-stage identity pipeline, {N} u64, {HOPS} hops/item, best of 5 runs");
    println!(
        "{:<28} {:>14}",
        "items/s skorche",
        format!("{:.0}", rate(s))
    );
    println!(
        "{:<28} {:>14}",
        "items/s crossbeam baseline",
        format!("{:.0}", rate(b))
    );
    println!(
        "{:<28} {:>14}",
        "ratio skorche/baseline",
        format!("{:.2}", rate(s) / rate(b))
    );
    println!(
        "{:<28} {:>14}",
        "ns per hop skorche",
        format!("{:.1}", per_hop(s))
    );
    println!(
        "{:<28} {:>14}",
        "ns per hop baseline",
        format!("{:.1}", per_hop(b))
    );
    println!(
        "{:<28} {:>14}",
        "skorche overhead ns/hop",
        format!("{:.1}", per_hop(s) - per_hop(b))
    );
}
