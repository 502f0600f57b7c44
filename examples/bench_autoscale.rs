//! Autoscaling against an even split, in one run: two thread stages whose items wait rather
//! than compute (1 ms and 8 ms of sleep), first fixed at 5 + 5 workers, then both given
//! `1..=9` within a budget of 10 workers. Prints the throughput of each, the ratio (the
//! issue asks >= 1.5x), the final split and the autoscaler's steps:
//!
//! `cargo run --release --example bench_autoscale [-- ITEMS [PERIOD_MS]]` (defaults 8000
//! items, a 250 ms period).

use std::time::{Duration, Instant};

use skorche::core::{Pipeline, Report, WorkerCount};

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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let items: u64 = args.next().map_or(8000, |a| a.parse().expect("ITEMS"));
    let period = Duration::from_millis(args.next().map_or(250, |a| a.parse().expect("MS")));
    let (fixed, _) = run(items, 5, 5, period)?;
    let (auto, report) = run(items, 1..=9, 1..=9, period)?;
    let split = |s| report.final_workers(s).unwrap_or(0);
    println!(
        "{items} items, 1 ms then 8 ms of sleep per item, budget 10 workers, period {period:?}"
    );
    println!();
    println!("| workers (fetch + process) | items/s | vs 5 + 5 |");
    println!("|---|---|---|");
    println!("| fixed 5 + 5 | {fixed:.0} | 1.00x |");
    println!(
        "| autoscaled 1..=9 each, ended at {} + {} | {auto:.0} | {:.2}x |",
        split("fetch"),
        split("process"),
        auto / fixed
    );
    println!();
    println!("steps:");
    for e in &report.scaling {
        println!("  {e}");
    }
    Ok(())
}
