//! The result cache in a build without the `process` feature (no worker runtime linked):
//! run as `cargo test -p skorche-core --release --no-default-features --features cache`.
#![cfg(feature = "cache")]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use skorche_core::{Pipeline, PipelineError};

/// Runs a cached flat_map over 0..200 and returns the sorted outputs, the task's calls and
/// the stage's cache counts.
fn run(dir: &std::path::Path) -> Result<(Vec<String>, u64, u64, u64), PipelineError> {
    let calls = Arc::new(AtomicU64::new(0));
    let counter = calls.clone();
    let p = Pipeline::new();
    p.cache_dir(dir);
    let words = p
        .source(0..200u32)
        .cached()
        .version("1")
        .flat_map(move |n| {
            counter.fetch_add(1, Ordering::Relaxed);
            (0..n % 3).map(move |i| format!("{n}.{i}"))
        })
        .workers(2)
        .name("spell");
    let (mut out, report) = p.run_iter(words)?.collect_report()?;
    out.sort();
    let cache = report.stage("spell").expect("the stage is reported").cache;
    Ok((out, calls.load(Ordering::Relaxed), cache.hits, cache.misses))
}

#[test]
fn a_second_run_reads_every_result_from_the_store() -> Result<(), PipelineError> {
    let dir =
        std::env::temp_dir().join(format!("skorche-thread-only-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut expected: Vec<String> = (0..200u32)
        .flat_map(|n| (0..n % 3).map(move |i| format!("{n}.{i}")))
        .collect();
    expected.sort();

    let (first, calls, hits, misses) = run(&dir)?;
    assert_eq!(first, expected);
    assert_eq!((calls, hits, misses), (200, 0, 200));

    let (second, calls, hits, misses) = run(&dir)?;
    assert_eq!(second, expected);
    assert_eq!((calls, hits, misses), (0, 200, 0));
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
