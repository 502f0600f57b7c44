//! Every operation next to a process stage: thread mode and process mode give the same
//! results; ordering, markers, large payloads (shm and inline) and per-worker params
//! cross the process boundary.
#[path = "support/process.rs"]
mod support;

use std::sync::{Mutex, MutexGuard};

use skorche::worker::builtin;
use skorche::{Chain, Pipeline, Placement, Queue, TaskStage};
use support::*;

/// Each test checks that no child is left: they run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where the registered-task stages of a scenario run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Threads,
    Processes,
}

/// Runs the stage producing `q` on `n` threads or in `n` worker processes.
fn par<T: Send + 'static>(q: Queue<T, TaskStage>, mode: Mode, n: usize) -> Queue<T> {
    match mode {
        Mode::Threads => q.workers(n).into_any(),
        Mode::Processes => q.processes(n).into_any(),
    }
}

fn pipeline() -> Pipeline {
    let p = Pipeline::new();
    p.worker_program(TEST_WORKER);
    p
}

/// Runs `scenario` in both modes (under a watchdog) and checks that the results are the
/// same multiset; returns them sorted.
fn both_modes<T: Ord + std::fmt::Debug + Send + 'static>(
    scenario: impl Fn(&Pipeline, Mode) -> Queue<T>,
) -> Vec<T> {
    let _serial = serial();
    let _dog = Watchdog::arm("process_ops scenario", LIMIT);
    let mut results = Vec::new();
    for mode in [Mode::Threads, Mode::Processes] {
        let p = pipeline();
        let q = scenario(&p, mode);
        let mut v: Vec<T> = p
            .run_iter(q)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        v.sort();
        results.push(v);
    }
    assert_no_children();
    let processes = results.pop().unwrap();
    let threads = results.pop().unwrap();
    assert_eq!(threads, processes, "thread mode and process mode differ");
    threads
}

#[test]
fn filter_after_a_process_stage() {
    let v = both_modes(|p, m| {
        let q = p.source(0..2_000u64).map_task(&builtin::IDENTITY_U64);
        par(q, m, 2).filter(|x| x % 3 == 0)
    });
    assert_eq!(v, (0..2_000).filter(|x| x % 3 == 0).collect::<Vec<_>>());
}

#[test]
fn filter_and_flat_map_before_a_process_stage() {
    let v = both_modes(|p, m| {
        let q = p
            .source(0..500u64)
            .filter(|x| x % 2 == 0)
            .flat_map(|x| [x, x + 10_000])
            .map_task(&builtin::IDENTITY_U64);
        par(q, m, 2)
    });
    let mut expected: Vec<u64> = (0..500)
        .filter(|x| x % 2 == 0)
        .flat_map(|x| [x, x + 10_000])
        .collect();
    expected.sort();
    assert_eq!(v, expected);
}

#[test]
fn flat_map_task_repeat_n_in_processes() {
    let v = both_modes(|p, m| {
        let q = p.source(0..40u64).map_task(&builtin::REPEAT_N);
        par(q, m, 2).flat_map(|x| [x])
    });
    let expected: Vec<u64> = (0..40u64)
        .flat_map(|n| std::iter::repeat_n(n, n as usize))
        .collect();
    assert_eq!(v, expected);
}

#[test]
fn split_and_merge_around_process_stages() {
    let v = both_modes(|p, m| {
        let (even, odd) = p.source(0..1_000u64).split(|x| x % 2 == 0);
        let even = par(even.map_task(&builtin::IDENTITY_U64), m, 2).map(|x| x * 10);
        let odd = par(odd.map_task(&builtin::SLEEP_JITTER), m, 1).map(|x| x + 1);
        let merged = p.merge([even, odd]);
        par(merged.map_task(&builtin::IDENTITY_U64), m, 2)
    });
    let mut expected: Vec<u64> = (0..1_000u64)
        .map(|x| if x % 2 == 0 { x * 10 } else { x + 1 })
        .collect();
    expected.sort();
    assert_eq!(v, expected);
}

#[test]
fn batch_and_unbatch_around_a_process_stage() {
    let v = both_modes(|p, m| {
        let q = p
            .source(0..1_003u64)
            .batch(7)
            .unbatch()
            .map_task(&builtin::IDENTITY_U64);
        // Which items share a batch after 2 processes depends on timing: compare items.
        par(q, m, 2).batch(5).flat_map(|b| {
            assert!(!b.is_empty() && b.len() <= 5, "batch of {}", b.len());
            b
        })
    });
    assert_eq!(v, (0..1_003).collect::<Vec<_>>());
}

