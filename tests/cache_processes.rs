//! The cache store shared by real processes: two runs of one cached pipeline at once, and a
//! run killed with SIGKILL while it writes. The children are this test binary run again on
//! the ignored test `child_run` (with `--ignored --exact`), told what to do by environment.

#[path = "support/cache.rs"]
mod cache_support;
mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cache_support::StoreDir;
use skorche::cache::Store;
use skorche::{Pipeline, Report};

const DIR: &str = "SKORCHE_TEST_CACHE_DIR";
const ITEMS: &str = "SKORCHE_TEST_CACHE_ITEMS";
const PAUSE_MS: &str = "SKORCHE_TEST_CACHE_PAUSE_MS";

/// Bytes of each `render` result: above the store's inline limit, so results are object
/// files written to a temporary name and renamed.
const LARGE: usize = 100 * 1024;

/// `render` (a large, deterministic buffer per item) then `digest` (a small summary), both
/// cached; returns the sum of the digests and the report.
fn pipeline(dir: &Path, items: u64, pause: Duration) -> (u64, Report) {
    let p = Pipeline::new();
    p.cache_dir(dir);
    let rendered = p
        .source(0..items)
        .cached()
        .version("1")
        .map(move |n: u64| {
            std::thread::sleep(pause);
            render(n)
        })
        .name("render")
        .workers(2);
    let digests = rendered
        .cached()
        .version("1")
        .map(|bytes: Vec<u8>| bytes.iter().map(|&b| u64::from(b)).sum::<u64>())
        .name("digest");
    let (out, report) = p.run_iter(digests).unwrap().collect_report().unwrap();
    (out.iter().sum(), report)
}

/// A large buffer, different for every item (its first bytes are the item).
fn render(n: u64) -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..LARGE).map(|i| (n as usize * 31 + i) as u8).collect();
    bytes[..8].copy_from_slice(&n.to_le_bytes());
    bytes
}

fn expected_sum(items: u64) -> u64 {
    (0..items)
        .map(|n| render(n).iter().map(|&b| u64::from(b)).sum::<u64>())
        .sum()
}

/// Runs the pipeline as a child process would: the work of [`spawn_child`].
#[test]
#[ignore = "run only as a child process of the other tests of this file"]
fn child_run() {
    let dir = std::env::var(DIR).expect("the parent names the store");
    let items = std::env::var(ITEMS).unwrap().parse().unwrap();
    let pause = Duration::from_millis(std::env::var(PAUSE_MS).unwrap().parse().unwrap());
    let (sum, report) = pipeline(Path::new(&dir), items, pause);
    let render = report.stage("render").unwrap();
    println!(
        "child sum={sum} hits={} misses={}",
        render.cache.hits, render.cache.misses
    );
}

fn spawn_child(dir: &Path, items: u64, pause_ms: u64) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "child_run",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR, dir)
        .env(ITEMS, items.to_string())
        .env(PAUSE_MS, pause_ms.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The sum a child printed; panics with its output if it failed.
fn child_sum(child: Child) -> u64 {
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // libtest may print the test's name on the same line.
    let at = stdout.find("child sum=").expect("the child prints its sum");
    let rest = &stdout[at + "child sum=".len()..];
    rest.split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn two_processes_running_one_cached_pipeline_at_once_both_succeed() {
    support::watchdog(|| {
        let dir = StoreDir::new("cache-two-procs");
        let items = 60;
        let a = spawn_child(dir.path(), items, 2);
        let b = spawn_child(dir.path(), items, 2);
        let expected = expected_sum(items);
        assert_eq!(child_sum(a), expected);
        assert_eq!(child_sum(b), expected);

        // The store is consistent: one entry per (stage, item), every one readable.
        let mut store = Store::open(dir.path()).unwrap();
        assert_eq!(store.stats().unwrap().entries, 2 * items);
        let gc = store.gc().unwrap();
        assert_eq!((gc.damaged, gc.evicted), (0, 0));
        let (sum, report) = pipeline(dir.path(), items, Duration::ZERO);
        assert_eq!(sum, expected);
        assert_eq!(report.stage("render").unwrap().cache.hits, items);
        assert_eq!(report.stage("digest").unwrap().cache.hits, items);
    });
}

#[test]
fn a_run_killed_while_writing_leaves_a_store_the_next_run_reads() {
    support::watchdog(|| {
        let dir = StoreDir::new("cache-killed");
        let items = 400;
        let mut child = spawn_child(dir.path(), items, 3);
        // Kill it once it has stored some results: mid-run, and most likely mid-write
        // (each of its two render workers writes a 100 KiB file between 3 ms pauses).
        let index = dir.path().join("index.sqlite");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            assert!(Instant::now() < deadline, "the child stored nothing");
            assert!(
                child.try_wait().unwrap().is_none(),
                "the child ended before the kill"
            );
            if index.exists() {
                let stored = Store::open(dir.path()).unwrap().stats().unwrap().entries;
                if stored >= 20 {
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success());

        let (sum, report) = pipeline(dir.path(), items, Duration::ZERO);
        assert_eq!(sum, expected_sum(items));
        let render = report.stage("render").unwrap();
        assert!(
            render.cache.hits >= 10,
            "what the killed run committed is read"
        );
        assert_eq!(render.cache.hits + render.cache.misses, items);
        let mut store = Store::open(dir.path()).unwrap();
        assert_eq!(store.gc().unwrap().damaged, 0);
        assert_eq!(store.stats().unwrap().entries, 2 * items);
    });
}
