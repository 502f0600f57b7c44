//! Failure policies in thread mode: retry with backoff, skip, dead letter, budgets, kept
//! causes and the callback; in ordered sections, with markers, and in every task-running
//! operation (map, flat_map, chain, a registered task on threads).

mod support;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use skorche::core::{
    Backoff, Chain, Event, Failed, FailureKind, Pipeline, PipelineError, Placement,
};
use support::watchdog;

/// Task panics are expected here: keep them out of the test output (a panic on any other
/// thread, such as a failed assertion, is still printed).
fn quiet_task_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let name = std::thread::current().name().unwrap_or("").to_string();
            if !name.starts_with("skorche:") {
                default(info);
            }
        }));
    });
}

/// Per-item attempt counters, for tasks that fail their first attempts.
struct Tries(Mutex<HashMap<u64, u32>>);

impl Tries {
    fn new() -> Arc<Self> {
        Arc::new(Tries(Mutex::new(HashMap::new())))
    }
    /// Counts one more attempt on `n` and returns its number (1 for the first).
    fn next(&self, n: u64) -> u32 {
        let mut m = self.0.lock().unwrap();
        let t = m.entry(n).or_insert(0);
        *t += 1;
        *t
    }
    fn total(&self) -> u32 {
        self.0.lock().unwrap().values().sum()
    }
}

fn jitter(n: u64) {
    let us = n.wrapping_mul(2654435761) % 7 * 30;
    std::thread::sleep(Duration::from_micros(us));
}

// ------------------------------------------------------------------ the two tests

#[test]
fn one_panic_in_a_thousand_with_skip_loses_exactly_those_items_and_counts_them() {
    quiet_task_panics();
    let bad = |n: u64| n % 1000 == 437;
    let (out, report) = watchdog(move || {
        let p = Pipeline::new();
        let q = p
            .source(0..10_000u64)
            .skip_failures()
            .map(move |n| {
                if bad(n) {
                    panic!("item {n} is cursed");
                }
                n * 2
            })
            .workers(4)
            .name("work");
        p.run_iter(q).unwrap().collect_report().unwrap()
    });
    let expected: BTreeSet<u64> = (0..10_000).filter(|&n| !bad(n)).map(|n| n * 2).collect();
    assert_eq!(out.len(), expected.len(), "each good item comes out once");
    assert_eq!(out.iter().copied().collect::<BTreeSet<_>>(), expected);

    let work = report.stage("work").unwrap();
    assert_eq!(work.items_in, 10_000);
    assert_eq!(work.items_out, 9_990);
    assert_eq!((work.failed, work.skipped), (10, 10));
    assert_eq!((work.retried, work.dead_lettered, work.errors), (0, 0, 0));
    let mut seqs: Vec<u64> = work.causes.iter().map(|c| c.seq.unwrap()).collect();
    seqs.sort();
    assert_eq!(seqs, (0..10).map(|k| k * 1000 + 437).collect::<Vec<_>>());
    assert!(work.causes.iter().all(|c| c.kind == FailureKind::Panic
        && c.stage == "work"
        && c.message.contains("is cursed")));
    let table = report.to_string();
    assert!(
        table.contains("skipped") && table.contains("failures of 'work'"),
        "{table}"
    );
}

#[test]
fn retry_three_with_a_task_failing_its_first_two_attempts_lets_everything_through() {
    let tries = Tries::new();
    let t = tries.clone();
    let (out, report) = watchdog(move || {
        let p = Pipeline::new();
        let q = p
            .source(0..1000u64)
            .retry(3)
            .try_map(move |n| match t.next(n) {
                1 | 2 => Err(format!("flaky on {n}")),
                _ => Ok(n + 1),
            })
            .workers(4)
            .name("flaky");
        p.run_iter(q).unwrap().collect_report().unwrap()
    });
    let mut out = out;
    out.sort();
    assert_eq!(out, (1..=1000).collect::<Vec<u64>>());
    assert_eq!(tries.total(), 3000, "three attempts per item");
    let flaky = report.stage("flaky").unwrap();
    assert_eq!(flaky.retried, 2000);
    assert_eq!(
        (flaky.failed, flaky.skipped, flaky.dead_lettered),
        (0, 0, 0)
    );
    assert_eq!((flaky.items_in, flaky.items_out), (1000, 1000));
    assert!(flaky.causes.is_empty());
}

