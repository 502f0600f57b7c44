//! The error rules of the thread executor.

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

use skorche::core::{FailureKind, Pipeline, PipelineError};
use support::{wait_for, watchdog, NotifyEnd};

// ---------------------------------------------------------------- rule 1

#[test]
fn source_that_ends_early_lets_downstream_finish_its_buffered_work() {
    let ended = Arc::new(AtomicBool::new(false));
    let (ended2, gate) = (ended.clone(), ended.clone());
    let (out, report) = watchdog(move || {
        let p = Pipeline::new();
        let src = p
            .source(NotifyEnd {
                inner: 0..20u32,
                ended: ended2,
            })
            .capacity(32);
        // The first stage does no work until the source has ended: everything it
        // processes was buffered when the source finished.
        let slow = src
            .map(move |x| {
                wait_for(&gate);
                x * 10
            })
            .name("slow");
        let q = slow.map(|x| x + 1).name("after");
        p.run_iter(q).unwrap().collect_report()
    })
    .unwrap();
    assert!(ended.load(Ordering::SeqCst));
    assert_eq!(out, (0..20u32).map(|x| x * 10 + 1).collect::<Vec<_>>());
    assert_eq!(report.stage("slow").unwrap().items_out, 20);
    assert_eq!(report.stage("after").unwrap().items_out, 20);
}

#[test]
fn source_shorter_than_the_worker_count_ends_cleanly() {
    let out = watchdog(|| {
        let p = Pipeline::new();
        let q = p.source(0..3u32).map(|x| x + 1).workers(8);
        p.run_iter(q).unwrap().collect::<Result<Vec<_>, _>>()
    })
    .unwrap();
    let mut out = out;
    out.sort();
    assert_eq!(out, [1, 2, 3]);
}

#[test]
fn empty_source_ends_every_stage_cleanly() {
    let report = watchdog(|| {
        let p = Pipeline::new();
        let q = p
            .source(Vec::<u32>::new())
            .map(|x| x + 1)
            .workers(4)
            .batch(3)
            .unbatch();
        let out = p.run_iter(q).unwrap();
        out.collect_report()
    })
    .unwrap();
    assert!(report.0.is_empty());
    assert!(report.1.stages.iter().all(|s| s.items_out == 0));
}

// ---------------------------------------------------------------- rule 2

#[test]
fn stage_that_ends_after_its_upstream_lets_the_rest_of_the_pipeline_finish() {
    let ended = Arc::new(AtomicBool::new(false));
    let (ended2, gate) = (ended.clone(), ended.clone());
    let (out, report) = watchdog(move || {
        let p = Pipeline::new();
        let src = p
            .source(NotifyEnd {
                inner: 0..20u32,
                ended: ended2,
            })
            .capacity(32);
        // `expand` only starts once its upstream has ended, then emits three items per
        // input; `batch` still holds a partial batch when its upstream ends and flushes
        // it after; everything downstream still gets all of it.
        let expand = src
            .flat_map(move |x| {
                wait_for(&gate);
                [x, x, x]
            })
            .name("expand");
        let q = expand
            .batch(7)
            .name("batch")
            .unbatch()
            .name("unbatch")
            .map(|x| x * 2)
            .name("double");
        p.run_iter(q).unwrap().collect_report()
    })
    .unwrap();
    let expected: Vec<u32> = (0..20u32).flat_map(|x| [x * 2; 3]).collect();
    assert_eq!(out, expected);
    assert_eq!(report.stage("expand").unwrap().items_out, 60);
    // 60 = 8 × 7 + 4: the last batch is partial.
    assert_eq!(report.stage("batch").unwrap().items_out, 9);
    assert_eq!(report.stage("double").unwrap().items_out, 60);
}

