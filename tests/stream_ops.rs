//! The stream operations through the public API: `tee` (with a load per branch, or one
//! after a merge), `inspect`, `fold`/`try_fold`, `scan`, `stateful`/`try_stateful`,
//! `batch_timeout`, `window`, `Pipeline::try_source`, and registered `flat_map` tasks over
//! an `Option` as a filter. In thread mode, in ordered sections, with markers, and next to
//! process stages.

#[path = "support/process.rs"]
mod process_support;
mod support;

use std::error::Error;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::sleep;
use std::time::Duration;

use skorche::worker::builtin;
use skorche::{
    Emitter, Event, FailureKind, MarkerId, Output, Pipeline, PipelineError, Placement, Queue,
    StopOutcome,
};
use support::watchdog;

/// A delay of 0 to 1.5 ms that depends on `x`: enough to reorder parallel workers.
fn jitter(x: u64) -> Duration {
    Duration::from_micros((x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 60) * 100)
}

/// `x`, after a delay chosen by `key`.
fn slow<T>(x: T, key: u64) -> T {
    sleep(jitter(key));
    x
}

fn collect<T: Send + 'static>(p: Pipeline, q: Queue<T>) -> Vec<T> {
    p.run_iter(q)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

/// What an output yields, markers included (`M(count)`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev<T> {
    I(T),
    M(u64),
}

fn events<T>(mut out: Output<T>) -> Vec<Ev<T>> {
    std::iter::from_fn(|| out.next_event())
        .map(|e| match e.unwrap_or_else(|e| panic!("{e}")) {
            Event::Item(v) => Ev::I(v),
            Event::Marker(MarkerId { count, .. }) => Ev::M(count),
        })
        .collect()
}

/// The events of a sequential evaluation where `f` maps each input to its outputs, with a
/// marker after every `every` inputs.
fn expected_events<T, U>(input: &[T], every: usize, f: impl Fn(&T) -> Vec<U>) -> Vec<Ev<U>> {
    let mut out = Vec::new();
    for (i, x) in input.iter().enumerate() {
        out.extend(f(x).into_iter().map(Ev::I));
        if (i + 1) % every == 0 {
            out.push(Ev::M((i / every) as u64));
        }
    }
    out
}