#[test]
fn retry_recovers_from_panics_too() {
    quiet_task_panics();
    let tries = Tries::new();
    let t = tries.clone();
    let (out, report) = watchdog(move || {
        let p = Pipeline::new();
        let q = p
            .source(0..200u64)
            .retry(2)
            .map(move |n| {
                if n % 10 == 0 && t.next(n) == 1 {
                    panic!("first try of {n}");
                }
                n
            })
            .workers(3)
            .name("m");
        p.run_iter(q).unwrap().collect_report().unwrap()
    });
    assert_eq!(out.len(), 200);
    assert_eq!(report.stage("m").unwrap().retried, 20);
}

// ------------------------------------------------------------------ dead letters

#[test]
fn dead_letter_carries_the_item_its_attempts_and_the_cause() {
    let (out, report) = watchdog(|| {
        let p = Pipeline::new();
        let (q, failed) = p.source(0..500u64).retry(3).dead_letter();
        let decoded = q
            .try_map(|n| {
                if n % 50 == 7 {
                    Err(format!("bad {n}"))
                } else {
                    Ok(n)
                }
            })
            .workers(4)
            .name("decode");
        let all = p.merge([decoded.map(Ok), failed.map(Err)]);
        p.run_iter(all).unwrap().collect_report().unwrap()
    });
    let mut good = Vec::new();
    let mut dead: Vec<Failed<u64>> = Vec::new();
    for r in out {
        match r {
            Ok(n) => good.push(n),
            Err(f) => dead.push(f),
        }
    }
    good.sort();
    dead.sort_by_key(|f| f.item);
    assert_eq!(good, (0..500).filter(|n| n % 50 != 7).collect::<Vec<_>>());
    assert_eq!(
        dead.iter().map(|f| f.item).collect::<Vec<_>>(),
        (0..10).map(|k| k * 50 + 7).collect::<Vec<_>>(),
        "each failed item appears once in the dead letters"
    );
    for f in &dead {
        assert_eq!(f.attempts, 3);
        assert_eq!(f.error.stage, "decode");
        assert_eq!(f.error.seq, Some(f.item));
        assert_eq!(f.error.kind, FailureKind::Task);
        assert_eq!(f.error.message, format!("bad {}", f.item));
    }
    let decode = report.stage("decode").unwrap();
    assert_eq!(
        (decode.failed, decode.dead_lettered, decode.skipped),
        (10, 10, 0)
    );
    assert_eq!(decode.retried, 20);
    assert_eq!(
        decode.items_out, 490,
        "dead letters are not counted as outputs"
    );
}

#[test]
fn a_panicking_item_is_dead_lettered_with_the_panic_message() {
    quiet_task_panics();
    let dead = watchdog(|| {
        let p = Pipeline::new();
        let (q, failed) = p.source(vec![1u32, 2, 3]).dead_letter();
        let out = p.output(q.map(|n| if n == 2 { panic!("two!") } else { n }));
        let failed = p.output(failed);
        let mut run = p.start().unwrap();
        let (out, failed) = (run.take(out), run.take(failed));
        let reader = std::thread::spawn(move || failed.collect::<Result<Vec<_>, _>>());
        assert_eq!(out.collect::<Result<Vec<_>, _>>().unwrap(), [1, 3]);
        reader.join().unwrap().unwrap()
    });
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].item, dead[0].attempts), (2, 1));
    assert_eq!(dead[0].error.kind, FailureKind::Panic);
    assert_eq!(dead[0].error.message, "two!");
}