#[test]
fn stages_with_eight_workers_end_cleanly() {
    const N: u64 = 20_000;
    let (out, report) = watchdog(|| {
        let p = Pipeline::new();
        let q = p
            .source(0..N)
            .map(|x| x + 1)
            .workers(8)
            .name("map8")
            .filter(|x| x % 2 == 0)
            .workers(8)
            .name("filter8")
            .flat_map(|x| [x, x])
            .workers(8)
            .name("flat8")
            .map_with(
                || 0u64,
                |n, x| {
                    *n += 1;
                    x
                },
            )
            .workers(8)
            .name("with8");
        let (a, b) = q.split(|x| x % 4 == 0);
        let a = a.workers(8);
        let all = p
            .merge([a, b])
            .batch(16)
            .unbatch()
            .workers(8)
            .name("unbatch8");
        p.run_iter(all).unwrap().collect_report()
    })
    .unwrap();
    assert_eq!(out.len() as u64, N); // N/2 even values, each twice
    assert_eq!(
        out.iter().sum::<u64>(),
        2 * (1..=N).filter(|x| x % 2 == 0).sum::<u64>()
    );
    for name in ["map8", "filter8", "flat8", "with8", "unbatch8"] {
        let s = report.stage(name).unwrap();
        assert_eq!(s.mode, skorche::core::Mode::Threads(8), "{name}");
        assert_eq!(s.errors, 0, "{name}");
    }
    assert_eq!(report.stage("map8").unwrap().items_out, N);
    assert_eq!(report.stage("filter8").unwrap().items_out, N / 2);
    assert_eq!(report.stage("flat8").unwrap().items_out, N);
    assert_eq!(report.stage("unbatch8").unwrap().items_out, N);
}

// ---------------------------------------------------------------- Option::None is data

#[test]
fn none_returned_by_a_task_is_passed_on_as_data() {
    let out = watchdog(|| {
        let p = Pipeline::new();
        let q = p
            .source(0..100u32)
            .map(|x| if x % 3 == 0 { None } else { Some(x) })
            .workers(2)
            .map(|o: Option<u32>| o.map(|x| x * 2));
        p.run_iter(q).unwrap().collect::<Result<Vec<_>, _>>()
    })
    .unwrap();
    let mut out = out;
    out.sort();
    let mut expected: Vec<Option<u32>> = (0..100u32)
        .map(|x| if x % 3 == 0 { None } else { Some(x * 2) })
        .collect();
    expected.sort();
    assert_eq!(out.len(), 100);
    assert_eq!(out.iter().filter(|o| o.is_none()).count(), 34);
    assert_eq!(out, expected);
}

#[test]
fn a_source_of_only_none_values_delivers_all_of_them() {
    let out = watchdog(|| {
        let p = Pipeline::new();
        let q = p
            .source(std::iter::repeat_n(None::<u8>, 500))
            .batch(7)
            .unbatch();
        p.run_iter(q).unwrap().collect::<Result<Vec<_>, _>>()
    })
    .unwrap();
    assert_eq!(out, vec![None; 500]);
}

// ---------------------------------------------------------------- rule 3

#[test]
fn panic_names_stage_seq_and_message() {
    let err = watchdog(|| {
        let p = Pipeline::new();
        let q = p
            .source(0..100u32)
            .map(|x| {
                if x == 5 {
                    panic!("boom at item {x}");
                }
                x
            })
            .name("explode");
        {
            drop(q);
            p.run().map(|_| ())
        }
    })
    .unwrap_err();
    assert_eq!(err.failures().len(), 1);
    let f = &err.failures()[0];
    assert_eq!(f.stage, "explode");
    assert_eq!(f.seq, Some(5));
    assert_eq!(f.kind, FailureKind::Panic);
    assert_eq!(f.message, "boom at item 5");
    let text = err.to_string();
    assert!(
        text.contains("explode") && text.contains("#5") && text.contains("boom at item 5"),
        "{text}"
    );
}

