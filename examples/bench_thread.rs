//! Thread mode against hand-written pipelines and parallel iterators, as one markdown
//! table: `cargo run --release --example bench_thread [-- N [RUNS [FILTER]]]` (defaults:
//! 1,000,000 u64, best of 5, every case; FILTER keeps the cases whose name contains it, for
//! profiling one). Every ratio is against the per-item crossbeam pipeline of the same run;
//! the runs of the cases alternate, so a change of load hits them all alike.

#[path = "../benches/shared/thread_cases.rs"]
mod thread_cases;

use std::time::{Duration, Instant};

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// CPU time of this process so far (every thread, finished ones too), from
/// `/proc/self/stat` (10 ms ticks): on a loaded machine the wall time says how fast a case
/// got through, the CPU time how much work it did.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at state, field 3.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11) // utime is field 14, stime field 15
        .take(2)
        .filter_map(|t| t.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().map_or(1_000_000, |a| a.parse().expect("N"));
    let runs: usize = args.next().map_or(5, |a| a.parse().expect("RUNS"));
    let filter = args.next().unwrap_or_default();
    let cases: Vec<_> = thread_cases::all()
        .into_iter()
        .filter(|c| c.name.contains(&filter))
        .collect();
    let has_baseline = filter.is_empty();
    let expected = thread_cases::expected(n);
    let load_before = load_average();
    let mut best = vec![Duration::MAX; cases.len()];
    let mut cpu = vec![Duration::ZERO; cases.len()];
    for _ in 0..runs {
        for (i, case) in cases.iter().enumerate() {
            let (t, c) = (Instant::now(), cpu_time());
            let sum = (case.run)(n);
            let took = t.elapsed();
            cpu[i] += cpu_time().saturating_sub(c);
            assert_eq!(sum, expected, "{} lost or changed items", case.name);
            best[i] = best[i].min(took);
        }
    }
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let baseline = has_baseline.then(|| rate(best[0]));
    println!("3-stage identity over {n} u64, best of {runs} runs per row");
    println!(
        "(load average {load_before} before, {} after)",
        load_average()
    );
    println!();
    println!("| pipeline | criterion id | items/s | ns per item | vs per-item crossbeam | CPU ns per item |");
    println!("|---|---|---|---|---|---|");
    for ((case, d), cpu) in cases.iter().zip(&best).zip(&cpu) {
        let ratio = baseline.map_or("-".into(), |b| format!("{:.2}x", rate(*d) / b));
        println!(
            "| {} | `{}` | {:.2} M | {:.1} | {ratio} | {:.0} |",
            case.name,
            case.id,
            rate(*d) / 1e6,
            d.as_nanos() as f64 / n as f64,
            cpu.as_nanos() as f64 / (n as f64 * runs as f64),
        );
    }
    // The analyzer's budget: metrics on must keep >= 0.97x the speed with them off.
    let best_of = |id: &str| cases.iter().position(|c| c.id == id).map(|i| best[i]);
    if let (Some(on), Some(off)) = (best_of("skorche"), best_of("skorche_metrics_off")) {
        println!();
        println!(
            "metrics on / off: {:.3}x the speed (target >= 0.97x)",
            rate(on) / rate(off)
        );
    }
}