#[test]
fn a_dead_letter_queue_without_its_stage_is_an_invalid_pipeline() {
    let p = Pipeline::new();
    let (items, failed) = p.source(0..10u32).dead_letter();
    drop(items); // the stage that would fail items is never declared
    let err = p.run_iter(failed).map(|_| ()).unwrap_err();
    match err {
        PipelineError::Invalid(m) => assert!(m.contains("dead-letter queue"), "{m}"),
        other => panic!("expected an invalid pipeline, got {other}"),
    }
}

#[test]
fn the_dead_letter_queue_is_drawn_as_an_output_of_its_stage() {
    let p = Pipeline::new();
    let (q, failed) = p.source(0..10u32).dead_letter();
    let decoded = q.map(|n| n + 1).name("decode");
    let logged = failed.map(|f| f.item).name("log");
    let _ = p.merge([decoded, logged]);
    let dot = p.to_dot();
    assert!(dot.contains("Failed<u32>"), "{dot}");
    assert!(
        !dot.contains("dead_letter"),
        "no placeholder is drawn: {dot}"
    );
    let mermaid = p.to_mermaid();
    assert!(mermaid.contains("Failed<u32>"), "{mermaid}");
}

// ------------------------------------------------------------------ ordered sections, markers

#[test]
fn skipped_items_in_an_ordered_section_leave_skips_and_the_output_stays_in_order() {
    let out = watchdog(|| {
        let p = Pipeline::new();
        // A small window: a position order_load waited for would stall the run.
        let (q, point) = p.source(0..3000u64).order_save(8);
        let q = q
            .skip_failures()
            .try_map(|n| {
                jitter(n);
                if n % 7 == 3 {
                    Err("no")
                } else {
                    Ok(n)
                }
            })
            .workers(4)
            .order_load(point);
        p.run_iter(q)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
    });
    assert_eq!(out, (0..3000).filter(|n| n % 7 != 3).collect::<Vec<_>>());
}

#[test]
fn dead_lettered_items_in_an_ordered_section_leave_skips_and_reach_the_side_output() {
    let (out, dead) = watchdog(|| {
        let p = Pipeline::new();
        let (q, point) = p.source(0..2000u64).order_save(8);
        let (q, failed) = q.retry(2).dead_letter();
        let q = q
            .try_map(|n| {
                jitter(n);
                if n % 11 == 5 {
                    Err("no")
                } else {
                    Ok(n)
                }
            })
            .workers(4)
            .order_load(point);
        let (out, failed) = (p.output(q), p.output(failed));
        let mut run = p.start().unwrap();
        let (out, failed) = (run.take(out), run.take(failed));
        let reader = std::thread::spawn(move || failed.collect::<Result<Vec<_>, _>>());
        let out = out.collect::<Result<Vec<_>, _>>().unwrap();
        (out, reader.join().unwrap().unwrap())
    });
    assert_eq!(out, (0..2000).filter(|n| n % 11 != 5).collect::<Vec<_>>());
    let mut dead: Vec<u64> = dead.iter().map(|f| f.item).collect();
    dead.sort();
    assert_eq!(dead, (0..2000).filter(|n| n % 11 == 5).collect::<Vec<_>>());
}

#[test]
fn ordered_with_a_policy_on_its_stage_keeps_order() {
    let out = watchdog(|| {
        let p = Pipeline::new();
        let q = p
            .source(0..1000u64)
            .skip_failures()
            .try_map(|n| if n % 5 == 0 { Err("five") } else { Ok(n) })
            .workers(4)
            .ordered_within(4);
        p.run_iter(q)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
    });
    assert_eq!(out, (0..1000).filter(|n| n % 5 != 0).collect::<Vec<_>>());
}

