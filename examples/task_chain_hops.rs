//! Three registered tasks (`double_u64`, `to_decimal`, `digits`) in worker processes, two
//! ways: three process stages (each item crosses to a worker and back three times, and is
//! encoded and decoded at each crossing), and one stage running the chain
//! `DOUBLE_U64.then(&TO_DECIMAL).then(&DIGITS)` (one crossing; the values between the steps
//! stay in the worker, never encoded). Prints items per second for each, best of `RUNS`.
//!
//! ```text
//! cargo run --release --example task_chain_hops
//! ```
//!
//! The program is its own worker: `main` calls `skorche::worker::enter()` first.

use std::time::{Duration, Instant};

use skorche::prelude::*;
use skorche::worker::builtin::{DIGITS, DOUBLE_U64, TO_DECIMAL};

/// Items per run.
const ITEMS: u64 = 200_000;
/// Runs of each layout; the fastest is printed (the machine may be shared).
const RUNS: usize = 3;

/// Three stages, one per task, each in one worker process.
fn three_stages() -> (u64, Duration) {
    let p = Pipeline::new();
    let out = p
        .source(0..ITEMS)
        .map_task(&DOUBLE_U64)
        .processes(1)
        .map_task(&TO_DECIMAL)
        .processes(1)
        .map_task(&DIGITS)
        .processes(1);
    timed(p, out)
}

/// One stage running the chain, in one worker process.
fn one_chain() -> (u64, Duration) {
    let p = Pipeline::new();
    let chain = DOUBLE_U64.then(&TO_DECIMAL).then(&DIGITS);
    let out = p.source(0..ITEMS).map_task(chain).processes(1);
    timed(p, out)
}

fn timed<K>(p: Pipeline, out: Queue<u64, K>) -> (u64, Duration) {
    let t0 = Instant::now();
    let sum = p
        .run_iter(out)
        .expect("the pipeline starts")
        .map(|r| r.expect("every item succeeds"))
        .sum();
    (sum, t0.elapsed())
}

fn best(layout: fn() -> (u64, Duration)) -> (u64, Duration) {
    (0..RUNS)
        .map(|_| layout())
        .min_by_key(|&(_, d)| d)
        .expect("at least one run")
}

fn main() {
    skorche::worker::enter();
    let expected: u64 = (0..ITEMS).map(|x| (x * 2).to_string().len() as u64).sum();
    for (name, layout) in [
        ("3 process stages", three_stages as fn() -> (u64, Duration)),
        ("1 chain stage", one_chain),
    ] {
        let (sum, took) = best(layout);
        assert_eq!(sum, expected, "{name}");
        println!(
            "{name:<18} {ITEMS} items in {:>7.1} ms: {:>10.0} items/s",
            took.as_secs_f64() * 1e3,
            ITEMS as f64 / took.as_secs_f64()
        );
    }
}