/// The panic message of `f`, which must panic.
fn panic_message(f: impl FnOnce()) -> String {
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .expect_err("the declaration must panic");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

// --------------------------------------------------------------------------------- tee

#[test]
fn tee_gives_every_item_to_every_branch() {
    let out = watchdog(|| {
        let p = Pipeline::new();
        let mut branches = p.source(0..1_000u64).tee(3);
        let c = branches.pop().unwrap().map(|x| x + 20_000).workers(2);
        let b = branches.pop().unwrap().map(|x| x + 10_000);
        let a = branches.pop().unwrap();
        let all = p.merge([a, b, c]);
        collect(p, all)
    });
    let expected: Vec<u64> = (0..1_000)
        .flat_map(|x| [x, x + 10_000, x + 20_000])
        .collect();
    assert_eq!(sorted(out), sorted(expected));
}

#[test]
fn tee_branches_see_the_items_in_the_same_order() {
    // One thread gives each item to every branch in turn: a zip of two branches that keep
    // their order pairs every item with itself.
    let pairs = watchdog(|| {
        let p = Pipeline::new();
        let (a, b) = p.source(0..2_000u64).tee2();
        let b = b.map(|x| x * 2);
        let pairs = p.zip(a, b);
        collect(p, pairs)
    });
    assert_eq!(pairs, (0..2_000).map(|x| (x, x * 2)).collect::<Vec<_>>());
}

#[test]
fn tee_clones_all_but_the_last_branch() {
    #[derive(Debug)]
    struct Counted(u64, Arc<AtomicUsize>);
    impl Clone for Counted {
        fn clone(&self) -> Self {
            self.1.fetch_add(1, Ordering::Relaxed);
            Counted(self.0, self.1.clone())
        }
    }
    let clones = Arc::new(AtomicUsize::new(0));
    let counter = clones.clone();
    let n = watchdog(move || {
        let p = Pipeline::new();
        let items = p.source((0..100u64).map(move |i| Counted(i, counter.clone())));
        let all = p.merge(items.tee(4));
        collect(p, all).len()
    });
    assert_eq!(n, 400);
    assert_eq!(clones.load(Ordering::Relaxed), 300);
}

#[test]
fn a_load_on_each_branch_of_a_tee_restores_each_branch_order_and_markers() {
    let (a, b) = watchdog(|| {
        let p = Pipeline::new();
        let (q, _m) = p.source(0..300u64).insert_periodic(10, Placement::After);
        let (q, point) = q.order_save(8);
        let (a, b) = q.tee2();
        let [pa, pb]: [_; 2] = point.fork(2).try_into().unwrap();
        let a = a.map(|x| slow(x * 2, x)).workers(4).order_load(pa);
        let b = b
            .filter(|x| x % 3 != 0)
            .workers(2)
            .flat_map(|x| slow([x, x + 1_000], x + 7))
            .workers(3)
            .order_load(pb);
        let (a, b) = (p.output(a), p.output(b));
        let mut running = p.start().unwrap();
        let (a, b) = (running.take(a), running.take(b));
        let b = std::thread::spawn(move || events(b));
        (events(a), b.join().unwrap())
    });
    let input: Vec<u64> = (0..300).collect();
    assert_eq!(a, expected_events(&input, 10, |x| vec![x * 2]));
    let expected_b = expected_events(&input, 10, |&x| {
        if x % 3 == 0 {
            vec![]
        } else {
            vec![x, x + 1_000]
        }
    });
    assert_eq!(b, expected_b);
}

#[test]
fn the_slowest_branch_of_a_forked_section_holds_the_window() {
    // Branch b is slow; the window of 4 is shared, so branch a's load never holds more
    // than 4 positions, however far ahead its own stages are.
    let (a, b, high_water) = watchdog(|| {
        let p = Pipeline::new();
        let (q, point) = p.source(0..200u64).order_save(4);
        let (a, b) = q.tee2();
        let mut points = point.fork(2);
        let pb = points.pop().unwrap();
        let pa = points.pop().unwrap();
        let high_water = pa.high_water();
        let a = a.map(|x| slow(x, x)).workers(4).order_load(pa);
        let b = b
            .map(|x| {
                sleep(Duration::from_micros(300));
                x
            })
            .order_load(pb);
        let (a, b) = (p.output(a), p.output(b));
        let mut running = p.start().unwrap();
        let (a, b) = (running.take(a), running.take(b));
        let b = std::thread::spawn(move || b.collect::<Result<Vec<u64>, _>>().unwrap());
        let a: Vec<u64> = a.collect::<Result<_, _>>().unwrap();
        (a, b.join().unwrap(), high_water)
    });
    assert_eq!(a, (0..200).collect::<Vec<_>>());
    assert_eq!(b, (0..200).collect::<Vec<_>>());
    assert!(high_water.load(Ordering::Relaxed) <= 4);
}

#[test]
fn a_forked_point_forks_again_for_a_tee_of_a_tee() {
    let outs = watchdog(|| {
        let p = Pipeline::new();
        let (q, point) = p.source(0..150u64).order_save(4);
        let (a, rest) = q.tee2();
        let mut points = point.fork(2);
        let rest_point = points.pop().unwrap();
        let pa = points.pop().unwrap();
        let (b, c) = rest.filter(|x| x % 2 == 0).tee2();
        let [pb, pc]: [_; 2] = rest_point.fork(2).try_into().unwrap();
        let a = a.map(|x| slow(x, x)).workers(3).order_load(pa);
        let b = b.map(|x| slow(x + 1, x)).workers(3).order_load(pb);
        let c = c.map(|x| slow(x + 2, x)).workers(3).order_load(pc);
        let ports = [p.output(a), p.output(b), p.output(c)];
        let mut running = p.start().unwrap();
        let readers: Vec<_> = ports
            .into_iter()
            .map(|port| {
                let out = running.take(port);
                std::thread::spawn(move || out.collect::<Result<Vec<u64>, _>>().unwrap())
            })
            .collect();
        readers
            .into_iter()
            .map(|r| r.join().unwrap())
            .collect::<Vec<_>>()
    });
    let evens = (0..150u64).filter(|x| x % 2 == 0);
    assert_eq!(outs[0], (0..150).collect::<Vec<_>>());
    assert_eq!(outs[1], evens.clone().map(|x| x + 1).collect::<Vec<_>>());
    assert_eq!(outs[2], evens.map(|x| x + 2).collect::<Vec<_>>());
}

#[test]
fn tee_branches_merged_before_one_load_keep_each_items_copies_together() {
    // Every branch expands or drops items differently; after the merge, the load puts
    // each input's outputs together, branch by branch.
    let out = watchdog(|| {
        let p = Pipeline::new();
        let (q, m) = p.source(0..200u64).insert_periodic(7, Placement::After);
        let (q, point) = q.order_save(16);
        let mut branches = q.tee(3);
        let c = branches
            .pop()
            .unwrap()
            .flat_map(|x| slow(0..x % 3, x).map(move |i| 30_000 + x * 10 + i))
            .workers(3);
        let b = branches
            .pop()
            .unwrap()
            .filter(|x| x % 2 == 0)
            .flat_map(|x| slow([20_000 + x, 20_000 + x], x + 1))
            .workers(2);
        let a = branches
            .pop()
            .unwrap()
            .map(|x| slow(10_000 + x, x + 2))
            .workers(4);
        let q = p.merge([a, b, c]).order_load(point);
        let _ = m;
        events(p.run_iter(q).unwrap())
    });
    let input: Vec<u64> = (0..200).collect();
    let expected = expected_events(&input, 7, |&x| {
        let mut v = vec![10_000 + x];
        if x % 2 == 0 {
            v.extend([20_000 + x, 20_000 + x]);
        }
        v.extend((0..x % 3).map(|i| 30_000 + x * 10 + i));
        v
    });
    assert_eq!(out, expected);
}

#[test]
fn a_slow_branch_slows_the_tee_down() {
    // The fast branch cannot run ahead of the slow one by more than what the queues and
    // the workers' chunks between the tee and the slow task hold.
    const CAP: usize = 4;
    let fast_seen = Arc::new(AtomicU64::new(0));
    let slow_seen = Arc::new(AtomicU64::new(0));
    let lead = Arc::new(AtomicU64::new(0));
    let (f, s, l) = (fast_seen.clone(), slow_seen.clone(), lead.clone());
    watchdog(move || {
        let p = Pipeline::new();
        let (a, b) = p.source(0..300u64).tee2();
        let (a, b) = (a.capacity(CAP), b.capacity(CAP));
        let a = a.inspect(move |_| {
            let ahead =
                (f.fetch_add(1, Ordering::SeqCst) + 1).saturating_sub(s.load(Ordering::SeqCst));
            l.fetch_max(ahead, Ordering::SeqCst);
        });
        let ss = slow_seen.clone();
        let b = b.inspect(move |_| {
            sleep(Duration::from_micros(500));
            ss.fetch_add(1, Ordering::SeqCst);
        });
        let all = p.merge([a, b]);
        collect(p, all)
    });
    assert_eq!(fast_seen.load(Ordering::SeqCst), 300);
    let lead = lead.load(Ordering::SeqCst);
    assert!(
        lead <= 4 * CAP as u64,
        "the fast branch ran {lead} items ahead"
    );
}

#[test]
fn tee_next_to_process_stages() {
    let (order, sums) = process_run(|p| {
        let (q, point) = p.source(0..600u64).order_save(32);
        let (a, b) = q
            .map_task(&builtin::SLEEP_JITTER)
            .processes(2)
            .process_batching(2, 2)
            .tee2();
        let [pa, pb]: [_; 2] = point.fork(2).try_into().unwrap();
        let a = a
            .map_task(&builtin::IDENTITY_U64)
            .processes(2)
            .order_load(pa);
        let b = b.order_load(pb).fold(0u64, |s, x| s + x);
        (p.output(a), p.output(b))
    });
    assert_eq!(order, (0..600).collect::<Vec<_>>());
    assert_eq!(sums, [(0..600).sum::<u64>()]);
}

#[test]
fn tee_refuses_zero_branches_and_more_than_one_worker() {
    let msg = panic_message(|| {
        let p = Pipeline::new();
        let _ = p.source(0..3u64).name("numbers").tee(0);
    });
    assert!(msg.contains("tee(0)") && msg.contains("'numbers'"), "{msg}");
    let msg = panic_message(|| {
        let p = Pipeline::new();
        let (a, _b) = p.source(0..3u64).tee2();
        let _ = a.workers(2);
    });
    assert!(msg.contains("sequential"), "{msg}");
}

#[test]
fn fork_refuses_zero_loads_and_an_unloaded_fork_fails_the_run_start() {
    let msg = panic_message(|| {
        let p = Pipeline::new();
        let (_q, point) = p.source(0..3u64).order_save(4);
        let _ = point.fork(0);
    });
    assert!(msg.contains("fork(0)"), "{msg}");
    let p = Pipeline::new();
    let (q, point) = p.source(0..3u64).order_save(4);
    let (a, _b) = q.tee2();
    let mut points = point.fork(2);
    let a = a.order_load(points.remove(0));
    let err = p
        .run_iter(a)
        .expect_err("a fork without its load cannot run");
    assert!(err.to_string().contains("no matching order load"), "{err}");
}

#[test]
fn a_tee_renders_with_its_branches_and_the_new_types_are_send() {
    fn assert_send<T: Send>() {}
    assert_send::<skorche::OrderPoint>();
    assert_send::<Emitter<String>>();
    let p = Pipeline::new();
    let (a, b) = p.source(0..3u64).tee2();
    let a = a.window(2, 1);
    let b = b.fold(0, |s, x| s + x);
    let (_a, _b) = (p.output(a), p.output(b));
    let dot = p.to_dot();
    assert!(
        dot.contains("tee") && dot.contains("window") && dot.contains("fold"),
        "{dot}"
    );
}

// ----------------------------------------------------------------------------- inspect

#[test]
fn inspect_sees_every_item_once_and_changes_nothing_in_an_ordered_section() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let out = watchdog(move || {
        let p = Pipeline::new();
        let (q, _m) = p.source(0..500u64).insert_periodic(50, Placement::After);
        let q = q
            .inspect(move |x| log.lock().unwrap().push(slow(*x, *x)))
            .workers(3)
            .ordered();
        events(p.run_iter(q).unwrap())
    });
    let input: Vec<u64> = (0..500).collect();
    assert_eq!(out, expected_events(&input, 50, |&x| vec![x]));
    assert_eq!(sorted(seen.lock().unwrap().clone()), input);
}