#[test]
fn markers_keep_their_place_when_items_are_skipped_or_dead_lettered() {
    let segments = watchdog(|| {
        let p = Pipeline::new();
        let (q, marker) = p.source(0..100u64).insert_periodic(10, Placement::After);
        let (q, _failed) = q.skip_failures().retry(2).dead_letter();
        let q = q
            .try_map(|n| {
                jitter(n);
                if n % 10 == 4 {
                    Err("four")
                } else {
                    Ok(n)
                }
            })
            .workers(4)
            .ordered_within(4);
        let mut out = p.run_iter(q).unwrap();
        let mut segments = Vec::new();
        let mut current = Vec::new();
        while let Some(e) = out.next_event() {
            match e.unwrap() {
                Event::Item(v) => current.push(v),
                Event::Marker(id) => {
                    assert!(marker.matches(id));
                    segments.push(std::mem::take(&mut current));
                }
            }
        }
        assert!(
            current.is_empty(),
            "the last marker closes the last segment"
        );
        segments
    });
    let expected: Vec<Vec<u64>> = (0..10)
        .map(|k| (k * 10..k * 10 + 10).filter(|n| n % 10 != 4).collect())
        .collect();
    assert_eq!(segments, expected);
}

#[test]
fn markers_are_never_given_to_a_retrying_task() {
    let calls = Arc::new(AtomicU64::new(0));
    let c = calls.clone();
    let n = watchdog(move || {
        let p = Pipeline::new();
        let (q, _m) = p.source(0..50u64).insert_periodic(5, Placement::Before);
        let q = q.retry(2).skip_failures().map(move |x| {
            c.fetch_add(1, Ordering::Relaxed);
            x
        });
        p.run_iter(q).unwrap().count()
    });
    assert_eq!(n, 50);
    assert_eq!(calls.load(Ordering::Relaxed), 50);
}

// ------------------------------------------------------------------ budgets

fn budget_failure(err: &PipelineError) -> &skorche::core::StageFailure {
    let failures = err.failures();
    assert_eq!(failures.len(), 1, "one failure, naming the budget: {err}");
    assert_eq!(failures[0].kind, FailureKind::BudgetExceeded, "{err}");
    &failures[0]
}

#[test]
fn a_stage_budget_exceeded_fails_the_run_naming_the_budget_and_the_last_cause() {
    let err = watchdog(|| {
        let p = Pipeline::new();
        let q = p
            .source(0..1000u64)
            .skip_failures()
            .max_failures(5)
            .try_map(|n| {
                if n % 40 == 1 {
                    Err(format!("broken {n}"))
                } else {
                    Ok(n)
                }
            })
            .workers(4)
            .name("strict");
        p.run_iter(q)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap_err()
    });
    let f = budget_failure(&err);
    assert_eq!(f.stage, "strict");
    assert!(f.message.contains("max_failures(5)"), "{f}");
    assert!(f.message.contains("6 items failed"), "{f}");
    assert!(
        f.message.contains("last cause") && f.message.contains("broken"),
        "{f}"
    );
    assert!(f.seq.is_some_and(|s| s % 40 == 1), "{f}");
}

#[test]
fn a_stage_within_its_budget_runs_to_the_end() {
    let (out, report) = watchdog(|| {
        let p = Pipeline::new();
        let q = p
            .source(0..1000u64)
            .skip_failures()
            .max_failures(25)
            .try_map(|n| if n % 40 == 1 { Err("broken") } else { Ok(n) })
            .workers(4)
            .name("tolerant");
        p.run_iter(q).unwrap().collect_report().unwrap()
    });
    assert_eq!(out.len(), 975);
    assert_eq!(report.stage("tolerant").unwrap().skipped, 25);
}

#[test]
fn the_run_budget_counts_failures_of_every_stage() {
    let run = |budget: u64| {
        watchdog(move || {
            let p = Pipeline::new();
            p.max_failures(budget);
            let a = p
                .source(0..200u64)
                .skip_failures()
                .try_map(|n| if n % 20 == 0 { Err("a") } else { Ok(n) })
                .workers(2)
                .name("a");
            let b = a
                .skip_failures()
                .try_map(|n| if n % 20 == 1 { Err("b") } else { Ok(n) })
                .workers(2)
                .name("b");
            p.run_iter(b).unwrap().collect_report()
        })
    };
    // 10 failures in each stage: 20 over the run.
    let (out, report) = run(20).unwrap();
    assert_eq!(out.len(), 180);
    assert_eq!(
        report.stage("a").unwrap().skipped + report.stage("b").unwrap().skipped,
        20
    );

    let err = run(12).unwrap_err();
    let f = budget_failure(&err);
    assert!(f.message.contains("the run's max_failures(12)"), "{f}");
    assert!(f.message.contains("13 items failed"), "{f}");
}

