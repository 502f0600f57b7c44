//! A registered task's declared version (`task!`'s `.version(..)`): part of a cached
//! stage's identity, combined with the stage's own version, and checked at the worker
//! handshake.
//!
//! One binary declares each task once, so the other version of the same task lives in
//! another binary: `skorche-test-worker` declares `test_versioned_square` with version "1"
//! (`src/bin/skorche-test-worker/versioned.rs`), this file with version "2" and other code.
//! Both share a store as two releases of one program would.

#[path = "support/cache.rs"]
mod cache_support;
#[path = "support/process.rs"]
mod process_support;
mod support;

use std::path::Path;
use std::process::Command;

use cache_support::StoreDir;
use process_support::TEST_WORKER;
use skorche::cache::Store;
use skorche::{FailureKind, Pipeline};

/// This binary's code of the task: version "2" adds 1 to what version "1" returned.
fn square_plus_one(n: u64) -> u64 {
    n * n + 1
}

fn cube(n: u64) -> u64 {
    n * n * n
}

skorche::task! {
    static VERSIONED_SQUARE: u64 => u64 = map("test_versioned_square", square_plus_one).version("2");
    // Declared in `skorche-test-worker` too, with the same version.
    static VERSIONED_CUBE: u64 => u64 = map("test_versioned_cube", cube).version("1");
}

const STAGE: &str = "test_versioned_square";
const V1: [u64; 5] = [0, 1, 4, 9, 16];
const V2: [u64; 5] = [1, 2, 5, 10, 17];

/// The sorted outputs of `0..5` through the cached task, with the stage's hits and misses.
fn run_here(dir: &Path, stage_version: Option<&str>) -> (Vec<u64>, u64, u64) {
    let p = Pipeline::new();
    p.cache_dir(dir);
    let mut cached = p.source(0..5u64).cached();
    if let Some(v) = stage_version {
        cached = cached.version(v);
    }
    let q = cached.map_task(&VERSIONED_SQUARE);
    let (mut out, report) = p.run_iter(q).unwrap().collect_report().unwrap();
    out.sort_unstable();
    let cache = &report.stage(STAGE).unwrap().cache;
    (out, cache.hits, cache.misses)
}

/// The same pipeline run by `skorche-test-worker`, whose task is version "1".
fn run_in_other_binary(dir: &Path) -> String {
    let out = Command::new(TEST_WORKER)
        .args(["drive-cached".as_ref(), dir.as_os_str()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success(),
        "drive-cached failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn a_versioned_task_hits_on_a_second_run() {
    support::watchdog(|| {
        let dir = StoreDir::new("task-version-second-run");
        assert_eq!(run_here(dir.path(), None), (V2.to_vec(), 0, 5));
        assert_eq!(run_here(dir.path(), None), (V2.to_vec(), 5, 0));
    });
}

#[test]
fn another_version_of_the_task_neither_reads_nor_replaces_these_results() {
    support::watchdog(|| {
        let dir = StoreDir::new("task-version-two-binaries");
        assert_eq!(run_here(dir.path(), None), (V2.to_vec(), 0, 5));
        // Same name, types and inputs; version "1": every item misses and runs v1's code.
        assert_eq!(
            run_in_other_binary(dir.path()),
            format!("outputs {V1:?} hits 0 misses 5")
        );
        // Each version reads back its own results.
        assert_eq!(run_here(dir.path(), None), (V2.to_vec(), 5, 0));
        assert_eq!(
            run_in_other_binary(dir.path()),
            format!("outputs {V1:?} hits 5 misses 0")
        );
        assert_eq!(
            Store::open(dir.path()).unwrap().stats().unwrap().entries,
            10
        );
    });
}

#[test]
fn the_stage_version_is_combined_with_the_task_version() {
    support::watchdog(|| {
        let dir = StoreDir::new("task-version-combined");
        assert_eq!(run_here(dir.path(), Some("a")), (V2.to_vec(), 0, 5));
        assert_eq!(run_here(dir.path(), Some("a")), (V2.to_vec(), 5, 0));
        // Bumping the stage's version misses although the task's did not change.
        assert_eq!(run_here(dir.path(), Some("b")), (V2.to_vec(), 0, 5));
        assert_eq!(run_here(dir.path(), None), (V2.to_vec(), 0, 5));
        assert_eq!(run_here(dir.path(), Some("a")), (V2.to_vec(), 5, 0));
    });
}

#[test]
fn a_worker_whose_binary_declares_another_version_is_refused_at_handshake() {
    support::watchdog(|| {
        let p = Pipeline::new();
        let q = p
            .source(0..10u64)
            .map_task(&VERSIONED_SQUARE)
            .processes(2)
            .worker_program(TEST_WORKER)
            .name("versioned_workers");
        let err = match p.run_iter(q).and_then(|o| o.collect::<Result<Vec<_>, _>>()) {
            Ok(items) => panic!("ran {} items in workers of another version", items.len()),
            Err(e) => e,
        };
        let failure = err
            .failures()
            .iter()
            .find(|f| f.stage == "versioned_workers")
            .unwrap_or_else(|| panic!("no failure names the stage: {err:?}"));
        assert_eq!(failure.kind, FailureKind::Handshake, "{err}");
        assert!(
            err.to_string()
                .contains(r#"version "2" here but "1" in the worker"#),
            "{err}"
        );
    });
}

#[test]
fn a_worker_whose_binary_declares_the_same_version_is_accepted() {
    support::watchdog(|| {
        let p = Pipeline::new();
        let q = p
            .source(0..10u64)
            .map_task(&VERSIONED_CUBE)
            .processes(2)
            .worker_program(TEST_WORKER)
            .name("versioned_workers_agree");
        let mut out: Vec<u64> = p.run_iter(q).unwrap().map(Result::unwrap).collect();
        out.sort_unstable();
        assert_eq!(out, (0..10).map(cube).collect::<Vec<_>>());
    });
}
