//! A worker that dies is reported with its cause, promptly, and reaped; stopping a worker
//! stops what its task started.

mod support;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use skorche_worker::builtin;
use skorche_worker::transport::{ExitCause, WorkerEvent};
use std::time::{Duration, Instant};
use support::*;

#[test]
fn aborting_worker_is_reported_with_its_signal() {
    let _w = watchdog(30);
    let mut sut = spawn(&builtin::ABORT_ON.bind_with(&5u64));
    let pid = pid(&sut);
    send(&mut sut, 0, items(0..10));
    let t0 = Instant::now();
    // Items before the fatal one may come back first, in parts.
    let cause = loop {
        match sut.receiver.recv() {
            WorkerEvent::Results(r) => assert!(r.first as usize + r.outcomes.len() <= 5, "{r:?}"),
            WorkerEvent::Exited(cause) => break cause,
            other => panic!("expected Exited, got {other:?}"),
        }
    };
    assert_eq!(cause, ExitCause::Signal(Signal::SIGABRT as i32));
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "took {:?}",
        t0.elapsed()
    );
    assert_reaped(pid);
    assert_eq!(sut.control.wait(), cause);
}

#[test]
fn killed_worker_is_reported_with_its_signal() {
    let _w = watchdog(30);
    let mut sut = spawn(&builtin::IDENTITY_U64.bind());
    let pid = pid(&sut);
    assert_eq!(round_trip(&mut sut, items(0..10)).len(), 10);
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    let t0 = Instant::now();
    match sut.receiver.recv() {
        WorkerEvent::Exited(cause) => assert_eq!(cause, ExitCause::Signal(Signal::SIGKILL as i32)),
        other => panic!("expected Exited, got {other:?}"),
    }
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "took {:?}",
        t0.elapsed()
    );
    assert_eq!(
        sut.control.wait(),
        ExitCause::Signal(Signal::SIGKILL as i32)
    );
    assert_reaped(pid);
    // The link is over: the same answer again, and sending gives the batch back.
    assert!(matches!(sut.receiver.recv(), WorkerEvent::Exited(_)));
    let work = work(1, items(0..1));
    let (back, err) = sut.sender.send(work.clone()).expect_err("worker is gone");
    assert_eq!(back, work);
    assert!(err.to_string().contains(&format!("pid {pid}")), "{err}");
}

#[test]
fn control_kill_ends_the_link_promptly() {
    let _w = watchdog(30);
    let mut sut = spawn(&builtin::SLEEP_JITTER.bind());
    let pid = pid(&sut);
    send(&mut sut, 0, items(0..10_000));
    let _ = part(&mut sut);
    let t0 = Instant::now();
    sut.control.kill();
    loop {
        match sut.receiver.recv() {
            WorkerEvent::Results(_) => {}
            WorkerEvent::Exited(cause) => {
                assert_eq!(cause, ExitCause::Signal(Signal::SIGKILL as i32));
                break;
            }
            other => panic!("expected Exited, got {other:?}"),
        }
    }
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    assert_eq!(
        sut.control.wait(),
        ExitCause::Signal(Signal::SIGKILL as i32)
    );
    assert_reaped(pid);
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
    assert_eq!(round_trip(&mut sut, items(0..3)).len(), 3);
    finish(sut);
}

/// The process group of `pid`, from /proc/<pid>/stat.
fn pgrp(pid: u32) -> Option<u32> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = s[s.rfind(')')? + 1..].split_whitespace();
    fields.nth(2)?.parse().ok()
}

#[test]
fn worker_runs_in_its_own_process_group() {
    let _w = watchdog(30);
    let sut = spawn(&builtin::IDENTITY_U64.bind());
    let pid = pid(&sut);
    assert_eq!(pgrp(pid), Some(pid));
    assert_ne!(pgrp(std::process::id()), Some(pid));
    finish(sut);
}

#[test]
fn kill_stops_what_the_task_started() {
    let _w = watchdog(30);
    let mut sut = spawn(&builtin::SPAWN_SLEEPER.bind());
    let worker = pid(&sut);
    let res = round_trip(&mut sut, items(100..101));
    let (_, sleeper) = done_u64(&res[0]);
    let sleeper = sleeper[0] as u32;
    assert!(!is_gone(sleeper), "the sleeper should be running");
    assert_eq!(
        pgrp(sleeper),
        Some(worker),
        "the sleeper is in the worker's group"
    );
    sut.control.kill();
    assert!(matches!(sut.receiver.recv(), WorkerEvent::Exited(_)));
    let t0 = Instant::now();
    while !is_gone(sleeper) {
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "sleep {sleeper} survived its worker"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_reaped(worker);
}

#[test]
fn a_clean_end_also_stops_what_the_task_left_behind() {
    let _w = watchdog(30);
    let mut sut = spawn(&builtin::SPAWN_SLEEPER.bind());
    let res = round_trip(&mut sut, items(100..101));
    let ItemResult::Done { .. } = &res[0] else {
        panic!("{res:?}")
    };
    let sleeper = done_u64(&res[0]).1[0] as u32;
    finish(sut);
    let t0 = Instant::now();
    while !is_gone(sleeper) {
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "sleep {sleeper} survived its worker"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
