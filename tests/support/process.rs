//! Helpers for the process-mode and fault tests: /proc scans, a process-aborting watchdog,
//! /dev/shm snapshots.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// The test-worker binary: hosts the built-in tasks, and `drive <n>` runs a pipeline.
pub const TEST_WORKER: &str = env!("CARGO_BIN_EXE_skorche-test-worker");

/// This process's pid.
pub fn me() -> i32 {
    std::process::id() as i32
}

/// `(state, ppid)` of `pid` from /proc/<pid>/stat, or `None` if it is gone.
pub fn stat(pid: i32) -> Option<(char, i32)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: the fields follow the last ')'.
    let rest = &s[s.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Pids of the processes whose parent is `pid` (zombies included).
pub fn children_of(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if stat(child).is_some_and(|(_, ppid)| ppid == pid) {
            out.push(child);
        }
    }
    out.sort();
    out
}

/// The command line of `pid`, arguments joined by spaces.
pub fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .split('\0')
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// Live (not zombie) children of `pid` running the test-worker binary.
pub fn worker_children_of(pid: i32) -> Vec<i32> {
    children_of(pid)
        .into_iter()
        .filter(|&c| stat(c).is_some_and(|(s, _)| s != 'Z'))
        .filter(|&c| cmdline(c).contains("skorche-test-worker"))
        .collect()
}

/// Gone, or a zombie: the process has exited.
pub fn has_exited(pid: i32) -> bool {
    stat(pid).is_none_or(|(state, _)| state == 'Z')
}

/// Waits until every pid has exited; returns the time it took, or the survivors after
/// `limit`.
pub fn wait_exited(pids: &[i32], limit: Duration) -> Result<Duration, Vec<i32>> {
    let start = Instant::now();
    loop {
        let alive: Vec<i32> = pids.iter().copied().filter(|&p| !has_exited(p)).collect();
        if alive.is_empty() {
            return Ok(start.elapsed());
        }
        if start.elapsed() > limit {
            return Err(alive);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Asserts that this process has no child left (not even a zombie), waiting up to 2 s for
/// them to vanish.
pub fn assert_no_children() {
    let start = Instant::now();
    loop {
        let kids = children_of(me());
        if kids.is_empty() {
            return;
        }
        if start.elapsed() > Duration::from_secs(2) {
            let desc: Vec<String> = kids
                .iter()
                .map(|&k| format!("{k} {:?} {}", stat(k), cmdline(k)))
                .collect();
            panic!("child processes left behind: {desc:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Distinct memfd segments this process has mapped (rings it created or opened).
pub fn mapped_rings() -> usize {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let mut inodes: Vec<&str> = maps
        .lines()
        .filter(|l| l.contains("/memfd:skorche-ring"))
        .filter_map(|l| l.split_whitespace().nth(4))
        .collect();
    inodes.sort_unstable();
    inodes.dedup();
    inodes.len()
}

/// The names in /dev/shm.
pub fn shm_entries() -> BTreeSet<String> {
    std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts /dev/shm holds no entry that `before` did not (waiting up to 2 s).
pub fn assert_no_new_shm(before: &BTreeSet<String>) {
    let start = Instant::now();
    loop {
        let new: Vec<String> = shm_entries().difference(before).cloned().collect();
        if new.is_empty() {
            return;
        }
        if start.elapsed() > Duration::from_secs(2) {
            panic!("/dev/shm gained entries: {new:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[path = "watchdog.rs"]
mod watchdog;
pub use watchdog::Watchdog;

/// The default watchdog limit.
pub const LIMIT: Duration = Duration::from_secs(60);

/// Runs `task` over 0..5000 in a 2-process stage named `stage` and checks that the run
/// fails with one failure of `kind` naming the stage, item 1234 and `message_part`, leaving
/// no worker process and no /dev/shm entry behind.
#[allow(dead_code)] // each test file includes this module and uses part of it
pub fn assert_failing_item_1234_is_reported(
    task: skorche::worker::registry::BoundTask<u64, u64>,
    stage: &'static str,
    kind: skorche::FailureKind,
    message_part: &str,
) {
    let shm = shm_entries();
    let _dog = Watchdog::arm(stage, LIMIT);
    let p = skorche::Pipeline::new();
    p.worker_program(TEST_WORKER);
    let q = p
        .source(0..5_000u64)
        .map_task(task)
        .processes(2)
        .name(stage);
    let err = p
        .run_iter(q)
        .unwrap()
        .collect::<Result<Vec<u64>, _>>()
        .unwrap_err();
    println!("{err}");
    let f = err
        .failures()
        .iter()
        .find(|f| f.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} failure in {err:?}"));
    assert_eq!(f.stage, stage);
    assert_eq!(f.seq, Some(1234));
    assert!(f.message.contains(message_part), "{}", f.message);
    assert_no_children();
    assert_no_new_shm(&shm);
}

/// Starts `skorche-test-worker drive`, waits for its two workers; returns them.
#[allow(dead_code)] // each test file includes this module and uses part of it
pub fn start_driver() -> (std::process::Child, Vec<i32>) {
    let mut driver = std::process::Command::new(TEST_WORKER)
        .args(["drive", "100000000"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawning the driver");
    let pid = driver.id() as i32;
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(driver.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(line.starts_with("started"), "{line:?}");
    let start = Instant::now();
    let workers = loop {
        let w = worker_children_of(pid);
        if w.len() == 2 {
            break w;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "workers: {w:?}");
        std::thread::sleep(Duration::from_millis(5));
    };
    // Let items flow.
    std::thread::sleep(Duration::from_millis(300));
    (driver, workers)
}
