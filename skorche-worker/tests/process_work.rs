//! Work through a real worker process: many small items, flat-map, failures, large payloads.

mod support;

use skorche_worker::builtin;
use skorche_worker::client::{WorkerEvent, WorkerProcess};
use skorche_worker::codec;
use skorche_worker::protocol::{FailureKind, ItemResult, Payload, WorkItem};
use skorche_worker::rings::Ring;
use std::time::Duration;
use support::*;

#[test]
fn hundred_thousand_identity_items_come_back_complete() {
    let _w = watchdog(60);
    let (tx, mut rx, handle) = spawn(&builtin::IDENTITY_U64.bind()).split();
    const N: u64 = 100_000;
    const BATCH: u64 = 256;
    let feeder = std::thread::spawn(move || {
        let mut i = 0;
        while i < N {
            let end = (i + BATCH).min(N);
            tx.send(items(i..end)).expect("send");
            i = end;
        }
        tx.end().expect("end");
    });
    let mut seen = vec![false; N as usize];
    let mut count = 0;
    loop {
        match rx.recv().expect("recv") {
            WorkerEvent::Results(results) => {
                for r in &results {
                    let (seq, outs) = done_u64(r);
                    assert_eq!(outs, vec![seq]);
                    assert!(!seen[seq as usize], "duplicate {seq}");
                    seen[seq as usize] = true;
                    count += 1;
                }
            }
            WorkerEvent::Finished { status } => {
                assert!(status.success());
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    feeder.join().unwrap();
    assert_eq!(count, N);
    assert!(handle.wait().success());
}

#[test]
fn flat_map_gives_zero_or_more_outputs_per_input() {
    let _w = watchdog(30);
    let mut sut = spawn(&builtin::REPEAT_N.bind());
    sut.send(items(0..5)).unwrap();
    let got: Vec<_> = results(&mut sut).iter().map(done_u64).collect();
    assert_eq!(
        got,
        vec![
            (0, vec![]),
            (1, vec![1]),
            (2, vec![2, 2]),
            (3, vec![3, 3, 3]),
            (4, vec![4; 4])
        ]
    );
    finish(sut);
}

#[test]
fn task_error_is_reported_with_seq_and_message() {
    let _w = watchdog(30);
    let mut sut = spawn(&builtin::FAIL_ON.bind_with(&3u64));
    sut.send(items(0..6)).unwrap();
    let res = results(&mut sut);
    assert_eq!(res.len(), 6);
    match &res[3] {
        ItemResult::Failed { seq: 3, failure } => {
            assert_eq!(failure.kind, FailureKind::Error);
            assert!(failure.message.contains("item 3"), "{failure}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(done_u64(&res[4]), (4, vec![4]));
    finish(sut);
}

#[test]
fn panic_is_reported_with_seq_and_message_and_worker_goes_on() {
    let _w = watchdog(30);
    let mut sut = spawn(&builtin::PANIC_ON.bind_with(&2u64));
    sut.send(items(0..4)).unwrap();
    let res = results(&mut sut);
    match &res[2] {
        ItemResult::Failed { seq: 2, failure } => {
            assert_eq!(failure.kind, FailureKind::Panic);
            assert!(failure.message.contains("panicking on item 2"), "{failure}");
        }
        other => panic!("{other:?}"),
    }
    sut.send(items(10..11)).unwrap();
    assert_eq!(done_u64(&results(&mut sut)[0]), (10, vec![10]));
    finish(sut);
}

#[test]
fn garbage_payload_fails_the_item_not_the_worker() {
    let _w = watchdog(30);
    let mut sut = spawn(&builtin::IDENTITY_U64.bind());
    let bad = vec![
        WorkItem {
            seq: 7,
            payload: Payload::Inline(vec![0xff; 3]),
        },
        WorkItem {
            seq: 8,
            payload: Payload::Inline(vec![]),
        },
        WorkItem {
            seq: 9,
            payload: inline(9u64),
        },
    ];
    sut.send(bad).unwrap();
    let res = results(&mut sut);
    for r in &res[..2] {
        match r {
            ItemResult::Failed { failure, .. } => assert_eq!(failure.kind, FailureKind::Codec),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(done_u64(&res[2]), (9, vec![9]));
    finish(sut);
}

#[test]
fn forged_shm_handle_in_work_fails_the_item() {
    let _w = watchdog(30);
    let mut sut = spawn(&builtin::CHECKSUM_BYTES.bind());
    let forged = skorche_worker::rings::Handle {
        ring: skorche_worker::rings::RingId(42),
        offset: 1 << 40,
        len: 1 << 40,
        generation: 1,
    };
    sut.send(vec![WorkItem {
        seq: 1,
        payload: Payload::Shm(forged),
    }])
    .unwrap();
    match &results(&mut sut)[0] {
        ItemResult::Failed { seq: 1, failure } => assert_eq!(failure.kind, FailureKind::Codec),
        other => panic!("{other:?}"),
    }
    finish(sut);
}

#[test]
fn large_outputs_come_back_through_the_ring() {
    large_outputs(&builtin::PRODUCE_BYTES);
}

#[test]
fn in_place_outputs_come_back_through_the_ring() {
    large_outputs(&builtin::PRODUCE_BYTES_IN_PLACE);
}

fn large_outputs(task: &'static skorche_worker::registry::TaskDef<(u64, u64), Vec<u8>>) {
    let _w = watchdog(60);
    const LEN: u64 = 8 << 20;
    let ring = Ring::create(20 << 20).expect("create ring");
    let mut spec = spec("big", &task.bind());
    spec.rings = vec![ring.descriptor()];
    spec.output_ring = Some(0);
    spec.shm_threshold = 64 * 1024;
    let mut sut = WorkerProcess::spawn(&spec).expect("spawn");
    let rings = [ring];
    // More bytes than the ring holds in total: the worker must wait for releases.
    for seed in 0..6u64 {
        sut.send(vec![WorkItem {
            seq: seed,
            payload: inline((seed, LEN)),
        }])
        .unwrap();
        let res = results(&mut sut);
        let ItemResult::Done { seq, outputs } = &res[0] else {
            panic!("{res:?}")
        };
        assert_eq!(*seq, seed);
        let Payload::Shm(h) = &outputs[0] else {
            panic!("expected shm output, got inline")
        };
        assert_eq!(h.len, LEN);
        let sum = codec::read_shm(h, &rings, |b| Ok(builtin::checksum(b))).expect("read");
        assert_eq!(sum, builtin::checksum(&builtin::produce_bytes((seed, LEN))));
    }
    // Small outputs stay inline.
    sut.send(vec![WorkItem {
        seq: 99,
        payload: inline((1u64, 100u64)),
    }])
    .unwrap();
    let res = results(&mut sut);
    let ItemResult::Done { outputs, .. } = &res[0] else {
        panic!("{res:?}")
    };
    let bytes: Vec<u8> = codec::decode_payload(&outputs[0], &rings).unwrap();
    assert!(matches!(outputs[0], Payload::Inline(_)));
    assert_eq!(bytes, builtin::produce_bytes((1, 100)));
    finish(sut);
}

#[test]
fn shm_input_is_read_in_place_and_released() {
    let _w = watchdog(60);
    let ring = Ring::create(4 << 20).expect("create ring");
    let mut spec = spec("in", &builtin::CHECKSUM_BYTES.bind());
    spec.rings = vec![ring.descriptor()];
    let mut sut = WorkerProcess::spawn(&spec).expect("spawn");
    for seed in 0..8u64 {
        let data = builtin::produce_bytes((seed, 1 << 20));
        let payload =
            codec::encode_payload(data.clone(), Some(&ring), 1024, Duration::from_secs(5)).unwrap();
        assert!(matches!(payload, Payload::Shm(_)));
        sut.send(vec![WorkItem { seq: seed, payload }]).unwrap();
        assert_eq!(
            done_u64(&results(&mut sut)[0]),
            (seed, vec![builtin::checksum(&data)])
        );
    }
    finish(sut);
    drop(ring);
}

#[test]
fn dropping_a_worker_process_kills_and_reaps_it() {
    let _w = watchdog(30);
    let sut = spawn(&builtin::SLEEP_JITTER.bind());
    let pid = sut.pid();
    sut.send(items(0..50)).unwrap();
    drop(sut);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} not reaped"
    );
}

#[test]
fn shm_output_is_forwarded_untouched_to_another_worker() {
    let _w = watchdog(60);
    const LEN: u64 = 4 << 20;
    let ring = Ring::create(16 << 20).expect("create ring");
    let mut producer_spec = spec("produce", &builtin::PRODUCE_BYTES.bind());
    producer_spec.rings = vec![ring.descriptor()];
    producer_spec.output_ring = Some(0);
    let mut consumer_spec = spec("checksum", &builtin::CHECKSUM_BYTES.bind());
    consumer_spec.rings = vec![ring.descriptor()];
    let mut producer = WorkerProcess::spawn(&producer_spec).expect("spawn producer");
    let mut consumer = WorkerProcess::spawn(&consumer_spec).expect("spawn consumer");
    // 8 × 4 MiB through a 16 MiB ring: only works if the consumer releases what it reads.
    for seed in 0..8u64 {
        producer
            .send(vec![WorkItem {
                seq: seed,
                payload: inline((seed, LEN)),
            }])
            .unwrap();
        let res = results(&mut producer);
        let ItemResult::Done { outputs, .. } = &res[0] else {
            panic!("{res:?}")
        };
        assert!(matches!(outputs[0], Payload::Shm(_)));
        consumer
            .send(vec![WorkItem {
                seq: seed,
                payload: outputs[0].clone(),
            }])
            .unwrap();
        let expected = builtin::checksum(&builtin::produce_bytes((seed, LEN)));
        assert_eq!(done_u64(&results(&mut consumer)[0]), (seed, vec![expected]));
    }
    finish(producer);
    finish(consumer);
}
