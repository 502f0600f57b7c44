//! A worker that dies is reported with its pid and signal, promptly, and reaped.

mod support;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use skorche_worker::builtin;
use skorche_worker::error::ClientError;
use std::time::{Duration, Instant};
use support::*;

#[test]
fn aborting_worker_is_reported_with_pid_and_signal() {
    let _w = watchdog(30);
    let mut sut = spawn(&builtin::ABORT_ON.bind_with(&5u64));
    let pid = sut.pid();
    sut.send(items(0..10)).unwrap();
    let t0 = Instant::now();
    match sut.recv() {
        Err(ClientError::WorkerDied { pid: p, signal, .. }) => {
            assert_eq!(p, pid);
            assert_eq!(signal, Some(Signal::SIGABRT as i32));
        }
        other => panic!("expected WorkerDied, got {other:?}"),
    }
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "took {:?}",
        t0.elapsed()
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "not reaped"
    );
}

#[test]
fn killed_worker_is_reported_with_pid_and_signal() {
    let _w = watchdog(30);
    let (tx, mut rx, handle) = spawn(&builtin::IDENTITY_U64.bind()).split();
    let pid = handle.pid();
    tx.send(items(0..10)).unwrap();
    let _ = rx.recv().unwrap();
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    let t0 = Instant::now();
    match rx.recv() {
        Err(ClientError::WorkerDied {
            pid: p,
            signal,
            status,
            ..
        }) => {
            assert_eq!(p, pid);
            assert_eq!(signal, Some(Signal::SIGKILL as i32));
            assert_eq!(status, None);
        }
        other => panic!("expected WorkerDied, got {other:?}"),
    }
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "took {:?}",
        t0.elapsed()
    );
    assert!(!handle.wait().success());
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "not reaped"
    );
    assert!(matches!(rx.recv(), Err(ClientError::Finished { .. })));
    assert!(tx.send(items(0..1)).is_err());
}

#[test]
fn worker_outlives_the_thread_that_spawned_it() {
    let _w = watchdog(30);
    // PR_SET_PDEATHSIG fires when the forking *thread* exits; spawning must not tie the worker
    // to the caller's thread.
    let mut sut = std::thread::spawn(|| spawn(&builtin::IDENTITY_U64.bind()))
        .join()
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    sut.send(items(0..3)).unwrap();
    assert_eq!(results(&mut sut).len(), 3);
    finish(sut);
}
