//! Zero-copy payloads through the public API, with real worker processes: the driver reads
//! large outputs in place as `ShmBytes` / `ShmSlice<f32>`, holds them as long as it likes
//! (backpressure, never an error), after the run and after their worker died; tasks read
//! their inputs in place.

#[path = "support/process.rs"]
mod process;
mod support;

use std::time::Duration;

use process::{mapped_rings, TEST_WORKER};
use skorche::worker::builtin::{
    self, checksum, f32_pattern, produce_bytes, CHECKSUM_IN_PLACE, PRODUCE_BYTES,
    PRODUCE_BYTES_IN_PLACE,
};
use skorche::{Pipeline, ShmBytes, ShmSlice};

const MIB: u64 = 1 << 20;

/// The tests of this file run one at a time: they count the rings this process maps.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn pipeline() -> Pipeline {
    let p = Pipeline::new();
    p.worker_program(TEST_WORKER);
    p
}

/// Values held past the end of the run read the right bytes, are not counted as leaks, and
/// dropping them later releases everything: no ring stays mapped, nothing in /dev/shm.
#[test]
fn values_held_after_the_run_stay_valid_and_are_not_leaks() {
    let _serial = serial();
    support::watchdog(|| {
        let shm_before = process::shm_entries();
        let held = {
            let p = pipeline();
            let out = p
                .source((0..24u64).map(|seed| (seed, MIB + seed)))
                .map_task_as::<_, ShmBytes>(&PRODUCE_BYTES_IN_PLACE)
                .processes(2)
                .name("produce");
            let (held, report) = p.run_iter(out).unwrap().collect_report().unwrap();
            let stage = report.stage("produce").unwrap();
            assert_eq!(stage.via_shm, 24, "every value went through a ring");
            assert_eq!(
                stage.ring_bytes_left, 0,
                "records held by values are not leaks: {report}"
            );
            held
        };
        // The pipeline is gone; the values keep their rings mapped.
        assert!(mapped_rings() >= 1);
        let mut by_len = held;
        by_len.sort_by_key(|b| b.len());
        for (seed, bytes) in by_len.iter().enumerate() {
            let seed = seed as u64;
            assert!(bytes.in_ring(), "{bytes:?}");
            assert_eq!(bytes.len() as u64, MIB + seed);
            assert_eq!(
                checksum(bytes),
                checksum(&produce_bytes((seed, MIB + seed)))
            );
        }
        let first = by_len.remove(0);
        let copy = first.clone().into_vec();
        assert_eq!(copy, produce_bytes((0, MIB)), "into_vec equals the content");
        assert_eq!(first, copy);
        drop(first);
        drop(by_len);
        assert_eq!(mapped_rings(), 0, "dropping the last value unmaps its ring");
        process::assert_no_new_shm(&shm_before);
    });
}

/// One worker, a 4 MiB ring that holds three 1 MiB records: while the driver holds three
/// values, the fourth cannot be written and does not come (the worker waits, it does not
/// fall back to sending inline, nothing fails); once they are dropped, all 100 arrive.
#[test]
fn holding_values_is_backpressure_on_the_worker() {
    let _serial = serial();
    support::watchdog(|| {
        let p = pipeline();
        let out = p
            .source((0..100u64).map(|seed| (seed, MIB)))
            .map_task_as::<_, ShmBytes>(&PRODUCE_BYTES_IN_PLACE)
            .processes(1)
            .ring_capacity(4 * MIB as usize)
            .name("produce");
        let mut out = p.run_iter(out).unwrap();
        let held: Vec<ShmBytes> = (0..3).map(|_| out.next().unwrap().unwrap()).collect();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut rest = Vec::new();
            for (i, v) in out.by_ref().enumerate() {
                let v = v.expect("holding values never fails the run");
                assert!(v.in_ring(), "value {} travelled inline: {v:?}", i + 3);
                assert_eq!(
                    checksum(&v),
                    checksum(&produce_bytes(((i + 3) as u64, MIB)))
                );
                if i == 0 {
                    tx.send(()).unwrap();
                }
                rest.push(checksum(&v)); // each value is dropped here: the worker goes on
            }
            rest.len()
        });
        // The ring is full of the three held records: no fourth value can exist yet. (The
        // wait only gives a wrong implementation time to show itself.)
        assert!(
            rx.recv_timeout(Duration::from_millis(500)).is_err(),
            "a fourth value arrived while three 1 MiB records held a 4 MiB ring"
        );
        for (seed, v) in held.iter().enumerate() {
            assert_eq!(checksum(v), checksum(&produce_bytes((seed as u64, MIB))));
        }
        drop(held);
        rx.recv()
            .expect("the fourth value comes once the held ones are dropped");
        assert_eq!(reader.join().unwrap(), 97);
    });
}

