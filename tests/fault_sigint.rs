//! SIGINT (Ctrl-C) to the coordinator only: the driver exits, its workers stop, no orphan
//! survives and /dev/shm keeps no new entry.
#[path = "support/process.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use support::*;

#[test]
fn sigint_to_the_driver_stops_driver_and_workers() {
    let shm = shm_entries();
    let _dog = Watchdog::arm("sigint", LIMIT);
    let mut driver = Command::new(TEST_WORKER)
        .args(["drive", "100000000"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawning the driver");
    let pid = driver.id() as i32;
    let mut line = String::new();
    BufReader::new(driver.stdout.take().unwrap())
        .read_line(&mut line)
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
    std::thread::sleep(Duration::from_millis(300));
    println!("driver {pid} workers {workers:?}");
    kill(Pid::from_raw(pid), Signal::SIGINT).unwrap();
    let sent = Instant::now();
    let status = driver.wait().unwrap();
    println!("driver exited after {:?}: {status:?}", sent.elapsed());
    let took = wait_exited(&workers, Duration::from_secs(5))
        .unwrap_or_else(|alive| panic!("workers still alive after 5 s: {alive:?}"));
    println!(
        "SIGINT to the coordinator -> all workers exited: {:?}",
        sent.elapsed().max(took)
    );
    assert_no_children();
    assert_no_new_shm(&shm);
}
