//! Work through a real worker process: many small items, flat-map, failures, large payloads.

mod support;

use skorche_worker::builtin;
use skorche_worker::codec;
use skorche_worker::protocol::{FailureKind, Payload};
use skorche_worker::rings::Ring;
use skorche_worker::transport::{ExitCause, WorkerEvent};
use std::sync::Arc;
use std::time::Duration;
use support::*;

#[test]
fn hundred_thousand_identity_items_come_back_complete() {
    let _w = watchdog(60);
    let link = spawn(&builtin::IDENTITY_U64.bind());
    let (mut tx, mut rx, control) = (link.sender, link.receiver, link.control);
    const N: u64 = 100_000;
    const BATCH: u64 = 256;
    let feeder = std::thread::spawn(move || {
        let mut i = 0;
        while i < N {
            let end = (i + BATCH).min(N);
            tx.send(work(i / BATCH, items(i..end)))
                .map_err(|(_, e)| e)
                .expect("send");
            i = end;
        }
        tx.end().expect("end");
    });
    let mut seen = vec![false; N as usize];
    let mut count = 0;
    loop {
        match rx.recv() {
            WorkerEvent::Results(part) => {
                let base = part.batch * BATCH;
                for (i, r) in split_part(&part, |i| base + i as u64).iter().enumerate() {
                    assert_eq!(
                        r.seq(),
                        part.batch * BATCH + u64::from(part.first) + i as u64
                    );
                    let (seq, outs) = done_u64(r);
                    assert_eq!(outs, vec![seq]);
                    assert!(!seen[seq as usize], "duplicate {seq}");
                    seen[seq as usize] = true;
                    count += 1;
                }
            }
            WorkerEvent::Finished => break,
            other => panic!("{other:?}"),
        }
    }
    feeder.join().unwrap();
    assert_eq!(count, N);
    assert_eq!(control.wait(), ExitCause::Code(0));
}

