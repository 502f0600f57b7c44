//! A worker process killed by a signal (SIGKILL from outside, or abort() inside the task)
//! fails the run with WorkerDied naming the stage, the pid, the signal and the held items.
#[path = "support/process.rs"]
mod support;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use skorche::worker::builtin;
use skorche::{FailureKind, Pipeline};
use support::*;

/// Both tests check that no child is left: they must not run concurrently.
static SERIAL: Mutex<()> = Mutex::new(());

#[test]
fn sigkill_of_a_worker_is_reported_promptly() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let shm = shm_entries();
    let _dog = Watchdog::arm("killed-worker pipeline", LIMIT);
    let p = Pipeline::new();
    p.worker_program(TEST_WORKER);
    let q = p
        .source(0..1_000_000u64)
        .map_task(&builtin::SLEEP_JITTER)
        .processes(2)
        .name("sleepy");
    let killer = std::thread::spawn(|| {
        let start = Instant::now();
        let victim = loop {
            if let Some(&pid) = worker_children_of(me()).first() {
                break pid;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no worker appeared"
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        // Let it take some items first.
        std::thread::sleep(Duration::from_millis(300));
        kill(Pid::from_raw(victim), Signal::SIGKILL).expect("kill");
        (victim, Instant::now())
    });
    let result = p.run_iter(q).unwrap().collect::<Result<Vec<u64>, _>>();
    let returned = Instant::now();
    let (victim, killed_at) = killer.join().unwrap();
    let err = result.unwrap_err();
    let detection = returned.duration_since(killed_at);
    println!("{err}");
    println!("SIGKILL -> run returned: {detection:?}");
    let f = err
        .failures()
        .iter()
        .find(|f| f.kind == FailureKind::WorkerDied)
        .unwrap_or_else(|| panic!("no WorkerDied in {err:?}"));
    assert_eq!(f.stage, "sleepy");
    assert!(
        f.message.contains(&format!("pid {victim}")),
        "{}",
        f.message
    );
    assert!(f.message.contains("signal 9"), "{}", f.message);
    assert!(f.message.contains("SIGKILL"), "{}", f.message);
    assert!(f.message.contains("holding items #"), "{}", f.message);
    assert!(f.seq.is_some());
    // The issue asks for detection within 1 s; checked with a generous margin.
    assert!(detection < Duration::from_secs(5), "{detection:?}");
    assert_no_children();
    assert_no_new_shm(&shm);
}

#[test]
fn abort_in_a_worker_is_reported_as_sigabrt() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let shm = shm_entries();
    let _dog = Watchdog::arm("abort_on pipeline", LIMIT);
    let p = Pipeline::new();
    p.worker_program(TEST_WORKER);
    let q = p
        .source(0..5_000u64)
        .map_task(builtin::ABORT_ON.bind_with(&777u64))
        .processes(2)
        .name("aborting");
    let err = p
        .run_iter(q)
        .unwrap()
        .collect::<Result<Vec<u64>, _>>()
        .unwrap_err();
    println!("{err}");
    let f = err
        .failures()
        .iter()
        .find(|f| f.kind == FailureKind::WorkerDied)
        .unwrap_or_else(|| panic!("no WorkerDied in {err:?}"));
    assert_eq!(f.stage, "aborting");
    assert!(f.message.contains("signal 6"), "{}", f.message);
    assert!(f.message.contains("SIGABRT"), "{}", f.message);
    // The held items are listed from the oldest (the list is cut after 16), and 777 is
    // among them: the failure's seq is the oldest held, so at most 777.
    assert!(f.message.contains("holding items #"), "{}", f.message);
    assert!(f.seq.is_some_and(|s| s <= 777), "{f:?}");
    assert_no_children();
    assert_no_new_shm(&shm);
}

#[test]
fn sigkill_of_a_worker_writing_large_shm_payloads_is_reported() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let shm = shm_entries();
    let _dog = Watchdog::arm("killed shm-writing worker", LIMIT);
    let p = Pipeline::new();
    p.worker_program(TEST_WORKER);
    // 8 MiB outputs: they travel through the output rings.
    let q = p
        .source((0..100_000u64).map(|s| (s, 8u64 << 20)))
        .map_task(&builtin::PRODUCE_BYTES_IN_PLACE)
        .processes(2)
        .name("bytes");
    let killer = std::thread::spawn(|| {
        let start = Instant::now();
        let victim = loop {
            if let Some(&pid) = worker_children_of(me()).last() {
                break pid;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no worker appeared"
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        std::thread::sleep(Duration::from_millis(300));
        kill(Pid::from_raw(victim), Signal::SIGKILL).expect("kill");
        (victim, Instant::now())
    });
    let mut seen = 0u64;
    let mut err = None;
    for r in p.run_iter(q).unwrap() {
        match r {
            Ok(bytes) => {
                assert_eq!(bytes.len(), 8 << 20);
                seen += 1;
            }
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    let returned = Instant::now();
    let (victim, killed_at) = killer.join().unwrap();
    let err = err.expect("the run should fail");
    println!("{err}");
    println!(
        "SIGKILL (8 MiB payloads, {seen} read) -> error: {:?}",
        returned.duration_since(killed_at)
    );
    let f = err
        .failures()
        .iter()
        .find(|f| f.kind == FailureKind::WorkerDied)
        .unwrap_or_else(|| panic!("no WorkerDied in {err:?}"));
    assert_eq!(f.stage, "bytes");
    assert!(
        f.message.contains(&format!("pid {victim}")),
        "{}",
        f.message
    );
    assert!(f.message.contains("SIGKILL"), "{}", f.message);
    assert!(returned.duration_since(killed_at) < Duration::from_secs(5));
    assert_no_children();
    assert_no_new_shm(&shm);
}
