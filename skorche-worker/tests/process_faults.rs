//! A worker that breaks the protocol gives a typed error or event, never a panic or a hang,
//! and is stopped and reaped.

mod support;

use skorche_worker::builtin;
use skorche_worker::error::{HandshakeError, SpawnError};
use skorche_worker::protocol::Payload;
use skorche_worker::registry::TaskKind;
use skorche_worker::transport::{ExitCause, WorkerEvent, WorkerSpec};
use std::time::{Duration, Instant};
use support::*;

const FAKE: &str = env!("CARGO_BIN_EXE_skorche-fake-worker");

fn fake_spec(task: &str) -> WorkerSpec {
    let mut s = spec("fake-stage", &builtin::IDENTITY_U64.bind());
    s.task.name = task.into();
    s.handshake_timeout = Duration::from_secs(10);
    s
}

fn fake(task: &str) -> skorche_worker::transport::WorkerLink {
    start_with(FAKE, &fake_spec(task)).expect("start fake worker")
}

/// Sends a batch and expects the link to end with a protocol event within a second; the
/// worker must then be reaped. Returns the event's detail.
fn expect_protocol_fault(task: &str) -> String {
    let _w = watchdog(30);
    let mut sut = fake(task);
    let pid = pid(&sut);
    send(&mut sut, 0, items(0..3));
    let t0 = Instant::now();
    let detail = match sut.receiver.recv() {
        WorkerEvent::Protocol(detail) => detail,
        other => panic!("{task}: expected Protocol, got {other:?}"),
    };
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    assert_reaped(pid);
    // The link is over.
    assert!(matches!(sut.receiver.recv(), WorkerEvent::Exited(_)));
    detail
}

#[test]
fn undecodable_message_from_worker_is_a_protocol_error() {
    let detail = expect_protocol_fault("fake_garbage");
    assert!(detail.contains("undecodable"), "{detail}");
}

#[test]
fn a_second_hello_after_the_handshake_is_a_protocol_error() {
    let detail = expect_protocol_fault("fake_hello_twice");
    assert!(detail.contains("Hello"), "{detail}");
}

#[test]
fn a_huge_announced_frame_is_a_protocol_error_without_allocating() {
    // 2^40 bytes announced, a few sent, the stream left open: refused at the header.
    let detail = expect_protocol_fault("fake_huge_frame");
    assert!(detail.contains("1099511627776"), "{detail}");
}

#[test]
fn half_a_frame_then_exit_is_a_protocol_error() {
    let detail = expect_protocol_fault("fake_truncated");
    assert!(detail.contains("truncated"), "{detail}");
}

#[test]
fn a_huge_frame_during_the_handshake_is_refused() {
    let _w = watchdog(30);
    let t0 = Instant::now();
    match start_with(FAKE, &fake_spec("fake_huge_hello")) {
        Err(SpawnError::Handshake(HandshakeError::Protocol { stage, detail })) => {
            assert_eq!(stage, "fake-stage");
            assert!(detail.contains("1099511627776"), "{detail}");
        }
        other => panic!("expected a handshake Protocol error, got {other:?}"),
    }
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
}

#[test]
fn results_are_delivered_as_sent() {
    // Checking handles and batch ids is the coordinator's job: the transport hands over what
    // the worker said, here a handle into a ring the worker was never given.
    let _w = watchdog(30);
    let mut sut = fake("fake_foreign_handle");
    let res = round_trip(&mut sut, items(0..3));
    assert_eq!(res.len(), 3);
    for r in &res {
        let ItemResult::Done { outputs, .. } = r else {
            panic!("{r:?}")
        };
        assert!(
            matches!(&outputs[0], Payload::Shm(h) if h.ring.0 == 12345),
            "{r:?}"
        );
    }
    finish(sut);
}

#[test]
fn other_protocol_version_is_rejected() {
    let _w = watchdog(30);
    match start_with(FAKE, &fake_spec("fake_old_version")) {
        Err(SpawnError::Handshake(HandshakeError::VersionMismatch {
            expected, found, ..
        })) => {
            assert_ne!(expected, found)
        }
        other => panic!("expected VersionMismatch, got {other:?}"),
    }
}

#[test]
fn another_kind_under_the_same_name_and_types_is_rejected() {
    let _w = watchdog(30);
    match start_with(FAKE, &fake_spec("fake_wrong_kind")) {
        Err(SpawnError::Handshake(HandshakeError::KindMismatch {
            expected, found, ..
        })) => {
            assert_eq!(expected, TaskKind::Map);
            assert_eq!(found, TaskKind::FlatMap);
        }
        other => panic!("expected KindMismatch, got {other:?}"),
    }
}

#[test]
fn worker_that_never_gets_ready_times_out() {
    let _w = watchdog(30);
    let mut spec = fake_spec("fake_no_ready");
    spec.handshake_timeout = Duration::from_millis(500);
    match start_with(FAKE, &spec) {
        Err(SpawnError::Timeout { pid, .. }) => assert_reaped(pid),
        other => panic!("expected Timeout, got {other:?}"),
    }
}

#[test]
fn exit_without_bye_is_reported_as_an_exit() {
    let _w = watchdog(30);
    let mut sut = fake("fake_no_bye");
    assert_eq!(round_trip(&mut sut, items(0..2)).len(), 2);
    sut.sender.end().unwrap();
    match sut.receiver.recv() {
        WorkerEvent::Exited(ExitCause::Code(0)) => {}
        other => panic!("expected Exited(Code(0)), got {other:?}"),
    }
}

#[test]
fn rings_are_handed_over_as_inherited_descriptors() {
    // The worker opens its rings through descriptors it inherited, never through this
    // process's /proc/<pid>/fd.
    let _w = watchdog(30);
    let rings: Vec<_> = (0..3)
        .map(|_| std::sync::Arc::new(skorche_worker::rings::Ring::create(1 << 16).unwrap()))
        .collect();
    let mut spec = fake_spec("fake_welcome");
    spec.rings = rings.clone();
    spec.output_ring = Some(2);
    let mut sut = start_with(FAKE, &spec).expect("start fake worker");
    let res = round_trip(&mut sut, items(0..1));
    let ItemResult::Done { outputs, .. } = &res[0] else {
        panic!("{res:?}")
    };
    let text: String = skorche_worker::codec::decode_payload(&outputs[0], &[]).unwrap();
    assert_eq!(text.matches("Inherited").count(), 3, "{text}");
    assert!(!text.contains("Memfd") && !text.contains("Named"), "{text}");
    for ring in &rings {
        assert!(text.contains(&format!("{:?}", ring.id())), "{text}");
    }
    finish(sut);
}