#[test]
fn a_panic_in_inspect_fails_the_stage_at_that_item() {
    let err = watchdog(|| {
        let p = Pipeline::new();
        let q = p
            .source(0..10u64)
            .inspect(|&x| assert!(x != 4, "four"))
            .name("look");
        p.run_iter(q).unwrap().collect::<Result<Vec<_>, _>>()
    })
    .unwrap_err();
    let f = &err.failures()[0];
    assert_eq!(
        (f.stage.as_str(), f.seq, f.kind.clone()),
        ("look", Some(4), FailureKind::Panic)
    );
}

// ---------------------------------------------------------------- fold, scan, stateful

#[test]
fn fold_emits_one_result_when_the_stream_ends() {
    let out = watchdog(|| {
        let p = Pipeline::new();
        let q = p
            .source(1..=1_000u64)
            .map(|x| slow(x, x))
            .workers(4)
            .fold(0u64, |s, x| s + x);
        collect(p, q)
    });
    assert_eq!(out, [500_500]);
}

#[test]
fn fold_of_an_empty_stream_is_its_initial_value() {
    let out = watchdog(|| {
        let p = Pipeline::new();
        let q = p.source(0..0u64).fold(vec![7u64], |mut v, x| {
            v.push(x);
            v
        });
        collect(p, q)
    });
    assert_eq!(out, [vec![7]]);
}

