//! SIGINT (Ctrl-C) to the coordinator only: the driver exits, its workers stop, no orphan
//! survives and /dev/shm keeps no new entry.
#[path = "support/process.rs"]
mod support;

use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use support::*;

#[test]
fn sigint_to_the_driver_stops_driver_and_workers() {
    let shm = shm_entries();
    let _dog = Watchdog::arm("sigint", LIMIT);
    let (mut driver, workers) = start_driver();
    let pid = driver.id() as i32;
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
