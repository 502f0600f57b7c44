//! The in-process transport: the real handshake and worker loop on a thread.

mod support;

use skorche_worker::builtin;
use skorche_worker::codec;
use skorche_worker::error::{HandshakeError, SpawnError};
use skorche_worker::protocol::Payload;
use skorche_worker::registry::TaskKind;
use skorche_worker::rings::Ring;
use skorche_worker::transport::inproc::InProcess;
use skorche_worker::transport::{ExitCause, Transport, WorkerEvent, WorkerId};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

#[test]
fn a_task_runs_end_to_end_on_a_thread() {
    let _w = watchdog(30);
    let mut sut = InProcess
        .start_worker(&spec("inproc", &builtin::IDENTITY_U64.bind()))
        .expect("start");
    assert!(matches!(sut.control.id(), WorkerId::InProcess { .. }));
    for batch in 0..10u64 {
        let res = round_trip_batch(&mut sut, batch, items(batch * 100..batch * 100 + 100));
        assert_eq!(res.len(), 100);
        for (i, r) in res.iter().enumerate() {
            let x = batch * 100 + i as u64;
            assert_eq!(done_u64(r), (x, vec![x]));
        }
    }
    sut.sender.end().expect("end");
    assert!(matches!(sut.receiver.recv(), WorkerEvent::Finished));
    assert_eq!(sut.control.wait(), ExitCause::Code(0));
    // The link is over.
    assert!(matches!(sut.receiver.recv(), WorkerEvent::Exited(_)));
}

fn round_trip_batch(
    link: &mut skorche_worker::transport::WorkerLink,
    batch: u64,
    items: Vec<WorkItem>,
) -> Vec<ItemResult> {
    send(link, batch, items);
    results_of(link, batch)
}

#[test]
fn flat_map_and_task_errors_come_back_as_in_a_process() {
    let _w = watchdog(30);
    let mut sut = InProcess
        .start_worker(&spec("inproc", &builtin::REPEAT_N.bind()))
        .expect("start");
    let got: Vec<_> = round_trip(&mut sut, items(0..4))
        .iter()
        .map(done_u64)
        .collect();
    assert_eq!(
        got,
        vec![
            (0, vec![]),
            (1, vec![1]),
            (2, vec![2, 2]),
            (3, vec![3, 3, 3])
        ]
    );
    drop(sut);
    let mut sut = InProcess
        .start_worker(&spec("inproc", &builtin::FAIL_ON.bind_with(&1u64)))
        .expect("start");
    let res = round_trip(&mut sut, items(0..3));
    assert!(
        matches!(&res[1], ItemResult::Failed { seq: 1, failure } if failure.message.contains("item 1"))
    );
    assert_eq!(done_u64(&res[2]), (2, vec![2]));
}

#[test]
fn large_outputs_go_through_a_ring() {
    let _w = watchdog(30);
    let ring = Arc::new(Ring::create(4 << 20).expect("ring"));
    let mut spec = spec("inproc-ring", &builtin::PRODUCE_BYTES.bind());
    spec.rings = vec![ring.clone()];
    spec.output_ring = Some(0);
    let mut sut = InProcess.start_worker(&spec).expect("start");
    for seed in 0..8u64 {
        let res = round_trip(
            &mut sut,
            vec![WorkItem {
                seq: seed,
                payload: inline((seed, 1u64 << 20)),
            }],
        );
        let ItemResult::Done { outputs, .. } = &res[0] else {
            panic!("{res:?}")
        };
        assert!(matches!(outputs[0], Payload::Shm(_)));
        let sum = codec::read_shm(
            outputs[0].handle().unwrap(),
            std::slice::from_ref(&*ring),
            |b| Ok(builtin::checksum(b)),
        )
        .unwrap();
        assert_eq!(
            sum,
            builtin::checksum(&builtin::produce_bytes((seed, 1 << 20)))
        );
    }
    sut.sender.end().unwrap();
    assert!(matches!(sut.receiver.recv(), WorkerEvent::Finished));
}

#[test]
fn the_handshake_is_checked() {
    let _w = watchdog(30);
    let mut s = spec("inproc", &builtin::IDENTITY_U64.bind());
    s.task.kind = TaskKind::FlatMap;
    assert!(matches!(
        InProcess.start_worker(&s),
        Err(SpawnError::Handshake(HandshakeError::KindMismatch { .. }))
    ));
    let mut s = spec("inproc", &builtin::IDENTITY_U64.bind());
    s.task.name = "no_such_task".into();
    match InProcess.start_worker(&s) {
        Err(SpawnError::Handshake(HandshakeError::UnknownTask { known, .. })) => {
            assert!(known.iter().any(|k| k == "identity_u64"), "{known:?}")
        }
        other => panic!("expected UnknownTask, got {other:?}"),
    }
}

#[test]
fn kill_ends_the_link_promptly() {
    let _w = watchdog(30);
    let mut sut = InProcess
        .start_worker(&spec("inproc", &builtin::SLEEP_JITTER.bind()))
        .expect("start");
    send(&mut sut, 0, items(0..1000));
    let _ = part(&mut sut);
    let t0 = Instant::now();
    sut.control.kill();
    loop {
        match sut.receiver.recv() {
            WorkerEvent::Results(_) => {}
            WorkerEvent::Exited(_) => break,
            other => panic!("expected Exited, got {other:?}"),
        }
    }
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
}