#[test]
fn markers_pass_a_fold_before_its_result() {
    let out = watchdog(|| {
        let p = Pipeline::new();
        let (q, _m) = p.source(0..30u64).insert_periodic(10, Placement::After);
        let q = q.fold(0u64, |s, x| s + x);
        events(p.run_iter(q).unwrap())
    });
    assert_eq!(out, [Ev::M(0), Ev::M(1), Ev::M(2), Ev::I(435)]);
}

#[test]
fn fold_inside_an_ordered_section_leaves_the_load_nothing_to_wait_for() {
    let out = watchdog(|| {
        let p = Pipeline::new();
        let (q, point) = p.source(0..300u64).order_save(4);
        let q = q
            .map(|x| slow(x, x))
            .workers(4)
            .fold(0u64, |s, x| s + x)
            .order_load(point);
        collect(p, q)
    });
    assert_eq!(out, [(0..300u64).sum::<u64>()]);
}

#[test]
fn a_fold_emits_its_result_after_a_graceful_stop() {
    let (result, end) = watchdog(|| {
        let p = Pipeline::new();
        let count = p.source(0u64..).fold(0u64, |n, _| n + 1);
        let mut out = p.run_iter(count).unwrap();
        let stop = out.stop_handle();
        std::thread::spawn(move || {
            sleep(Duration::from_millis(50));
            stop.stop();
        });
        let result = out.next();
        (result, out.next())
    });
    let counted = result.expect("the fold's result").expect("an item");
    assert!(counted > 0);
    match end {
        Some(Err(PipelineError::Interrupted(stopped))) => {
            assert_eq!(stopped.outcome, StopOutcome::Drained)
        }
        other => panic!("expected the interruption, got {other:?}"),
    }
}

#[test]
fn try_fold_fails_at_the_item_with_its_error_as_the_source() {
    let err = watchdog(|| {
        let p = Pipeline::new();
        let q = p
            .source(vec!["1", "2", "x", "4"])
            .try_fold(0u32, |s, t: &str| t.parse::<u32>().map(|n| s + n))
            .name("sum");
        p.run_iter(q).unwrap().collect::<Result<Vec<_>, _>>()
    })
    .unwrap_err();
    let f = &err.failures()[0];
    assert_eq!(
        (f.stage.as_str(), f.seq, f.kind.clone()),
        ("sum", Some(2), FailureKind::Task)
    );
    let cause = f
        .source()
        .and_then(|e| e.downcast_ref::<std::num::ParseIntError>());
    assert!(cause.is_some(), "{f:?}");
}

