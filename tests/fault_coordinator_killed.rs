//! SIGKILL of the coordinator (a driver process running a process pipeline): every worker
//! exits promptly (parent-death signal) and /dev/shm keeps no new entry.
#[path = "support/process.rs"]
mod support;

use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use support::*;

/// Both tests check that no child is left: they must not run concurrently.
static SERIAL: Mutex<()> = Mutex::new(());

#[test]
fn workers_exit_when_the_coordinator_is_killed() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let shm = shm_entries();
    let _dog = Watchdog::arm("coordinator kill", LIMIT);
    let (mut driver, workers) = start_driver();
    println!("driver {} workers {workers:?}", driver.id());
    kill(Pid::from_raw(driver.id() as i32), Signal::SIGKILL).unwrap();
    let killed = Instant::now();
    let status = driver.wait().unwrap();
    println!("driver: {status:?}");
    let took = wait_exited(&workers, Duration::from_secs(5))
        .unwrap_or_else(|alive| panic!("workers still alive after 5 s: {alive:?}"));
    println!(
        "SIGKILL of the coordinator -> all workers exited: {:?}",
        killed.elapsed().max(took)
    );
    // The issue asks for 1 s; checked with a generous margin above.
    assert_no_children();
    assert_no_new_shm(&shm);
}

/// Kills the driver as soon as its first worker shows up (the workers may still be in
/// their handshake, before or around arming the parent-death signal): none may survive.
#[test]
fn workers_exit_when_the_coordinator_is_killed_during_startup() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let shm = shm_entries();
    let _dog = Watchdog::arm("coordinator kill at startup", LIMIT);
    for round in 0..5 {
        let mut driver = Command::new(TEST_WORKER)
            .args(["drive", "100000000"])
            .stdout(Stdio::null())
            .spawn()
            .expect("spawning the driver");
        let pid = driver.id() as i32;
        let start = Instant::now();
        while children_of(pid).is_empty() {
            assert!(start.elapsed() < Duration::from_secs(30), "no worker");
            std::thread::yield_now();
        }
        let mut seen = children_of(pid);
        kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
        let killed = Instant::now();
        // A child forked in the last instant is still listed under the dying driver.
        seen.extend(children_of(pid));
        seen.sort();
        seen.dedup();
        driver.wait().unwrap();
        let took = wait_exited(&seen, Duration::from_secs(5))
            .unwrap_or_else(|alive| panic!("round {round}: survivors {alive:?}"));
        println!(
            "round {round}: children {seen:?} exited {:?} after the kill",
            killed.elapsed().max(took)
        );
    }
    assert_no_children();
    assert_no_new_shm(&shm);
}