/// 100 values of 1 MiB through 2 workers with 4 MiB rings while the driver keeps a window of
/// recent values and now and then stops reading: every value arrives once, in a ring, intact.
#[test]
fn a_driver_holding_values_slows_workers_and_loses_nothing() {
    let _serial = serial();
    support::watchdog(|| {
        let p = pipeline();
        let out = p
            .source((0..100u64).map(|seed| (seed, MIB)))
            .map_task_as::<_, ShmBytes>(&PRODUCE_BYTES_IN_PLACE)
            .processes(2)
            .ring_capacity(4 * MIB as usize)
            .name("produce");
        let want: std::collections::BTreeSet<u64> = (0..100)
            .map(|seed| checksum(&produce_bytes((seed, MIB))))
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        let mut window = std::collections::VecDeque::new();
        let mut out = p.run_iter(out).unwrap();
        for (i, v) in out.by_ref().enumerate() {
            let v = v.expect("holding values never fails the run");
            assert!(v.in_ring(), "{v:?}");
            assert!(seen.insert(checksum(&v)), "a value arrived twice");
            window.push_back(v);
            // Two per ring at most, released oldest first: a ring always has room for one
            // more record, so the driver never waits on records it holds itself.
            if window.len() > 2 {
                window.pop_front();
            }
            if i % 10 == 0 {
                // Workers fill their rings and wait meanwhile.
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        assert_eq!(seen, want);
        drop(window);
        let report = out.report().expect("the run ended without error");
        let stage = report.stage("produce").unwrap();
        assert_eq!(
            stage.via_shm, 100,
            "every output went through a ring: {report}"
        );
        assert_eq!(stage.ring_bytes_left, 0);
    });
}

/// A task reads its input in place: from the driver (copied into the worker's input ring, or
/// inline when small), forwarded from a process stage, and handed over as a handle through
/// a thread stage; the bytes are right every time and no record is left behind.
#[test]
fn in_place_inputs_get_the_right_bytes() {
    let _serial = serial();
    support::watchdog(|| {
        fn lens(seed: u64) -> u64 {
            if seed % 3 == 0 {
                100
            } else {
                MIB + seed
            }
        }
        let want: Vec<u64> = (0..30u64)
            .map(|seed| checksum(&produce_bytes((seed, lens(seed)))))
            .collect();
        let sorted = |mut v: Vec<u64>| {
            v.sort_unstable();
            v
        };

        // From the driver.
        let p = pipeline();
        let sums = p
            .source((0..30u64).map(|seed| ShmBytes::from(produce_bytes((seed, lens(seed))))))
            .map_task(&CHECKSUM_IN_PLACE)
            .processes(2)
            .name("sum");
        let (got, report) = p.run_iter(sums).unwrap().collect_report().unwrap();
        assert_eq!(sorted(got), sorted(want.clone()));
        assert_eq!(report.stage("sum").unwrap().ring_bytes_left, 0);

        // Forwarded between process stages, then through a thread stage (as a handle of the
        // producing worker's ring, read in place by the next worker).
        for through_thread in [false, true] {
            let p = pipeline();
            let bytes = p
                .source((0..30u64).map(|seed| (seed, lens(seed))))
                .map_task_as::<_, ShmBytes>(&PRODUCE_BYTES)
                .processes(2)
                .name("produce");
            let bytes = if through_thread {
                bytes.filter(|b: &ShmBytes| !b.is_empty()).name("keep")
            } else {
                bytes.into_any()
            };
            let sums = bytes.map_task(&CHECKSUM_IN_PLACE).processes(2).name("sum");
            let (got, report) = p.run_iter(sums).unwrap().collect_report().unwrap();
            assert_eq!(
                sorted(got),
                sorted(want.clone()),
                "through a thread: {through_thread}"
            );
            for stage in ["produce", "sum"] {
                let s = report.stage(stage).unwrap();
                assert_eq!(s.ring_bytes_left, 0, "{stage}: {report}");
            }
            if !through_thread {
                assert_eq!(report.stage("produce").unwrap().forwarded, 30);
            }
        }
    });
}

/// Typed `f32` arrays round-trip: stored raw by `map_slice` and `fill_slice` tasks in worker
/// processes, read in place by the driver, and the same values on threads (owned).
#[test]
fn typed_f32_arrays_round_trip() {
    let _serial = serial();
    support::watchdog(|| {
        fn n(seed: u64) -> u64 {
            if seed == 0 {
                7
            } else {
                300_000 + seed
            }
        }
        let expected = |seed: u64| {
            let mut v = vec![0f32; n(seed) as usize];
            f32_pattern(seed, &mut v);
            v
        };
        for task in [&builtin::PRODUCE_F32, &builtin::PRODUCE_F32_IN_PLACE] {
            for processes in [true, false] {
                let p = pipeline();
                let q = p
                    .source((0..6u64).map(|seed| (seed, n(seed))))
                    .map_task_as::<_, ShmSlice<f32>>(task);
                let q = if processes {
                    q.processes(2)
                } else {
                    q.workers(2)
                };
                let mut got = p.run_iter(q).unwrap().collect_report().unwrap().0;
                got.sort_by_key(|v| v.len());
                for (seed, v) in got.iter().enumerate() {
                    let seed = seed as u64;
                    assert_eq!(&v[..], &expected(seed)[..], "{} seed {seed}", task.name());
                    // Large values are read in place in a ring; small ones travel inline.
                    assert_eq!(v.in_ring(), processes && seed > 0, "{v:?}");
                }
                assert_eq!(got.remove(0).into_vec(), expected(0));
            }
        }
    });
}