#[test]
fn stateful_stages_refuse_more_than_one_worker() {
    let declare: [fn(Queue<u64>); 6] = [
        |q| drop(q.fold(0, |s, x| s + x).workers(2)),
        |q| drop(q.try_fold(0, |s, x| Ok::<_, String>(s + x)).workers(2)),
        |q| drop(q.scan(0, |s, x| *s + x).workers(2)),
        |q| {
            drop(
                q.stateful((), |_, x, out| out.emit(x), |_, _| {})
                    .workers(2),
            )
        },
        |q| drop(q.batch_timeout(4, Duration::from_millis(1)).workers(2)),
        |q| drop(q.window(2, 1).workers(2)),
    ];
    for (i, declare) in declare.into_iter().enumerate() {
        let msg = panic_message(|| {
            let p = Pipeline::new();
            declare(p.source(0..3u64));
        });
        assert!(msg.contains("sequential"), "declaration {i}: {msg}");
    }
}

#[test]
fn scan_keeps_a_running_state_in_place_in_an_ordered_section() {
    // The scan sees the items in save order (it sits right after the save); its outputs
    // keep their places through the parallel stage after it.
    let out = watchdog(|| {
        let p = Pipeline::new();
        let (q, _m) = p.source(0..400u64).insert_periodic(25, Placement::After);
        let (q, point) = q.order_save(16);
        let q = q
            .scan(0u64, |sum, x| {
                *sum += x;
                *sum
            })
            .map(|s| slow(s, s))
            .workers(4)
            .order_load(point);
        events(p.run_iter(q).unwrap())
    });
    let input: Vec<u64> = (0..400).collect();
    let expected = expected_events(&input, 25, |&x| vec![x * (x + 1) / 2]);
    assert_eq!(out, expected);
}

/// The general stateful stage of the tests: each input `x` gives no output when `x % 5 ==
/// 0`, two (`x`, `x + 1000`) when `x % 3 == 0`, else one (`x + the count of inputs before`);
/// the end of the stream gives the count of inputs, plus 100 000.
fn outputs_of(x: u64, before: u64) -> Vec<u64> {
    if x % 5 == 0 {
        vec![]
    } else if x % 3 == 0 {
        vec![x, x + 1_000]
    } else {
        vec![x + before * 1_000_000]
    }
}

fn counting_stage(q: Queue<u64>) -> Queue<u64> {
    q.stateful(
        0u64,
        |count, x, out: &mut Emitter<u64>| {
            out.extend(outputs_of(x, *count));
            *count += 1;
        },
        |count, out| out.emit(100_000 + count),
    )
}

#[test]
fn stateful_emits_zero_to_n_outputs_per_item_and_more_at_the_end_with_markers_in_place() {
    let out = watchdog(|| {
        let p = Pipeline::new();
        let (q, _m) = p.source(0..100u64).insert_periodic(10, Placement::After);
        let q = q.map(|x| slow(x, x)).workers(3).ordered();
        events(p.run_iter(counting_stage(q)).unwrap())
    });
    let input: Vec<u64> = (0..100).collect();
    let mut expected = expected_events(&input, 10, |&x| outputs_of(x, x));
    expected.push(Ev::I(100_100));
    assert_eq!(out, expected);
}

#[test]
fn stateful_inside_an_ordered_section_keeps_positions_and_its_end_outputs_come_through() {
    let out = watchdog(|| {
        let p = Pipeline::new();
        let (q, point) = p.source(0..300u64).order_save(8);
        let q = counting_stage(q)
            .map(|x| slow(x, x))
            .workers(4)
            .order_load(point);
        collect(p, q)
    });
    // The end output has no position: it passes the load as it comes.
    let (end, items): (Vec<u64>, Vec<u64>) = out.into_iter().partition(|&x| x == 100_300);
    assert_eq!(end, [100_300]);
    let expected: Vec<u64> = (0..300).flat_map(|x| outputs_of(x, x)).collect();
    assert_eq!(items, expected);
}