#[test]
fn a_failure_rate_budget_trips_while_the_stage_runs() {
    let err = watchdog(|| {
        let p = Pipeline::new();
        let q = p
            .source(0..100_000u64)
            .skip_failures()
            .max_failure_rate(0.1)
            .try_map(|n| {
                if n % 5 == 0 {
                    Err("one in five")
                } else {
                    Ok(n)
                }
            })
            .workers(2)
            .name("rated");
        let mut out = p.run_iter(q).unwrap();
        let mut taken = 0;
        let err = loop {
            match out.next() {
                Some(Ok(_)) => taken += 1,
                Some(Err(e)) => break e,
                None => panic!("the run ended without tripping its rate budget"),
            }
        };
        assert!(
            taken < 50_000,
            "the budget tripped early, not at the end ({taken} items)"
        );
        err
    });
    let f = budget_failure(&err);
    assert_eq!(f.stage, "rated");
    assert!(f.message.contains("max_failure_rate(0.1)"), "{f}");
}

#[test]
fn a_failure_rate_budget_is_checked_over_a_short_stage_at_its_end() {
    let run = |every: u64| {
        watchdog(move || {
            let p = Pipeline::new();
            let q = p
                .source(0..50u64)
                .skip_failures()
                .max_failure_rate(0.1)
                .try_map(move |n| if n % every == 0 { Err("bad") } else { Ok(n) })
                .workers(3)
                .name("short");
            p.run_iter(q).unwrap().collect_report()
        })
    };
    // 1 in 5 (20%) over 50 items: fewer than the mid-run minimum, caught at the end.
    let err = run(5).unwrap_err();
    let f = budget_failure(&err);
    assert!(f.message.contains("10 of 50 items failed"), "{f}");
    // 1 in 25 (4%, 2 items): within the budget.
    let (out, report) = run(25).unwrap();
    assert_eq!(out.len(), 48);
    assert_eq!(report.stage("short").unwrap().skipped, 2);
}

// ------------------------------------------------------------------ causes and the callback

#[test]
fn the_callback_sees_every_cause_while_the_report_keeps_the_first_n() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let report = watchdog(move || {
        let p = Pipeline::new();
        let q = p
            .source(0..1000u64)
            .skip_failures()
            .keep_causes(5)
            .on_failure(move |f| log.lock().unwrap().push(f.clone()))
            .try_map(|n| {
                if n % 10 == 9 {
                    Err(format!("nine {n}"))
                } else {
                    Ok(n)
                }
            })
            .workers(4)
            .name("c");
        let b = q
            .skip_failures()
            .try_map(|n| if n == 500 { Err("b") } else { Ok(n) })
            .name("d");
        p.run_iter(b).unwrap().collect_report().unwrap().1
    });
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 100);
    let seqs: BTreeSet<u64> = seen.iter().map(|f| f.seq.unwrap()).collect();
    assert_eq!(seqs, (0..1000).filter(|n| n % 10 == 9).collect());
    assert!(seen
        .iter()
        .all(|f| f.stage == "c" && f.message == format!("nine {}", f.seq.unwrap())));
    let c = report.stage("c").unwrap();
    assert_eq!(c.failed, 100);
    assert_eq!(c.causes.len(), 5);
    assert!(c.causes.iter().all(|k| seen.contains(k)));
    // Another stage keeps its own causes (16 by default).
    let d = report.stage("d").unwrap();
    assert_eq!((d.skipped, d.causes.len()), (1, 1));
}

