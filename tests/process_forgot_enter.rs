//! Issue #8: a driver whose `main` forgot `skorche::worker::enter()` fails fast with an error
//! that says so, instead of each worker running `main` again and starting its own pipeline
//! (a chain of processes, each spawning the next).
//!
//! The driver (`src/bin/skorche-test-noenter.rs`) runs in a process group of its own; the
//! test watches its descendants and SIGKILLs the whole group as soon as more than 10 appear
//! (or after 10 s), so whatever happens cannot fork-bomb the machine.
//!
//! Today (HEAD 04ceb65, before the fix; release build, 2 cores): the test fails: 39-40 ms
//! after the start a chain of 11-12 processes had appeared (each worker ran `main` and
//! started a worker of its own, 11-12 deep), and the test killed the group; nothing was
//! printed.

#[path = "support/load.rs"]
mod load;

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use load::process::{has_exited, Watchdog};
use load::{descendants_of, group_members, ms};
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

const NOENTER: &str = env!("CARGO_BIN_EXE_skorche-test-noenter");

/// More descendants than this and the test kills the group: a chain is growing.
const MAX_DESCENDANTS: usize = 10;
/// The driver must end by itself within this.
const LIMIT: Duration = Duration::from_secs(10);

/// SIGKILLs every member of process group `pgrp` and every descendant of `root` until none
/// is left (or 5 s pass).
fn kill_all(pgrp: i32, root: i32) {
    let start = Instant::now();
    loop {
        let mut left: Vec<i32> = group_members(pgrp).into_iter().collect();
        left.extend(descendants_of(root).into_keys());
        left.retain(|&p| !has_exited(p)); // zombies wait for their parent, not for us
        if left.is_empty() || start.elapsed() > Duration::from_secs(5) {
            return;
        }
        let _ = killpg(Pid::from_raw(pgrp), Signal::SIGKILL);
        for pid in left {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_driver_without_enter_fails_fast_and_spawns_no_chain() {
    let _dog = Watchdog::arm("forgot enter", Duration::from_secs(60));
    let mut driver = Command::new(NOENTER)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning the driver");
    let pid = driver.id() as i32;
    let stderr = Arc::new(Mutex::new(String::new()));
    {
        let mut pipe = driver.stderr.take().unwrap();
        let stderr = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                stderr
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
    }

    let started = Instant::now();
    // Every descendant ever seen, with its depth (1: a child of the driver).
    let mut seen: BTreeMap<i32, usize> = BTreeMap::new();
    let mut killed = None;
    let status = loop {
        for (p, depth) in descendants_of(pid) {
            seen.entry(p).or_insert(depth);
        }
        for p in group_members(pid) {
            if p != pid {
                seen.entry(p).or_insert(0); // in the group, ancestry unknown (orphaned)
            }
        }
        if let Some(status) = driver.try_wait().unwrap() {
            break status;
        }
        if seen.len() > MAX_DESCENDANTS || started.elapsed() > LIMIT {
            killed = Some(started.elapsed());
            kill_all(pid, pid);
            break driver.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let took = started.elapsed();
    kill_all(pid, pid);
    // Let the reader see the end of the pipe (every writer is gone now).
    std::thread::sleep(Duration::from_millis(200));
    let stderr = stderr.lock().unwrap().clone();
    let deepest = seen.values().copied().max().unwrap_or(0);
    println!(
        "driver ended after {:.0} ms ({status:?}{}); {} descendants seen, deepest at depth \
         {deepest}; stderr:\n{stderr}",
        ms(took),
        if killed.is_some() {
            ", killed by the test"
        } else {
            ""
        },
        seen.len()
    );
    assert!(
        killed.is_none(),
        "the test had to kill the driver after {:.0} ms: {} descendants appeared (deepest at \
         depth {deepest})",
        ms(killed.unwrap()),
        seen.len()
    );
    assert!(!status.success(), "the driver succeeded without enter()");
    assert!(
        took <= Duration::from_secs(5),
        "the driver took {:.0} ms to fail",
        ms(took)
    );
    assert!(
        stderr.contains("skorche::worker::enter()"),
        "the error does not mention skorche::worker::enter(): {stderr}"
    );
    assert!(
        deepest <= 1,
        "a worker started workers of its own: {seen:?} (pid -> depth)"
    );
}
