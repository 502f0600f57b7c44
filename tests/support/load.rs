//! Helpers for the process-mode load tests (issue #8): private worker program names (so a
//! test can find its own workers among those of tests running beside it), descendant scans,
//! process groups, a soft deadline, and `skorche:*` thread listings.
//!
//! Include with `#[path = "support/load.rs"] mod load;`; it brings `support/process.rs` along
//! as `load::process`.
#![allow(dead_code)]

#[path = "process.rs"]
pub mod process;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use process::{children_of, cmdline, me, stat, TEST_WORKER};

/// A directory of `target/` for files the tests make (worker links, scripts, temp dirs).
pub fn scratch_dir(what: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{what}-{}", me()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating a scratch directory");
    dir
}

/// A symlink to the test-worker binary under a name of its own: workers spawned from it show
/// the link's path in their command line, so a test finds exactly its own workers even
/// while other tests of the same binary run theirs.
pub fn private_worker(tag: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("private-workers");
    std::fs::create_dir_all(&dir).expect("creating the worker link directory");
    let link = dir.join(format!("skorche-test-worker-{tag}-{}", me()));
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(TEST_WORKER, &link).expect("linking the test worker");
    link
}

/// Children of this process (zombies included) whose command line names `program`.
pub fn children_running(program: &Path) -> Vec<i32> {
    let prefix = program.to_string_lossy().into_owned();
    children_of(me())
        .into_iter()
        .filter(|&c| cmdline(c).contains(&prefix))
        .collect()
}

/// Waits until no child of this process (not even a zombie) runs `program`; returns how
/// long it took, or the ones left after `limit`.
pub fn wait_no_children_running(program: &Path, limit: Duration) -> Result<Duration, Vec<i32>> {
    let start = Instant::now();
    loop {
        let left = children_running(program);
        if left.is_empty() {
            return Ok(start.elapsed());
        }
        if start.elapsed() > limit {
            return Err(left);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The process group of `pid`, from /proc/<pid>/stat.
pub fn pgrp_of(pid: i32) -> Option<i32> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 1..];
    // Fields after the command: state, ppid, pgrp.
    rest.split_whitespace().nth(2)?.parse().ok()
}

/// Every live process: pid -> ppid.
pub fn process_table() -> BTreeMap<i32, i32> {
    let mut table = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return table;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if let Some((_, ppid)) = stat(pid) {
            table.insert(pid, ppid);
        }
    }
    table
}

/// Descendants of `root` (children, grandchildren ...) with their depth (1 = child).
pub fn descendants_of(root: i32) -> BTreeMap<i32, usize> {
    let table = process_table();
    let mut out = BTreeMap::new();
    let mut frontier = vec![(root, 0usize)];
    while let Some((pid, depth)) = frontier.pop() {
        for (&child, &parent) in &table {
            if parent == pid && !out.contains_key(&child) && child != root {
                out.insert(child, depth + 1);
                frontier.push((child, depth + 1));
            }
        }
    }
    out
}

/// Live members of process group `pgrp`.
pub fn group_members(pgrp: i32) -> BTreeSet<i32> {
    process_table()
        .into_keys()
        .filter(|&p| pgrp_of(p) == Some(pgrp))
        .collect()
}

/// Runs `f` on its own thread and returns its result; panics (failing the test, not the
/// whole binary) if it takes longer than `limit`. A body stuck past the limit is left
/// behind: the process exits when the test binary ends, and its workers die with it.
pub fn soft_deadline<R: Send + 'static>(
    what: &str,
    limit: Duration,
    f: impl FnOnce() -> R + Send + 'static,
) -> R {
    let (tx, rx) = mpsc::channel();
    let body = std::thread::Builder::new()
        .name("test-deadline-body".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .expect("spawning the test body");
    match rx.recv_timeout(limit) {
        Ok(r) => {
            let _ = body.join();
            r
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: no result within {limit:?} (hang)")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match body.join() {
            Err(p) => std::panic::resume_unwind(p),
            Ok(()) => unreachable!("the body returned without sending"),
        },
    }
}

/// The running threads of this process whose name starts with `skorche` (`skorche:...`,
/// `skorche-...`). A thread already exiting (`PF_EXITING` set, or a zombie) is not counted:
/// a joined thread can stay listed for some µs while the kernel finishes its exit.
pub fn skorche_threads() -> Vec<String> {
    let mut names = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return names;
    };
    for entry in dir.flatten() {
        let path = entry.path();
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else {
            continue; // exited while we looked
        };
        if !comm.starts_with("skorche") {
            continue;
        }
        let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        // Fields after the command: state, ppid, pgrp, session, tty, tpgid, flags.
        let fields: Vec<&str> = stat
            .rsplit_once(") ")
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let dead = fields
            .first()
            .is_none_or(|s| s.starts_with('Z') || s.starts_with('X'));
        let exiting = fields
            .get(6)
            .and_then(|f| f.parse::<u64>().ok())
            .is_none_or(|flags| flags & 0x4 != 0); // PF_EXITING
        if !dead && !exiting {
            names.push(comm.trim().to_string());
        }
    }
    names.sort();
    names
}

/// Milliseconds, for messages.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