#[test]
fn the_report_keeps_sixteen_causes_by_default() {
    let (_, report) = watchdog(|| {
        let p = Pipeline::new();
        let q = p
            .source(0..100u64)
            .skip_failures()
            .try_map(|n| if n % 2 == 0 { Err("even") } else { Ok(n) })
            .name("e");
        p.run_iter(q).unwrap().collect_report().unwrap()
    });
    let e = report.stage("e").unwrap();
    assert_eq!((e.failed, e.causes.len()), (50, 16));
    // With one worker, the first causes are the first failed items.
    assert_eq!(
        e.causes.iter().map(|c| c.seq.unwrap()).collect::<Vec<_>>(),
        (0..16).map(|k| k * 2).collect::<Vec<_>>()
    );
}

// ------------------------------------------------------------------ backoff

/// Runs one item whose first `failures` attempts fail, under `backoff`, and returns the
/// gaps between consecutive attempts.
fn attempt_gaps(failures: u32, backoff: Backoff) -> Vec<Duration> {
    let times = Arc::new(Mutex::new(Vec::new()));
    let t = times.clone();
    watchdog(move || {
        let p = Pipeline::new();
        let q = p
            .source(vec![7u64])
            .retry(failures + 1)
            .backoff(backoff)
            .try_map(move |n| {
                let mut times = t.lock().unwrap();
                times.push(Instant::now());
                if times.len() as u32 <= failures {
                    Err("not yet")
                } else {
                    Ok(n)
                }
            });
        assert_eq!(
            p.run_iter(q)
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap(),
            [7]
        );
    });
    let times = times.lock().unwrap();
    assert_eq!(times.len() as u32, failures + 1);
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

#[test]
fn exponential_backoff_doubles_each_wait_up_to_its_cap() {
    let ms = Duration::from_millis;
    let gaps = attempt_gaps(7, Backoff::exponential(ms(10), ms(30)));
    let expected = [10, 20, 30, 30, 30, 30, 30];
    for (gap, want) in gaps.iter().zip(expected) {
        assert!(
            *gap >= ms(want),
            "gaps {gaps:?}, expected at least {expected:?}"
        );
    }
    // Uncapped, the waits would add up to 1270 ms; capped, to 180 ms.
    let total: Duration = gaps.iter().sum();
    assert!(total < ms(800), "the cap bounds the waits: {gaps:?}");
}

#[test]
fn fixed_backoff_waits_the_same_before_every_retry() {
    let ms = Duration::from_millis;
    let gaps = attempt_gaps(3, Backoff::fixed(ms(15)));
    assert!(gaps.iter().all(|g| *g >= ms(15)), "{gaps:?}");
}

#[test]
fn a_failing_run_stops_promptly_while_a_worker_waits_to_retry() {
    let started = Arc::new(AtomicU32::new(0));
    let s = started.clone();
    let err = watchdog(move || {
        let p = Pipeline::new();
        let (waiting, failing) = p.source(0..2u64).split(|&n| n == 0);
        // Item 0 fails, then waits an hour before its retry...
        let waiting = waiting
            .retry(2)
            .backoff(Backoff::fixed(Duration::from_secs(3600)))
            .try_map(move |n| {
                s.fetch_add(1, Ordering::SeqCst);
                Err::<u64, _>(format!("later {n}"))
            })
            .name("patient");
        // ... while item 1 fails the run (once item 0 has failed).
        let gate = started.clone();
        let failing = failing
            .try_map(move |n| {
                while gate.load(Ordering::SeqCst) == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err::<u64, _>(format!("now {n}"))
            })
            .name("hasty");
        let all = p.merge([waiting, failing]);
        p.run_iter(all)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap_err()
    });
    // Within the watchdog, not an hour: the waiting worker saw the run stop.
    assert_eq!(err.failures()[0].stage, "hasty");
}

// ------------------------------------------------------------------ every task operation

#[test]
fn flat_map_under_retry_emits_each_input_s_outputs_exactly_once() {
    quiet_task_panics();
    let tries = Tries::new();
    let t = tries.clone();
    let (out, report) = watchdog(move || {
        let p = Pipeline::new();
        let q = p
            .source(0..300u64)
            .retry(2)
            .flat_map(move |n| {
                let attempt = t.next(n);
                // A lazy iterator that panics half-way through on its first attempt.
                (0..3u64).map(move |i| {
                    if n % 3 == 0 && attempt == 1 && i == 2 {
                        panic!("half-way through {n}");
                    }
                    n * 10 + i
                })
            })
            .workers(4)
            .name("expand");
        p.run_iter(q).unwrap().collect_report().unwrap()
    });
    let mut out = out;
    out.sort();
    let expected: Vec<u64> = (0..300u64)
        .flat_map(|n| (0..3).map(move |i| n * 10 + i))
        .collect();
    assert_eq!(
        out, expected,
        "no output of a failed attempt went downstream"
    );
    assert_eq!(report.stage("expand").unwrap().retried, 100);
}

#[test]
fn flat_map_with_skip_drops_all_outputs_of_a_failed_input_in_order() {
    let out = watchdog(|| {
        let p = Pipeline::new();
        let q = p
            .source(0..500u64)
            .skip_failures()
            .try_flat_map(|n| {
                jitter(n);
                if n % 9 == 4 {
                    Err("nine")
                } else {
                    Ok(vec![n; (n % 3) as usize])
                }
            })
            .workers(4)
            .ordered_within(8);
        p.run_iter(q)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
    });
    let expected: Vec<u64> = (0..500u64)
        .filter(|n| n % 9 != 4)
        .flat_map(|n| vec![n; (n % 3) as usize])
        .collect();
    assert_eq!(out, expected);
}

#[test]
fn chain_failures_name_their_step_in_the_dead_letter() {
    let (out, report) = watchdog(|| {
        let p = Pipeline::new();
        let steps = Chain::new("parse", |s: String| s.parse::<u32>()).then("halve", |n: u32| {
            if n % 2 == 0 {
                Ok(n / 2)
            } else {
                Err("odd")
            }
        });
        let (q, failed) = p
            .source(vec!["4".to_string(), "x".into(), "3".into(), "8".into()])
            .retry(2)
            .dead_letter();
        let halves = q.chain(steps).name("steps");
        let all = p.merge([halves.map(Ok), failed.map(Err)]);
        p.run_iter(all).unwrap().collect_report().unwrap()
    });
    let mut good: Vec<u32> = out
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    good.sort();
    assert_eq!(good, [2, 4]);
    let mut dead: Vec<&Failed<String>> = out.iter().filter_map(|r| r.as_ref().err()).collect();
    dead.sort_by_key(|f| f.error.seq);
    assert_eq!(dead.len(), 2);
    assert_eq!(dead[0].item, "x");
    assert!(
        dead[0].error.message.starts_with("step 'parse'"),
        "{}",
        dead[0].error
    );
    assert_eq!(dead[1].item, "3");
    assert!(
        dead[1].error.message.starts_with("step 'halve'"),
        "{}",
        dead[1].error
    );
    assert!(dead.iter().all(|f| f.attempts == 2));
    let steps = report.stage("steps").unwrap();
    assert_eq!(
        (steps.failed, steps.retried, steps.dead_lettered),
        (2, 2, 2)
    );
}

static FLAKY_TRIES: Mutex<Option<HashMap<u64, u32>>> = Mutex::new(None);

fn flaky_twice(n: u64) -> Result<u64, String> {
    let mut tries = FLAKY_TRIES.lock().unwrap();
    let t = tries.get_or_insert_with(HashMap::new).entry(n).or_insert(0);
    *t += 1;
    if *t <= 2 {
        Err(format!("attempt {t} on {n}"))
    } else {
        Ok(n * 3)
    }
}

fn odd_one_panics(n: u64) -> u64 {
    if n % 25 == 13 {
        panic!("registered task panics on {n}");
    }
    n
}

skorche::worker::task! {
    static FLAKY_TWICE: u64 => u64 = try_map("thread_failures_flaky_twice", flaky_twice);
    static ODD_ONE_PANICS: u64 => u64 = map("thread_failures_odd_one_panics", odd_one_panics);
}

#[test]
fn a_registered_task_on_threads_retries_and_skips() {
    quiet_task_panics();
    let (out, report) = watchdog(|| {
        let p = Pipeline::new();
        let q = p
            .source(0..200u64)
            .retry(3)
            .map_task(&FLAKY_TWICE)
            .workers(3)
            .name("flaky");
        let q = q
            .skip_failures()
            .map_task(&ODD_ONE_PANICS)
            .workers(2)
            .name("panicky");
        p.run_iter(q).unwrap().collect_report().unwrap()
    });
    let mut out = out;
    out.sort();
    let expected: Vec<u64> = (0..200u64)
        .map(|n| n * 3)
        .filter(|n| n % 25 != 13)
        .collect();
    assert_eq!(out, expected);
    assert_eq!(report.stage("flaky").unwrap().retried, 400);
    let panicky = report.stage("panicky").unwrap();
    assert_eq!((panicky.failed, panicky.skipped), (8, 8));
    assert!(panicky.causes.iter().all(|c| c.kind == FailureKind::Panic));
}

// ------------------------------------------------------------------ the default

#[test]
fn without_a_policy_the_first_failure_stops_the_run_as_before() {
    let calls = Arc::new(AtomicU64::new(0));
    let c = calls.clone();
    let err = watchdog(move || {
        let p = Pipeline::new();
        let q = p
            .source(0..10_000u64)
            .try_map(move |n| {
                c.fetch_add(1, Ordering::Relaxed);
                if n == 3 {
                    Err("three")
                } else {
                    Ok(n)
                }
            })
            .name("strict");
        p.run_iter(q)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap_err()
    });
    let f = &err.failures()[0];
    assert_eq!(
        (f.stage.as_str(), f.seq, f.kind.clone()),
        ("strict", Some(3), FailureKind::Task)
    );
    assert_eq!(f.message, "three");
    assert!(
        calls.load(Ordering::Relaxed) < 10_000,
        "the run stopped early"
    );
}

#[test]
fn retry_alone_fails_the_run_after_the_last_attempt_naming_the_attempts() {
    let tries = Tries::new();
    let t = tries.clone();
    let err = watchdog(move || {
        let p = Pipeline::new();
        let q = p
            .source(0..5u64)
            .retry(3)
            .try_map(move |n| {
                t.next(n);
                if n == 2 {
                    Err("always")
                } else {
                    Ok(n)
                }
            })
            .name("stubborn");
        p.run_iter(q)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap_err()
    });
    assert_eq!(tries.0.lock().unwrap()[&2], 3);
    let f = &err.failures()[0];
    assert_eq!(
        (f.stage.as_str(), f.seq, f.kind.clone()),
        ("stubborn", Some(2), FailureKind::Task)
    );
    assert_eq!(f.message, "always (after 3 attempts)");
}

#[test]
fn a_policy_binds_to_the_next_stage_only() {
    let err = watchdog(|| {
        let p = Pipeline::new();
        let q = p
            .source(0..100u64)
            .skip_failures()
            .try_map(|n| if n == 1 { Err("skipped") } else { Ok(n) })
            .name("lenient")
            .try_map(|n| if n == 2 { Err("fatal") } else { Ok(n) })
            .name("strict");
        p.run_iter(q)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap_err()
    });
    assert_eq!(err.failures().len(), 1);
    assert_eq!(err.failures()[0].stage, "strict");
}

#[test]
#[should_panic(expected = "runs no task it could apply to")]
fn a_policy_before_an_operation_without_a_task_panics_at_declaration() {
    let p = Pipeline::new();
    let _ = p.source(0..10u32).skip_failures().filter(|n| n % 2 == 0);
}