#[test]
fn task_error_names_stage_seq_and_message() {
    let err = watchdog(|| {
        let p = Pipeline::new();
        let q = p
            .source(0..100u32)
            .try_map(|x| {
                if x == 37 {
                    Err(format!("bad value {x}"))
                } else {
                    Ok(x)
                }
            })
            .workers(4)
            .name("check");
        {
            drop(q);
            p.run().map(|_| ())
        }
    })
    .unwrap_err();
    let f = &err.failures()[0];
    assert_eq!(err.failures().len(), 1);
    assert_eq!(f.stage, "check");
    assert_eq!(f.seq, Some(37));
    assert_eq!(f.kind, FailureKind::Task);
    assert_eq!(f.message, "bad value 37");
}

#[test]
fn panic_in_a_filter_predicate_names_the_filter_stage() {
    let err = watchdog(|| {
        let p = Pipeline::new();
        let q = p
            .source(0..50u32)
            .filter(|&x| {
                assert!(x != 9, "predicate refused {x}");
                true
            })
            .name("picky");
        p.run_iter(q).unwrap().collect::<Result<Vec<_>, _>>()
    })
    .unwrap_err();
    let f = &err.failures()[0];
    assert_eq!(
        (f.stage.as_str(), f.seq, &f.kind),
        ("picky", Some(9), &FailureKind::Panic)
    );
    assert!(f.message.contains("predicate refused 9"), "{}", f.message);
}

#[test]
fn panic_in_the_source_iterator_names_the_source_and_seq() {
    let err = watchdog(|| {
        let p = Pipeline::new();
        let q = p
            .source((0..50u32).inspect(|&x| assert!(x != 12, "source broke at {x}")))
            .name("numbers")
            .map(|x| x + 1);
        p.run_iter(q).unwrap().collect::<Result<Vec<_>, _>>()
    })
    .unwrap_err();
    let f = &err.failures()[0];
    assert_eq!(
        (f.stage.as_str(), f.seq, &f.kind),
        ("numbers", Some(12), &FailureKind::Panic)
    );
    assert!(f.message.contains("source broke at 12"), "{}", f.message);
}

#[test]
fn error_on_an_endless_source_stops_the_whole_pipeline_promptly() {
    let pulled = Arc::new(AtomicU64::new(0));
    let pulled2 = pulled.clone();
    let (err, bound) = watchdog(move || {
        let p = Pipeline::new();
        let q = p
            .source((0u64..).inspect(move |_| {
                pulled2.fetch_add(1, Ordering::SeqCst);
            }))
            .map(|x| x)
            .workers(2)
            .try_map(|x| if x == 1000 { Err("stop here") } else { Ok(x) })
            .name("stopper")
            .map(|x| x + 1);
        let bound = p.max_in_flight() as u64;
        (
            {
                drop(q);
                p.run().map(|_| ())
            }
            .unwrap_err(),
            bound,
        )
    });
    assert_eq!(err.failures()[0].stage, "stopper");
    assert_eq!(err.failures()[0].seq, Some(1000));
    // Stopped promptly: the endless source was pulled little beyond the failing item
    // (what fits in the queues, plus one per worker that was mid-send).
    let n = pulled.load(Ordering::SeqCst);
    assert!(
        n <= 1001 + 2 * bound,
        "the source was pulled {n} times (bound {bound})"
    );
    // And nothing pulls it any more: every thread has exited.
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(pulled.load(Ordering::SeqCst), n);
}

