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
    for _ in 0..runs {
        for (case, best) in cases.iter().zip(&mut best) {
            let t = Instant::now();
            let sum = (case.run)(n);
            let took = t.elapsed();
            assert_eq!(sum, expected, "{} lost or changed items", case.name);
            *best = (*best).min(took);
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
    println!("| pipeline | items/s | ns per item | vs per-item crossbeam |");
    println!("|---|---|---|---|");
    for (case, d) in cases.iter().zip(&best) {
        let ratio = baseline.map_or("-".into(), |b| format!("{:.2}x", rate(*d) / b));
        println!(
            "| {} | {:.2} M | {:.1} | {ratio} |",
            case.name,
            rate(*d) / 1e6,
            d.as_nanos() as f64 / n as f64,
        );
    }
}