#[test]
fn flat_map_gives_zero_or_more_outputs_per_input() {
    let _w = watchdog(30);
    let mut sut = spawn(&builtin::REPEAT_N.bind());
    let got: Vec<_> = round_trip(&mut sut, items(0..5))
        .iter()
        .map(done_u64)
        .collect();
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
    let res = round_trip(&mut sut, items(0..6));
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
    let res = round_trip(&mut sut, items(0..4));
    match &res[2] {
        ItemResult::Failed { seq: 2, failure } => {
            assert_eq!(failure.kind, FailureKind::Panic);
            assert!(failure.message.contains("panicking on item 2"), "{failure}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        done_u64(&round_trip(&mut sut, items(10..11))[0]),
        (10, vec![10])
    );
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
    let res = round_trip(&mut sut, bad);
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
    let res = round_trip(
        &mut sut,
        vec![WorkItem {
            seq: 1,
            payload: Payload::Shm(forged),
        }],
    );
    match &res[0] {
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
    let ring = Arc::new(Ring::create(20 << 20).expect("create ring"));
    let mut spec = spec("big", &task.bind());
    spec.rings = vec![ring.clone()];
    spec.output_ring = Some(0);
    spec.shm_threshold = 64 * 1024;
    let mut sut = start(&spec);
    let rings = std::slice::from_ref(&*ring);
    // More bytes than the ring holds in total: the worker must wait for releases.
    for seed in 0..6u64 {
        let res = round_trip(
            &mut sut,
            vec![WorkItem {
                seq: seed,
                payload: inline((seed, LEN)),
            }],
        );
        let ItemResult::Done { seq, outputs } = &res[0] else {
            panic!("{res:?}")
        };
        assert_eq!(*seq, seed);
        let Payload::Shm(h) = &outputs[0] else {
            panic!("expected shm output, got inline")
        };
        assert_eq!(h.len, LEN);
        let sum = codec::read_shm(h, rings, |b| Ok(builtin::checksum(b))).expect("read");
        assert_eq!(sum, builtin::checksum(&builtin::produce_bytes((seed, LEN))));
    }
    // Small outputs stay inline.
    let res = round_trip(
        &mut sut,
        vec![WorkItem {
            seq: 99,
            payload: inline((1u64, 100u64)),
        }],
    );
    let ItemResult::Done { outputs, .. } = &res[0] else {
        panic!("{res:?}")
    };
    let bytes: Vec<u8> = codec::decode_payload(&outputs[0], rings).unwrap();
    assert!(matches!(outputs[0], Payload::Inline(_)));
    assert_eq!(bytes, builtin::produce_bytes((1, 100)));
    finish(sut);
}

#[test]
fn shm_input_is_read_in_place_and_released() {
    let _w = watchdog(60);
    let ring = Arc::new(Ring::create(4 << 20).expect("create ring"));
    let mut spec = spec("in", &builtin::CHECKSUM_BYTES.bind());
    spec.rings = vec![ring.clone()];
    let mut sut = start(&spec);
    for seed in 0..8u64 {
        let data = builtin::produce_bytes((seed, 1 << 20));
        let payload =
            codec::encode_payload(data.clone(), Some(&ring), 1024, Duration::from_secs(5)).unwrap();
        assert!(matches!(payload, Payload::Shm(_)));
        let res = round_trip(&mut sut, vec![WorkItem { seq: seed, payload }]);
        assert_eq!(done_u64(&res[0]), (seed, vec![builtin::checksum(&data)]));
    }
    finish(sut);
}

#[test]
fn dropping_a_worker_link_kills_and_reaps_it() {
    let _w = watchdog(30);
    let mut sut = spawn(&builtin::SLEEP_JITTER.bind());
    let pid = pid(&sut);
    send(&mut sut, 0, items(0..50));
    drop(sut);
    assert_reaped(pid);
}

#[test]
fn shm_output_is_forwarded_untouched_to_another_worker() {
    let _w = watchdog(60);
    const LEN: u64 = 4 << 20;
    let ring = Arc::new(Ring::create(16 << 20).expect("create ring"));
    let mut producer_spec = spec("produce", &builtin::PRODUCE_BYTES.bind());
    producer_spec.rings = vec![ring.clone()];
    producer_spec.output_ring = Some(0);
    let mut consumer_spec = spec("checksum", &builtin::CHECKSUM_BYTES.bind());
    consumer_spec.rings = vec![ring.clone()];
    let mut producer = start(&producer_spec);
    let mut consumer = start(&consumer_spec);
    // 8 × 4 MiB through a 16 MiB ring: only works if the consumer releases what it reads.
    for seed in 0..8u64 {
        let res = round_trip(
            &mut producer,
            vec![WorkItem {
                seq: seed,
                payload: inline((seed, LEN)),
            }],
        );
        let ItemResult::Done { outputs, .. } = &res[0] else {
            panic!("{res:?}")
        };
        assert!(matches!(outputs[0], Payload::Shm(_)));
        let res = round_trip(
            &mut consumer,
            vec![WorkItem {
                seq: seed,
                payload: outputs[0].clone(),
            }],
        );
        let expected = builtin::checksum(&builtin::produce_bytes((seed, LEN)));
        assert_eq!(done_u64(&res[0]), (seed, vec![expected]));
    }
    finish(producer);
    finish(consumer);
}

#[test]
fn a_long_batch_is_answered_in_parts() {
    let _w = watchdog(60);
    let mut sut = spawn(&builtin::SLEEP_JITTER.bind());
    // 200 items of 1–4 ms each: about half a second of work in one batch.
    send(&mut sut, 7, items(0..200));
    let t0 = std::time::Instant::now();
    let mut parts = Vec::new();
    let mut seen = 0u32;
    loop {
        let p = part(&mut sut);
        assert_eq!(p.batch, 7);
        assert_eq!(p.first, seen, "parts are contiguous and in order");
        for (i, r) in split_part(&p, |i| i as u64).iter().enumerate() {
            assert_eq!(
                done_u64(r),
                (
                    u64::from(p.first) + i as u64,
                    vec![u64::from(p.first) + i as u64]
                )
            );
        }
        seen += p.outcomes.len() as u32;
        parts.push((t0.elapsed(), p.outcomes.len(), p.busy_ns));
        if p.last {
            break;
        }
        assert!(!p.outcomes.is_empty(), "only the last part may be empty");
    }
    assert_eq!(seen, 200);
    // Every item sleeps at least 1 ms, and finished results go out while the next item runs:
    // the coordinator sees progress all along, not one answer at the end. (No bound on a
    // part's size: on a loaded machine the worker's threads may run late.)
    assert!(parts.len() >= 10, "{} parts: {parts:?}", parts.len());
    let (first_at, last_at) = (parts[0].0, parts[parts.len() - 1].0);
    assert!(
        first_at < last_at / 2,
        "first part at {first_at:?}, last at {last_at:?}"
    );
    // Each part reports the time spent on its own items.
    assert!(
        parts
            .iter()
            .all(|&(_, n, busy)| busy >= n as u64 * 1_000_000),
        "{parts:?}"
    );
    finish(sut);
}

#[test]
fn an_empty_batch_gets_one_empty_last_part() {
    let _w = watchdog(30);
    let mut sut = spawn(&builtin::IDENTITY_U64.bind());
    send(&mut sut, 3, Vec::new());
    let p = part(&mut sut);
    assert_eq!(
        (p.batch, p.first, p.outcomes.len(), p.last),
        (3, 0, 0, true)
    );
    finish(sut);
}

#[test]
fn ring_outputs_are_handed_over_item_by_item() {
    let _w = watchdog(60);
    const LEN: u64 = 8 << 20;
    // One batch of 6 × 8 MiB through a 20 MiB ring: the worker must hand over each record as
    // soon as it is stored (in a part of its own), or it would wait forever for room.
    let ring = Arc::new(Ring::create(20 << 20).expect("create ring"));
    let mut spec = spec("parts", &builtin::PRODUCE_BYTES.bind());
    spec.rings = vec![ring.clone()];
    spec.output_ring = Some(0);
    let mut sut = start(&spec);
    let batch: Vec<WorkItem> = (0..6u64)
        .map(|seed| WorkItem {
            seq: seed,
            payload: inline((seed, LEN)),
        })
        .collect();
    send(&mut sut, 1, batch);
    let mut seed = 0u64;
    loop {
        let p = part(&mut sut);
        assert_eq!((p.batch, p.first), (1, seed as u32));
        assert!(
            p.outcomes.len() <= 1,
            "a ring record waited for the next item: {p:?}"
        );
        for r in &split_part(&p, |i| i as u64) {
            let ItemResult::Done { seq, outputs } = r else {
                panic!("{p:?}")
            };
            assert_eq!(*seq, seed);
            let Payload::Shm(h) = &outputs[0] else {
                panic!("expected a ring output")
            };
            let sum = codec::read_shm(h, std::slice::from_ref(&*ring), |b| {
                Ok(builtin::checksum(b))
            })
            .expect("read");
            assert_eq!(sum, builtin::checksum(&builtin::produce_bytes((seed, LEN))));
            seed += 1;
        }
        if p.last {
            break;
        }
    }
    assert_eq!(seed, 6);
    finish(sut);
}

#[test]
fn an_output_larger_than_the_ring_travels_inline() {
    let _w = watchdog(60);
    const LEN: u64 = 3 << 20;
    let ring = Arc::new(Ring::create(1 << 20).expect("create ring"));
    let mut spec = spec("oversized", &builtin::PRODUCE_BYTES.bind());
    spec.rings = vec![ring.clone()];
    spec.output_ring = Some(0);
    spec.shm_threshold = 1024;
    let mut sut = start(&spec);
    let res = round_trip(
        &mut sut,
        vec![
            WorkItem {
                seq: 0,
                payload: inline((5u64, LEN)),
            },
            WorkItem {
                seq: 1,
                payload: inline((6u64, 64u64 << 10)),
            },
        ],
    );
    let rings = std::slice::from_ref(&*ring);
    let ItemResult::Done { outputs, .. } = &res[0] else {
        panic!("{res:?}")
    };
    let Payload::Inline(bytes) = &outputs[0] else {
        panic!("a value larger than the ring must travel inline")
    };
    assert_eq!(bytes.len() as u64, LEN);
    assert!(*bytes == builtin::produce_bytes((5, LEN)), "wrong bytes");
    // The next one fits: it goes through the ring again.
    let ItemResult::Done { outputs, .. } = &res[1] else {
        panic!("{res:?}")
    };
    assert!(matches!(outputs[0], Payload::Shm(_)));
    let bytes: Vec<u8> = codec::decode_payload(&outputs[0], rings).unwrap();
    assert_eq!(bytes.len(), 64 << 10);
    let first_diff = bytes
        .iter()
        .zip(builtin::produce_bytes((6, 64 << 10)))
        .position(|(a, b)| *a != b);
    assert_eq!(first_diff, None, "{:?}", outputs[0]);
    finish(sut);
}

#[test]
fn a_worker_holds_its_socket_and_maps_exactly_the_rings_it_was_given() {
    let _w = watchdog(30);
    // Two rings given, one not: the worker maps the two, through descriptors it inherited
    // (no access to this process's /proc/<pid>/fd), and keeps no ring descriptor open.
    let given: Vec<_> = (0..2)
        .map(|_| Arc::new(Ring::create(1 << 20).expect("ring")))
        .collect();
    let _other = Ring::create(1 << 20).expect("ring");
    let mut spec = spec("census", &builtin::FD_CENSUS.bind());
    spec.rings = given.clone();
    spec.output_ring = Some(1);
    let mut sut = start(&spec);
    let res = round_trip(&mut sut, items(0..1));
    let ItemResult::Done { outputs, .. } = &res[0] else {
        panic!("{res:?}")
    };
    let (targets, mapped): (Vec<String>, u64) = codec::decode_payload(&outputs[0], &[]).unwrap();
    assert_eq!(mapped, 2, "memfds mapped by the worker");
    // Its socket to us (and the clone it reads from), nothing else: no memfd, no pipe, no
    // other worker's socket.
    assert_eq!(targets.len(), 2, "{targets:?}");
    assert!(
        targets.iter().all(|t| t.starts_with("socket:")),
        "{targets:?}"
    );
    finish(sut);
}
