//! Autoscaling against an even split, in one run: two stages whose items wait rather than
//! compute (1 ms and 8 ms of sleep), first fixed at 5 + 5 workers, then both given `1..=9`
//! within a budget of 10 workers; once on threads, once in worker processes
//! (`builtin::SLEEP_THEN_PID`, with a thread stage between them setting the second sleep).
//! Prints the throughput of each, the ratio (the issue asks >= 1.5x), the final split and
//! the autoscaler's steps. The driver is its own worker program
//! (`skorche::worker::enter()` first in `main`).
//!
//! `cargo run --release --example bench_autoscale [-- ITEMS [PERIOD_MS]]` (defaults 8000
//! items, a 250 ms period).

use std::time::{Duration, Instant};

use skorche::core::{Pipeline, Report, WorkerCount};
use skorche::worker::builtin;

fn sleep_ms(ms: u64) -> impl Fn(u64) -> u64 + Send + Sync + Clone + 'static {
    move |n| {
        std::thread::sleep(Duration::from_millis(ms));
        n
    }
}

/// Runs `items` through a 1 ms and an 8 ms stage; returns items/s and the report.
fn run(
    items: u64,
    fetch: impl WorkerCount,
    process: impl WorkerCount,
    period: Duration,
) -> Result<(f64, Report), Box<dyn std::error::Error>> {
    let p = Pipeline::new();
    p.worker_budget(10).autoscale_period(period);
    let out = p
        .source(0..items)
        .map(sleep_ms(1))
        .name("fetch")
        .workers(fetch)
        .map(sleep_ms(8))
        .name("process")
        .workers(process);
    let start = Instant::now();
    let (done, report) = p.run_iter(out)?.collect_report()?;
    let rate = done.len() as f64 / start.elapsed().as_secs_f64();
    assert_eq!(done.len() as u64, items);
    Ok((rate, report))
}

/// The same in worker processes.
fn run_processes(
    items: u64,
    fetch: impl WorkerCount,
    process: impl WorkerCount,
    period: Duration,
) -> Result<(f64, Report), Box<dyn std::error::Error>> {
    let p = Pipeline::new();
    p.worker_budget(10).autoscale_period(period);
    let out = p
        .source((0..items).map(|i| (i, 1)))
        .map_task(&builtin::SLEEP_THEN_PID)
        .processes(fetch)
        .name("fetch")
        .map(|(i, _pid)| (i, 8))
        .name("retag")
        .map_task(&builtin::SLEEP_THEN_PID)
        .processes(process)
        .name("process");
    let start = Instant::now();
    let (done, report) = p.run_iter(out)?.collect_report()?;
    let rate = done.len() as f64 / start.elapsed().as_secs_f64();
    assert_eq!(done.len() as u64, items);
    Ok((rate, report))
}

fn table(mode: &str, (fixed, _): (f64, Report), (auto, report): (f64, Report)) {
    let split = |s| report.final_workers(s).unwrap_or(0);
    println!("| {mode} | fixed 5 + 5 | {fixed:.0} | 1.00x |");
    println!(
        "| {mode} | autoscaled 1..=9 each, ended at {} + {} | {auto:.0} | {:.2}x |",
        split("fetch"),
        split("process"),
        auto / fixed
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    skorche::worker::enter();
    let mut args = std::env::args().skip(1);
    let items: u64 = args.next().map_or(8000, |a| a.parse().expect("ITEMS"));
    let period = Duration::from_millis(args.next().map_or(250, |a| a.parse().expect("MS")));
    let threads = (run(items, 5, 5, period)?, run(items, 1..=9, 1..=9, period)?);
    let processes = (
        run_processes(items, 5, 5, period)?,
        run_processes(items, 1..=9, 1..=9, period)?,
    );
    println!(
        "{items} items, 1 ms then 8 ms of sleep per item, budget 10 workers, period {period:?}"
    );
    println!();
    println!("| mode | workers (fetch + process) | items/s | vs 5 + 5 |");
    println!("|---|---|---|---|");
    let steps = [threads.1 .1.scaling.clone(), processes.1 .1.scaling.clone()];
    table("threads", threads.0, threads.1);
    table("processes", processes.0, processes.1);
    for (mode, steps) in ["threads", "processes"].iter().zip(steps) {
        println!();
        println!("steps ({mode}):");
        for e in steps {
            println!("  {e}");
        }
    }
    Ok(())
}