#[test]
fn try_stateful_errors_name_the_item_or_the_end_of_the_stream() {
    #[derive(Debug)]
    struct Bad(&'static str);
    impl std::fmt::Display for Bad {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl Error for Bad {}

    let run = |fail_at: Option<u64>| {
        watchdog(move || {
            let p = Pipeline::new();
            let q = p
                .source(0..10u64)
                .try_stateful(
                    (),
                    move |_, x, out: &mut Emitter<u64>| {
                        out.emit(x);
                        if Some(x) == fail_at {
                            return Err(Bad("item"));
                        }
                        Ok(())
                    },
                    |_, _| Err(Bad("end")),
                )
                .name("stage");
            p.run_iter(q).unwrap().collect::<Result<Vec<_>, _>>()
        })
        .unwrap_err()
    };
    let err = run(Some(3));
    let f = &err.failures()[0];
    assert_eq!(
        (f.stage.as_str(), f.seq, f.message.as_str()),
        ("stage", Some(3), "item")
    );
    assert!(f.source().and_then(|e| e.downcast_ref::<Bad>()).is_some());
    let err = run(None);
    let f = &err.failures()[0];
    assert_eq!(
        (f.stage.as_str(), f.seq, f.message.as_str()),
        ("stage", None, "end")
    );
    assert_eq!(f.kind, FailureKind::Task);
}

#[test]
fn stateful_stages_next_to_a_process_stage() {
    let (running, sums) = process_run(|p| {
        let q = p
            .source(0..500u64)
            .map_task(&builtin::SLEEP_JITTER)
            .processes(2)
            .ordered();
        let (a, b) = q.tee2();
        let a = a.scan(0u64, |s, x| {
            *s += x;
            *s
        });
        let b = b
            .window(3, 3)
            .map(|w| w.iter().sum::<u64>())
            .fold(0u64, |s, x| s + x);
        (p.output(a), p.output(b))
    });
    let expected: Vec<u64> = (0..500u64).map(|x| x * (x + 1) / 2).collect();
    assert_eq!(running, expected);
    assert_eq!(sums, [(0..498u64).sum::<u64>()]);
}

// ------------------------------------------------------------------------ batch_timeout

#[test]
fn batch_timeout_emits_partial_batches_of_a_slow_source() {
    // An item every 30 ms, batches of up to 10, none waits over 50 ms: batches are partial.
    let batches = watchdog(|| {
        let p = Pipeline::new();
        let items = p.source((0..10u64).inspect(|_| sleep(Duration::from_millis(30))));
        let q = items.batch_timeout(10, Duration::from_millis(50));
        collect(p, q)
    });
    assert!(batches.len() >= 3, "{batches:?}");
    assert!(
        batches.iter().all(|b| !b.is_empty() && b.len() < 10),
        "{batches:?}"
    );
    assert_eq!(batches.concat(), (0..10).collect::<Vec<_>>());
}

#[test]
fn batch_timeout_fills_batches_of_a_fast_source_and_ends_without_waiting() {
    let started = std::time::Instant::now();
    let batches = watchdog(|| {
        let p = Pipeline::new();
        let q = p
            .source(0..95u64)
            .batch_timeout(10, Duration::from_secs(30));
        collect(p, q)
    });
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(batches.concat(), (0..95).collect::<Vec<_>>());
    // The source outruns the stage: batches are full except the last, and a timeout of
    // 30 s never had to run out.
    let (last, full) = batches.split_last().unwrap();
    assert!(full.iter().all(|b| b.len() == 10), "{batches:?}");
    assert_eq!(last.len(), 5);
}

#[test]
fn batch_timeout_does_not_spin_while_it_waits() {
    // The stage thread's CPU time while it waits for a slow source stays near zero. The
    // first batch leaves after ~190 ms (its oldest item waited 150 ms); the source goes on
    // for longer, so the stage thread is still there to be measured.
    let ticks = watchdog(|| {
        let p = Pipeline::new();
        let items = p.source((0..12u64).inspect(|_| sleep(Duration::from_millis(40))));
        let q = items
            .batch_timeout(100, Duration::from_millis(150))
            .name("btwait");
        let mut out = p.run_iter(q).unwrap();
        let first = out.next().unwrap().unwrap();
        let ticks = thread_cpu_ticks("skorche:btwait");
        let rest: Vec<Vec<u64>> = out.collect::<Result<_, _>>().unwrap();
        assert!(first.len() < 12);
        assert_eq!(
            [vec![first], rest].concat().concat(),
            (0..12).collect::<Vec<_>>()
        );
        ticks
    });
    // A thread spinning for those ~190 ms would have used ~19 ticks of 10 ms.
    assert!(
        ticks <= 5,
        "the batch_timeout thread used {ticks} ticks of CPU"
    );
}

/// User + system CPU ticks of this process's thread named `name`.
fn thread_cpu_ticks(name: &str) -> u64 {
    for entry in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let dir = entry.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim_end() != name {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap();
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        // utime and stime are fields 14 and 15 of stat; 3 is the first after the name.
        return fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    }
    panic!("no thread named {name}");
}

#[test]
fn a_marker_ends_a_batch_timeout_batch() {
    let out = watchdog(|| {
        let p = Pipeline::new();
        let (q, _m) = p.source(0..10u64).insert_periodic(3, Placement::After);
        let q = q.batch_timeout(4, Duration::from_secs(5));
        events(p.run_iter(q).unwrap())
    });
    assert_eq!(
        out,
        [
            Ev::I(vec![0, 1, 2]),
            Ev::M(0),
            Ev::I(vec![3, 4, 5]),
            Ev::M(1),
            Ev::I(vec![6, 7, 8]),
            Ev::M(2),
            Ev::I(vec![9]),
        ]
    );
}

#[test]
fn batch_timeout_in_an_ordered_section_hands_positions_through() {
    let out = watchdog(|| {
        let p = Pipeline::new();
        let (q, _m) = p.source(0..300u64).insert_periodic(20, Placement::After);
        let (q, point) = q.order_save(8);
        let q = q
            .map(|x| slow(x, x))
            .workers(3)
            .batch_timeout(7, Duration::from_millis(2))
            .map(|b| {
                let key = b[0];
                slow(b, key)
            })
            .workers(3)
            .unbatch()
            .order_load(point);
        events(p.run_iter(q).unwrap())
    });
    let input: Vec<u64> = (0..300).collect();
    assert_eq!(out, expected_events(&input, 20, |&x| vec![x]));
}

#[test]
fn batch_timeout_around_a_process_stage() {
    let (batches, total) = process_run(|p| {
        let q = p
            .source(0..1_000u64)
            .batch_timeout(16, Duration::from_millis(5))
            .unbatch()
            .map_task(&builtin::IDENTITY_U64)
            .processes(2);
        let (a, b) = q.tee2();
        let a = a
            .batch_timeout(64, Duration::from_millis(5))
            .map(|b| b.len() as u64);
        let b = b.fold(0u64, |s, x| s + x);
        (p.output(a), p.output(b))
    });
    assert_eq!(batches.iter().sum::<u64>(), 1_000);
    assert!(
        batches.iter().all(|&n| (1..=64).contains(&n)),
        "{batches:?}"
    );
    assert_eq!(total, [(0..1_000u64).sum::<u64>()]);
}

#[test]
fn batch_timeout_and_window_refuse_zero_sizes() {
    type Declare = fn(Queue<u64>);
    let cases: [(&str, Declare); 3] = [
        ("batch_timeout(0, _)", |q| {
            drop(q.batch_timeout(0, Duration::ZERO))
        }),
        ("window(0, _)", |q| drop(q.window(0, 1))),
        ("window(_, 0)", |q| drop(q.window(2, 0))),
    ];
    for (op, declare) in cases {
        let msg = panic_message(|| {
            let p = Pipeline::new();
            declare(p.source(0..3u64).name("numbers"));
        });
        assert!(msg.contains(op) && msg.contains("'numbers'"), "{op}: {msg}");
    }
}

// ------------------------------------------------------------------------------- window

#[test]
fn window_slides_tumbles_and_hops() {
    let run = |size, stride| {
        watchdog(move || {
            let p = Pipeline::new();
            let q = p.source(0..10u64).window(size, stride);
            collect(p, q)
        })
    };
    let expected = |size: usize, stride: usize| -> Vec<Vec<u64>> {
        let all: Vec<u64> = (0..10).collect();
        (0..)
            .map(|i| i * stride)
            .take_while(|&start| start + size <= all.len())
            .map(|start| all[start..start + size].to_vec())
            .collect()
    };
    for (size, stride) in [
        (3, 1),
        (4, 2),
        (5, 5),
        (3, 3),
        (2, 4),
        (1, 1),
        (10, 1),
        (11, 1),
    ] {
        assert_eq!(
            run(size, stride),
            expected(size, stride),
            "window({size}, {stride})"
        );
    }
}

#[test]
fn markers_pass_a_window_after_the_windows_that_ended_before_them() {
    let out = watchdog(|| {
        let p = Pipeline::new();
        let (q, _m) = p.source(0..7u64).insert_periodic(3, Placement::After);
        let q = q.window(2, 1);
        events(p.run_iter(q).unwrap())
    });
    assert_eq!(
        out,
        [
            Ev::I(vec![0, 1]),
            Ev::I(vec![1, 2]),
            Ev::M(0),
            Ev::I(vec![2, 3]),
            Ev::I(vec![3, 4]),
            Ev::I(vec![4, 5]),
            Ev::M(1),
            Ev::I(vec![5, 6]),
        ]
    );
}

#[test]
fn windows_keep_their_order_through_an_ordered_parallel_section() {
    let out = watchdog(|| {
        let p = Pipeline::new();
        let (q, point) = p.source(0..400u64).order_save(8);
        let q = q
            .window(4, 3)
            .map(|w| {
                let key = w[0];
                slow(w, key)
            })
            .workers(4)
            .order_load(point);
        collect(p, q)
    });
    let expected: Vec<Vec<u64>> = (0..)
        .map(|i| i * 3)
        .take_while(|&s| s + 4 <= 400)
        .map(|s| (s..s + 4).collect())
        .collect();
    assert_eq!(out, expected);
}

// --------------------------------------------------------------------------- try_source

#[derive(Debug)]
struct ReadError(u64);

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot read record {}", self.0)
    }
}

