//! What the result cache saves: a 3-stage pipeline whose stages each cost 100 ms per item,
//! run twice on the same store; the second run reads every result instead of computing it.
//!
//! ```text
//! cargo run --release --example bench_cache [items]
//! ```

use std::time::{Duration, Instant};

use skorche::{Pipeline, Report};

/// Each stage's cost per item.
const COST: Duration = Duration::from_millis(100);

fn stage(n: u64) -> u64 {
    std::thread::sleep(COST);
    n.wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
}

fn run(dir: &std::path::Path, items: u64) -> (Duration, Vec<u64>, Report) {
    let start = Instant::now();
    let p = Pipeline::new();
    p.cache_dir(dir);
    let a = p
        .source(0..items)
        .cached()
        .version("1")
        .map(stage)
        .name("a")
        .workers(2);
    let b = a.cached().version("1").map(stage).name("b").workers(2);
    let c = b.cached().version("1").map(stage).name("c").workers(2);
    let (mut out, report) = p.run_iter(c).unwrap().collect_report().unwrap();
    out.sort();
    (start.elapsed(), out, report)
}

fn main() {
    let items: u64 = std::env::args()
        .nth(1)
        .map_or(8, |s| s.parse().expect("items: a number"));
    let dir = std::env::temp_dir().join(format!("skorche-bench-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);

    let (first, out1, r1) = run(&dir, items);
    let (second, out2, r2) = run(&dir, items);
    assert_eq!(out1, out2, "the cached run gives the same outputs");
    let _ = std::fs::remove_dir_all(&dir);

    let hits = |r: &Report| r.stages.iter().map(|s| s.cache.hits).sum::<u64>();
    let misses = |r: &Report| r.stages.iter().map(|s| s.cache.misses).sum::<u64>();
    println!(
        "{items} items x 3 stages x {} ms per item, 2 workers per stage",
        COST.as_millis()
    );
    println!(
        "{:<12} {:>12} {:>8} {:>8}",
        "run", "wall ms", "hits", "misses"
    );
    println!(
        "{:<12} {:>12.1} {:>8} {:>8}",
        "first",
        first.as_secs_f64() * 1e3,
        hits(&r1),
        misses(&r1)
    );
    println!(
        "{:<12} {:>12.1} {:>8} {:>8}",
        "second",
        second.as_secs_f64() * 1e3,
        hits(&r2),
        misses(&r2)
    );
    println!(
        "second / first: {:.4} ({:.0}x faster)",
        second.as_secs_f64() / first.as_secs_f64(),
        first.as_secs_f64() / second.as_secs_f64()
    );
}