#[test]
fn zip_of_a_process_stage_with_a_thread_stage() {
    // One process keeps the order (like one thread), so zip pairs item i with item i.
    let v = both_modes(|p, m| {
        let (a, b) = p.source(0..600u64).split(|x| x % 2 == 0);
        let a = par(a.map_task(&builtin::SLEEP_JITTER), m, 1);
        let b = b.map(|x| x * 3);
        p.zip(a, b)
    });
    let expected: Vec<(u64, u64)> = (0..300u64).map(|i| (2 * i, 3 * (2 * i + 1))).collect();
    assert_eq!(v, expected);
}

#[test]
fn chain_after_a_process_stage() {
    let v = both_modes(|p, m| {
        let q = par(p.source(0..300u64).map_task(&builtin::IDENTITY_U64), m, 2);
        let steps = Chain::new("double", |x: u64| Ok::<_, std::convert::Infallible>(x * 2))
            .then("show", |x: u64| {
                Ok::<_, std::convert::Infallible>(format!("{x:05}"))
            });
        q.chain(steps)
    });
    let expected: Vec<String> = (0..300u64).map(|x| format!("{:05}", x * 2)).collect();
    assert_eq!(v, expected);
}

#[test]
fn order_save_and_load_across_a_process_stage() {
    let _serial = serial();
    let _dog = Watchdog::arm("ordering", LIMIT);
    let p = pipeline();
    let (q, point) = p.source(0..1_000u64).order_save(32);
    let q = q
        .map_task(&builtin::SLEEP_JITTER)
        .processes(3)
        .process_batching(4, 2)
        .order_load(point);
    let v: Vec<u64> = p.run_iter(q).unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(v, (0..1_000).collect::<Vec<_>>());
    assert_no_children();
}

#[test]
fn ordered_process_stage_keeps_the_input_order() {
    let _serial = serial();
    let _dog = Watchdog::arm("ordered", LIMIT);
    let p = pipeline();
    let q = p
        .source(0..1_000u64)
        .map_task(&builtin::SLEEP_JITTER)
        .processes(3)
        .process_batching(2, 2)
        .ordered();
    let v: Vec<u64> = p.run_iter(q).unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(v, (0..1_000).collect::<Vec<_>>());
    assert_no_children();
}

#[test]
fn markers_keep_their_place_through_a_one_process_stage() {
    let _serial = serial();
    let _dog = Watchdog::arm("markers", LIMIT);
    let p = pipeline();
    let (q, m) = p.source(0..60u64).insert_periodic(5, Placement::After);
    let q = q.map_task(&builtin::SLEEP_JITTER).processes(1);
    let mut out = p.run_iter(q).unwrap();
    for segment in 0..12u64 {
        let got: Vec<u64> = out.until(m).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            got,
            (segment * 5..segment * 5 + 5).collect::<Vec<_>>(),
            "segment {segment}"
        );
    }
    drop(out);
    assert_no_children();
}

const MIB8: u64 = 8 << 20;

fn large_payloads(inline: bool, checksum_in_thread_stage: bool) {
    let _serial = serial();
    let _dog = Watchdog::arm("large payloads", LIMIT);
    let shm = shm_entries();
    let p = pipeline();
    let items: Vec<(u64, u64)> = (0..12u64).map(|s| (s * 7919 + 1, MIB8 + s)).collect();
    let mut q = p
        .source(items.clone())
        .map_task(&builtin::PRODUCE_BYTES)
        .processes(2);
    if inline {
        q = q.shm_threshold(usize::MAX);
    }
    let mut got: Vec<u64> = if checksum_in_thread_stage {
        let sums = q.map_task(&builtin::CHECKSUM_BYTES).workers(2);
        p.run_iter(sums).unwrap().collect::<Result<_, _>>().unwrap()
    } else {
        p.run_iter(q)
            .unwrap()
            .map(|r| {
                let bytes = r.unwrap();
                assert!(bytes.len() as u64 >= MIB8);
                builtin::checksum(&bytes)
            })
            .collect()
    };
    let mut expected: Vec<u64> = items
        .iter()
        .map(|&it| builtin::checksum(&builtin::produce_bytes(it)))
        .collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
    assert_no_children();
    assert_no_new_shm(&shm);
}

#[test]
fn large_payloads_via_shm_checksummed_in_a_thread_stage() {
    large_payloads(false, true);
}

#[test]
fn large_payloads_via_shm_checksummed_in_the_driver() {
    large_payloads(false, false);
}

#[test]
fn large_payloads_forced_inline() {
    large_payloads(true, false);
}

#[test]
fn per_worker_params_cross_the_process_boundary() {
    let v = both_modes(|p, m| {
        // k beyond the input: never fails, in every worker.
        let q = p
            .source(0..2_000u64)
            .map_task(builtin::FAIL_ON.bind_with(&1_000_000u64));
        par(q, m, 2)
    });
    assert_eq!(v, (0..2_000).collect::<Vec<_>>());
}