impl Error for ReadError {}

fn records(bad: u64) -> impl Iterator<Item = Result<u64, ReadError>> + Send {
    (0..100u64).map(move |i| if i == bad { Err(ReadError(i)) } else { Ok(i) })
}

#[test]
fn try_source_fails_the_run_at_the_first_err_naming_the_source_and_the_index() {
    let (items, err) = watchdog(|| {
        let p = Pipeline::new();
        let q = p.try_source(records(42)).name("reader").map(|x| x * 2);
        let mut items = Vec::new();
        let mut err = None;
        for r in p.run_iter(q).unwrap() {
            match r {
                Ok(v) => items.push(v),
                Err(e) => err = Some(e),
            }
        }
        (items, err.expect("the run fails"))
    });
    assert!(items.len() <= 42);
    assert!(items.iter().enumerate().all(|(i, &v)| v == i as u64 * 2));
    assert_eq!(err.failures().len(), 1);
    let f = &err.failures()[0];
    assert_eq!(
        (f.stage.as_str(), f.seq, f.kind.clone()),
        ("reader", Some(42), FailureKind::Task)
    );
    assert_eq!(f.message, "cannot read record 42");
    let cause = f.source().and_then(|e| e.downcast_ref::<ReadError>());
    assert_eq!(cause.map(|e| e.0), Some(42));
    assert!(
        err.to_string().contains("stage 'reader', item #42"),
        "{err}"
    );
}

