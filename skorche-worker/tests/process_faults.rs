//! A worker that breaks the protocol gives a typed error, never a panic or a hang.

mod support;

use skorche_worker::builtin;
use skorche_worker::client::{SpawnSpec, WorkerEvent, WorkerProcess};
use skorche_worker::error::{ClientError, HandshakeError, SpawnError};
use std::time::Duration;
use support::*;

const FAKE: &str = env!("CARGO_BIN_EXE_skorche-fake-worker");

fn fake_spec(task: &str) -> SpawnSpec {
    let mut s = SpawnSpec::for_task(FAKE, "fake-stage", &builtin::IDENTITY_U64.bind());
    s.task = task.into();
    s.handshake_timeout = Duration::from_secs(10);
    s
}

#[test]
fn undecodable_message_from_worker_is_a_protocol_error() {
    let _w = watchdog(30);
    let mut sut = WorkerProcess::spawn(&fake_spec("fake_garbage")).expect("spawn");
    let pid = sut.pid();
    sut.send(items(0..3)).unwrap();
    match sut.recv() {
        Err(ClientError::Protocol { pid: p, .. }) => assert_eq!(p, pid),
        other => panic!("expected Protocol, got {other:?}"),
    }
    drop(sut);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "not reaped"
    );
}

#[test]
fn handle_outside_the_workers_ring_is_a_protocol_error() {
    let _w = watchdog(30);
    let mut sut = WorkerProcess::spawn(&fake_spec("fake_foreign_handle")).expect("spawn");
    sut.send(items(0..3)).unwrap();
    match sut.recv() {
        Err(ClientError::Protocol { detail, .. }) => assert!(detail.contains("ring"), "{detail}"),
        other => panic!("expected Protocol, got {other:?}"),
    }
}

#[test]
fn other_protocol_version_is_rejected() {
    let _w = watchdog(30);
    match WorkerProcess::spawn(&fake_spec("fake_old_version")) {
        Err(SpawnError::Handshake(HandshakeError::VersionMismatch {
            expected, found, ..
        })) => {
            assert_ne!(expected, found)
        }
        other => panic!("expected VersionMismatch, got {other:?}"),
    }
}

#[test]
fn worker_that_never_gets_ready_times_out() {
    let _w = watchdog(30);
    let mut spec = fake_spec("fake_no_ready");
    spec.handshake_timeout = Duration::from_millis(500);
    match WorkerProcess::spawn(&spec) {
        Err(SpawnError::Timeout { pid, .. }) => {
            assert!(
                !std::path::Path::new(&format!("/proc/{pid}")).exists(),
                "not reaped"
            )
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
}

#[test]
fn exit_without_bye_is_reported_as_death() {
    let _w = watchdog(30);
    let mut sut = WorkerProcess::spawn(&fake_spec("fake_no_bye")).expect("spawn");
    sut.send(items(0..2)).unwrap();
    assert!(matches!(sut.recv(), Ok(WorkerEvent::Results(r)) if r.len() == 2));
    sut.end().unwrap();
    match sut.recv() {
        Err(ClientError::WorkerDied {
            status: Some(0),
            signal: None,
            ..
        }) => {}
        other => panic!("expected WorkerDied, got {other:?}"),
    }
}
