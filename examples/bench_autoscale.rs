//! Autoscaling against an even split, in one run: two stages whose items wait rather than
//! compute (1 ms and 8 ms of sleep), first fixed at 5 + 5 workers, then both given `1..=9`
//! within a budget of 10 workers; once on threads, once in worker processes
//! (`builtin::SLEEP_THEN_PID`, with a thread stage between them setting the second sleep).
//! Prints the throughput of each, the ratio (the issue asks >= 1.5x), the final split, the
//! most worker processes alive at once (a process stage starts only its target, and
//! stopping a worker ends its process) and the autoscaler's steps. The driver is its own
//! worker program (`skorche::worker::enter()` first in `main`).
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

/// Child processes of this one now (from `/proc/self/task/*/children`, Linux).
fn children() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .map(|c| c.split_whitespace().count())
        .sum()
}

/// The same in worker processes; also the most worker processes alive at once.
fn run_processes(
    items: u64,
    fetch: impl WorkerCount,
    process: impl WorkerCount,
    period: Duration,
) -> Result<((f64, Report), usize), Box<dyn std::error::Error>> {
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
    let done = std::sync::atomic::AtomicBool::new(false);
    let (result, peak) = std::thread::scope(|s| {
        let peak = s.spawn(|| {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(children());
                std::thread::sleep(Duration::from_millis(10));
            }
            peak
        });
        let result = p.run_iter(out).and_then(|r| r.collect_report());
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        (result, peak.join().unwrap_or(0))
    });
    let (done, report) = result?;
    let rate = done.len() as f64 / start.elapsed().as_secs_f64();
    assert_eq!(done.len() as u64, items);
    Ok(((rate, report), peak))
}

fn table(mode: &str, (fixed, _): (f64, Report), (auto, report): (f64, Report), peaks: [&str; 2]) {
    let split = |s| report.final_workers(s).unwrap_or(0);
    println!(
        "| {mode} | fixed 5 + 5 | {fixed:.0} | 1.00x | {} |",
        peaks[0]
    );
    println!(
        "| {mode} | autoscaled 1..=9 each, ended at {} + {} | {auto:.0} | {:.2}x | {} |",
        split("fetch"),
        split("process"),
        auto / fixed,
        peaks[1]
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    skorche::worker::enter();
    let mut args = std::env::args().skip(1);
    let items: u64 = args.next().map_or(8000, |a| a.parse().expect("ITEMS"));
    let period = Duration::from_millis(args.next().map_or(250, |a| a.parse().expect("MS")));
    let threads = (run(items, 5, 5, period)?, run(items, 1..=9, 1..=9, period)?);
    let (fixed, fixed_peak) = run_processes(items, 5, 5, period)?;
    let (auto, auto_peak) = run_processes(items, 1..=9, 1..=9, period)?;
    let processes = (fixed, auto);
    println!(
        "{items} items, 1 ms then 8 ms of sleep per item, budget 10 workers, period {period:?}"
    );
    println!();
    println!("| mode | workers (fetch + process) | items/s | vs 5 + 5 | most processes alive |");
    println!("|---|---|---|---|---|");
    let steps = [threads.1 .1.scaling.clone(), processes.1 .1.scaling.clone()];
    table("threads", threads.0, threads.1, ["-", "-"]);
    let peaks = [fixed_peak.to_string(), auto_peak.to_string()];
    table(
        "processes",
        processes.0,
        processes.1,
        [peaks[0].as_str(), peaks[1].as_str()],
    );
    for (mode, steps) in ["threads", "processes"].iter().zip(steps) {
        println!();
        println!("steps ({mode}):");
        for e in steps {
            println!("  {e}");
        }
    }
    Ok(())
}