#[test]
fn try_source_of_only_ok_values_is_a_source() {
    let (out, total) = process_run(|p| {
        let (a, b) = p
            .try_source(records(u64::MAX))
            .map_task(&builtin::IDENTITY_U64)
            .processes(2)
            .ordered()
            .tee2();
        (p.output(a), p.output(b.fold(0u64, |s, x| s + x)))
    });
    assert_eq!(out, (0..100).collect::<Vec<_>>());
    assert_eq!(total, [4_950]);
}

// ------------------------------------------------ registered flat_map over an Option

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Threads,
    Processes,
}

#[test]
fn a_flat_map_task_over_an_option_filters_on_threads_and_in_processes() {
    for mode in [Mode::Threads, Mode::Processes] {
        let (unordered, ordered) = process_run(move |p| {
            let q = p.source(0..1_000u64).map_task(&builtin::HALF_IF_EVEN);
            let q = match mode {
                Mode::Threads => q.workers(2),
                Mode::Processes => q.processes(2),
            };
            let (q2, point) = p.source(0..1_000u64).order_save(16);
            let q2 = q2.map_task(&builtin::HALF_IF_EVEN);
            let q2 = match mode {
                Mode::Threads => q2.workers(3),
                Mode::Processes => q2.processes(3).process_batching(4, 2),
            };
            (p.output(q), p.output(q2.order_load(point)))
        });
        let expected: Vec<u64> = (0..500).collect();
        assert_eq!(sorted(unordered), expected, "{mode:?}");
        assert_eq!(ordered, expected, "{mode:?}");
    }
}

// ------------------------------------------------------------------ process harness

/// Process tests check that no worker is left: they run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs a pipeline with two outputs whose stages may run in worker processes (of the test
/// worker), reads both concurrently, and checks that no worker is left.
fn process_run<A, B>(
    declare: impl FnOnce(&Pipeline) -> (skorche::OutputPort<A>, skorche::OutputPort<B>),
) -> (Vec<A>, Vec<B>)
where
    A: Send + 'static,
    B: Send + 'static,
{
    let _serial = serial();
    let _dog = process_support::Watchdog::arm("stream_ops process run", process_support::LIMIT);
    let p = Pipeline::new();
    p.worker_program(process_support::TEST_WORKER);
    let (a, b) = declare(&p);
    let mut running = p.start().unwrap();
    let (a, b) = (running.take(a), running.take(b));
    let b = std::thread::spawn(move || b.collect::<Result<Vec<B>, _>>());
    let a = a
        .collect::<Result<Vec<A>, _>>()
        .unwrap_or_else(|e| panic!("{e}"));
    let b = b.join().unwrap().unwrap_or_else(|e| panic!("{e}"));
    process_support::assert_no_children();
    (a, b)
}