#[test]
fn errors_of_two_failing_stages_are_all_reported() {
    let err = watchdog(|| {
        // Each branch fails on its first item, and neither fails before both have their
        // item in hand: both failures happen in the same run.
        let both = Arc::new(Barrier::new(2));
        let (b1, b2) = (both.clone(), both);
        let p = Pipeline::new();
        let (even, odd) = p.source(0..100u32).split(|x| x % 2 == 0);
        let left = even
            .try_map(move |x| {
                b1.wait();
                Err::<u32, _>(format!("left refused {x}"))
            })
            .name("left");
        let right = odd
            .map(move |x| {
                b2.wait();
                panic!("right exploded on {x}")
            })
            .name("right");
        let all = p.merge([left, right]);
        p.run_iter(all).unwrap().collect::<Result<Vec<u32>, _>>()
    })
    .unwrap_err();
    let mut failures = err.failures().to_vec();
    failures.sort_by(|a, b| a.stage.cmp(&b.stage));
    assert_eq!(failures.len(), 2, "{err}");
    assert_eq!(failures[0].stage, "left");
    assert_eq!(failures[0].seq, Some(0));
    assert_eq!(failures[0].kind, FailureKind::Task);
    assert_eq!(failures[0].message, "left refused 0");
    assert_eq!(failures[1].stage, "right");
    assert_eq!(failures[1].seq, Some(1));
    assert_eq!(failures[1].kind, FailureKind::Panic);
    assert_eq!(failures[1].message, "right exploded on 1");
    let text = err.to_string();
    assert!(
        text.contains("left refused 0") && text.contains("right exploded on 1"),
        "{text}"
    );
}

#[test]
fn iterator_form_yields_the_error_from_next_and_then_ends() {
    let (items, err, after) = watchdog(|| {
        let p = Pipeline::new();
        let q = p
            .source(0..1000u32)
            .try_map(|x| {
                if x == 10 {
                    Err("ten is not allowed")
                } else {
                    Ok(x)
                }
            })
            .name("no_ten");
        let mut out = p.run_iter(q).unwrap();
        let mut items = Vec::new();
        let err = loop {
            match out.next() {
                Some(Ok(v)) => items.push(v),
                Some(Err(e)) => break e,
                None => panic!("the output ended without the error"),
            }
        };
        (items, err, out.next().is_none())
    });
    assert!(after, "the iterator ends after the error");
    // Items before the failing one may come out; the failing one and later never do.
    assert!(items.len() <= 10);
    assert!(items.iter().enumerate().all(|(i, &v)| i as u32 == v));
    let f = &err.failures()[0];
    assert_eq!((f.stage.as_str(), f.seq), ("no_ten", Some(10)));
    assert_eq!(f.message, "ten is not allowed");
    assert!(matches!(err, PipelineError::Failed(_)));
}

#[test]
fn run_with_an_error_drops_every_item_it_was_holding() {
    let counter = support::LiveCounter::new();
    let c2 = counter.clone();
    let err = watchdog(move || {
        let p = Pipeline::new();
        let q = p
            .source((0u64..).map(move |i| support::Live::new(i, &c2)))
            .map(|x| x)
            .workers(3)
            .try_map(|x| if x.value == 500 { Err("no") } else { Ok(x) })
            .capacity(8);
        {
            drop(q);
            p.run().map(|_| ())
        }
        .unwrap_err()
    });
    assert_eq!(err.failures()[0].seq, Some(500));
    assert!(counter.created() > 500);
    assert_eq!(counter.live(), 0, "items leaked after a failed run");
}

#[test]
fn every_failure_of_a_multi_worker_stage_names_the_stage_and_its_item() {
    // Several workers of one stage may each fail before the stop reaches them; every
    // failure names that stage, its own failing item and its message.
    let calls = Arc::new(AtomicUsize::new(0));
    let calls2 = calls.clone();
    let err = watchdog(move || {
        let p = Pipeline::new();
        let q = p
            .source(0..10_000u32)
            .try_map(move |x| {
                calls2.fetch_add(1, Ordering::SeqCst);
                if x >= 100 {
                    Err(format!("late item {x}"))
                } else {
                    Ok(x)
                }
            })
            .workers(4)
            .name("late");
        {
            drop(q);
            p.run().map(|_| ())
        }
        .unwrap_err()
    });
    assert!(!err.failures().is_empty());
    for f in err.failures() {
        assert_eq!(f.stage, "late");
        let seq = f.seq.expect("a task failure names its item");
        assert!(seq >= 100);
        assert_eq!(f.message, format!("late item {seq}"));
    }
    assert!(
        calls.load(Ordering::SeqCst) < 10_000,
        "the run stopped early"
    );
}
