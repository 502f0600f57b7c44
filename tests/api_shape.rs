//! The API shape users build on: failures that are standard errors keeping the task's own
//! error, a handshake mismatch with its own kind, reports that compare and serialize, fused
//! output iterators, `skorche::task!` and `skorche::enter` at the crate root, pipelines
//! declared on one thread and run on another, and settings that can never be right refused
//! where they are declared.
#[path = "support/process.rs"]
mod support;

use std::error::Error;
use std::fmt;
use std::iter::FusedIterator;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use skorche::prelude::*;
use skorche::{StageReport, Until};

/// A task's own error type, to be found again behind a failure.
#[derive(Debug, Clone, PartialEq)]
struct TooBig(u64);

impl fmt::Display for TooBig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is too big", self.0)
    }
}

impl Error for TooBig {}

fn at_most_5(n: u64) -> Result<u64, TooBig> {
    if n <= 5 {
        Ok(n)
    } else {
        Err(TooBig(n))
    }
}

/// The error `failure` keeps from its task, as the task's own type.
fn too_big(failure: &StageFailure) -> Option<&TooBig> {
    failure.source().and_then(|e| e.downcast_ref::<TooBig>())
}

/// The one failure of a run that must fail.
fn only_failure(err: &PipelineError) -> &StageFailure {
    match err.failures() {
        [f] => f,
        other => panic!("expected one failure, got {other:?} ({err})"),
    }
}

/// Runs `out` of `p` to its error.
fn run_to_error<T: Send + 'static + fmt::Debug, K>(p: Pipeline, out: Queue<T, K>) -> PipelineError {
    p.run_iter(out)
        .expect("the run starts")
        .collect::<Result<Vec<T>, _>>()
        .expect_err("the run fails")
}

// ------------------------------------------------------------------ errors

#[test]
fn a_stage_failure_is_a_std_error_that_can_be_boxed_and_cloned() {
    fn assert_error<E: Error + Clone + Send + Sync + 'static>() {}
    assert_error::<StageFailure>();

    let p = Pipeline::new();
    let out = p.source(0..10u64).try_map(at_most_5).name("check");
    let failure = only_failure(&run_to_error(p, out)).clone();
    let copy = failure.clone();
    assert_eq!(too_big(&copy), Some(&TooBig(6)), "a clone keeps the source");
    let boxed: Box<dyn Error + Send + Sync> = Box::new(failure);
    assert_eq!(
        boxed.to_string(),
        "stage 'check', item #6: task error: 6 is too big"
    );
    assert!(boxed.source().is_some());
}

#[test]
fn a_try_map_error_is_kept_as_the_source_on_several_workers() {
    let p = Pipeline::new();
    let out = p
        .source(0..100u64)
        .try_map(at_most_5)
        .workers(3)
        .name("check");
    let err = run_to_error(p, out);
    let failure = only_failure(&err);
    assert_eq!(failure.kind, FailureKind::Task);
    let mine = too_big(failure).expect("the task's own error is the source");
    assert_eq!(Some(mine.0), failure.seq, "the error of the failing item");
    assert_eq!(failure.message, mine.to_string(), "the message is kept too");
}

#[test]
fn try_map_with_and_try_flat_map_errors_are_kept_as_the_source() {
    let p = Pipeline::new();
    let out = p.source(0..10u64).try_map_with(
        || 0u64,
        |seen, n| {
            *seen += 1;
            at_most_5(n)
        },
    );
    assert_eq!(
        too_big(only_failure(&run_to_error(p, out))),
        Some(&TooBig(6))
    );

    let p = Pipeline::new();
    let out = p
        .source(0..10u64)
        .try_flat_map(|n| at_most_5(n).map(|n| vec![n; 2]));
    assert_eq!(
        too_big(only_failure(&run_to_error(p, out))),
        Some(&TooBig(6))
    );
}

#[test]
fn the_source_survives_retries_dead_letters_and_budgets() {
    // Retried, then failing the run: the last attempt's error.
    let p = Pipeline::new();
    let out = p.source(0..10u64).retry(2).try_map(at_most_5);
    assert_eq!(
        too_big(only_failure(&run_to_error(p, out))),
        Some(&TooBig(6))
    );

    // Dead-lettered: the letter's error, and the report's causes.
    let p = Pipeline::new();
    let (numbers, failed) = p.source(0..8u64).dead_letter();
    let numbers = numbers.try_map(at_most_5).name("check");
    let all = p.merge([numbers.map(Ok), failed.map(Err)]);
    let (out, report) = p.run_iter(all).unwrap().collect_report().unwrap();
    let letters: Vec<&TooBig> = out
        .iter()
        .filter_map(|r| r.as_ref().err())
        .map(|f| too_big(&f.error).expect("a dead letter keeps the source"))
        .collect();
    assert_eq!(letters.len(), 2);
    let causes = &report.stage("check").unwrap().causes;
    assert!(causes.iter().all(|c| too_big(c).is_some()), "{causes:?}");

    // Past a budget: the failure names the budget and keeps the last cause's source.
    let p = Pipeline::new();
    let out = p
        .source(0..10u64)
        .skip_failures()
        .max_failures(1)
        .try_map(at_most_5);
    let err = run_to_error(p, out);
    let failure = only_failure(&err);
    assert_eq!(failure.kind, FailureKind::BudgetExceeded);
    assert!(too_big(failure).is_some(), "{failure}");
}

#[test]
fn a_panic_or_a_registered_task_leaves_only_the_message() {
    let p = Pipeline::new();
    let out = p.source(0..3u64).map(|n| {
        assert!(n < 2, "no {n}");
        n
    });
    let err = run_to_error(p, out);
    let failure = only_failure(&err);
    assert_eq!(failure.kind, FailureKind::Panic);
    assert!(failure.source().is_none());

    // A registered task behaves the same on threads as in processes: text only.
    let p = Pipeline::new();
    let out = p.source(0..10u64).map_task(&CHECK);
    let err = run_to_error(p, out);
    let failure = only_failure(&err);
    assert_eq!(failure.kind, FailureKind::Task);
    assert_eq!(failure.message, "6 is too big");
    assert!(failure.source().is_none());
}

#[test]
fn failures_built_by_hand_compare_without_their_sources() {
    let plain = StageFailure::new("parse", Some(3), FailureKind::Task, "6 is too big");
    let with = plain.clone().with_source(TooBig(6));
    assert_eq!(
        plain, with,
        "equality looks at stage, item, kind and message"
    );
    assert!(plain.source().is_none());
    assert_eq!(too_big(&with), Some(&TooBig(6)));
    assert_eq!(
        with.to_string(),
        "stage 'parse', item #3: task error: 6 is too big"
    );
}

skorche::task! {
    static CHECK: u64 => u64 = try_map("api_shape_check", at_most_5);
}

#[test]
fn a_handshake_mismatch_has_its_own_kind() {
    // The test worker does not link this file's tasks: it refuses CHECK at handshake.
    let p = Pipeline::new();
    p.worker_program(support::TEST_WORKER);
    let out = p
        .source(0..10u64)
        .map_task(&CHECK)
        .processes(1)
        .name("unknown");
    let err = run_to_error(p, out);
    let failure = err
        .failures()
        .iter()
        .find(|f| f.stage == "unknown")
        .unwrap_or_else(|| panic!("no failure of the stage: {err}"));
    assert_eq!(failure.kind, FailureKind::Handshake, "{err}");
    assert!(failure.message.contains("api_shape_check"), "{failure}");
    assert!(failure.source().is_none(), "process failures are text only");
}

#[test]
fn a_ring_capacity_out_of_bounds_is_a_declaration_error_naming_the_stage() {
    let p = Pipeline::new();
    p.worker_program(support::TEST_WORKER);
    let out = p
        .source(0..10u64)
        .map_task(&skorche::worker::builtin::IDENTITY_U64)
        .processes(1)
        .ring_capacity(0)
        .name("tiny");
    match p.run_iter(out).map(|o| o.collect::<Result<Vec<u64>, _>>()) {
        Err(PipelineError::Invalid(why)) => {
            assert!(
                why.contains("'tiny'") && why.contains("ring_capacity"),
                "{why}"
            )
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

// ------------------------------------------------------------------ reports

#[test]
fn reports_compare_and_serialize() {
    let p = Pipeline::new();
    let numbers = p.source(0..10u64).skip_failures();
    let out = numbers.try_map(at_most_5).workers(2).name("check");
    let (items, report) = p.run_iter(out).unwrap().collect_report().unwrap();
    assert_eq!(items.len(), 6);
    assert_eq!(report, report.clone());
    let stage: &StageReport = report.stage("check").unwrap();
    assert_eq!(stage, &stage.clone());

    let json = serde_json::to_value(&report).unwrap();
    assert!(json["wall"]["secs"].is_u64() && json["wall"]["nanos"].is_u64());
    let check = json["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "check")
        .unwrap();
    assert_eq!(check["mode"]["Threads"], 2);
    assert_eq!(check["items_in"], 10);
    assert_eq!(check["skipped"], 4);
    let cause = &check["causes"][0];
    assert_eq!(cause["kind"], "Task");
    assert_eq!(cause["stage"], "check");
    // The source travels as its message.
    assert_eq!(cause["source"], cause["message"]);
    assert!(cause["source"].as_str().unwrap().ends_with("is too big"));
}

#[test]
fn dead_letters_serialize_with_their_cause() {
    let p = Pipeline::new();
    let (numbers, failed) = p.source(0..8u64).dead_letter();
    let _ = numbers.try_map(at_most_5).name("check");
    let letters: Vec<Failed<u64>> = p.run_iter(failed).unwrap().map(Result::unwrap).collect();
    let json = serde_json::to_value(&letters).unwrap();
    let items: Vec<u64> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["item"].as_u64().unwrap())
        .collect();
    assert_eq!(items, [6, 7]);
    assert_eq!(json[0]["attempts"], 1);
    assert_eq!(json[0]["error"]["stage"], "check");
    assert_eq!(json[0]["error"]["source"], "6 is too big");
}

// ------------------------------------------------------------------ iterators

#[test]
fn outputs_and_segments_are_fused() {
    fn assert_fused<I: FusedIterator>() {}
    assert_fused::<Output<u64>>();
    assert_fused::<Until<'static, u64>>();

    // After the end.
    let p = Pipeline::new();
    let q = p.source(0..3u64);
    let mut out = p.run_iter(q).unwrap();
    assert_eq!(out.by_ref().count(), 3);
    for _ in 0..3 {
        assert!(out.next().is_none());
    }

    // After the run's error.
    let p = Pipeline::new();
    let q = p.source(0..10u64).try_map(at_most_5);
    let mut out = p.run_iter(q).unwrap();
    let err = out.by_ref().find_map(Result::err);
    assert!(err.is_some());
    for _ in 0..3 {
        assert!(out.next().is_none());
    }

    // A segment, after its marker and after the stream's end.
    let p = Pipeline::new();
    let (q, every_2) = p.source(0..3u64).insert_periodic(2, Placement::After);
    let mut out = p.run_iter(q).unwrap();
    let mut first = out.until(every_2);
    assert_eq!(first.by_ref().count(), 2);
    assert!(first.next().is_none() && first.next().is_none());
    let mut rest = out.until(every_2);
    assert_eq!(rest.by_ref().count(), 1);
    assert!(rest.next().is_none() && rest.next().is_none());
}

// ------------------------------------------------------------------ crate root

fn triple(n: u64) -> u64 {
    n * 3
}

// Through the crate root, as a crate depending on `skorche` alone writes it.
skorche::task! {
    /// Triples a number.
    static TRIPLE: u64 => u64 = map("api_shape_triple", triple);
}

#[test]
fn task_and_enter_are_reachable_from_the_crate_root() {
    // Outside a worker process `enter` returns at once.
    let enter: fn() = skorche::enter;
    enter();
    let p = Pipeline::new();
    let out = p.source(0..4u64).map_task(&TRIPLE).workers(2).ordered();
    let out: Vec<u64> = p.run_iter(out).unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(out, [0, 3, 6, 9]);
}

// ------------------------------------------------------------------ Send

#[test]
fn pipelines_queues_and_outputs_are_send() {
    fn assert_send<T: Send>() {}
    assert_send::<Pipeline>();
    assert_send::<Queue<u64>>();
    assert_send::<Output<u64>>();
    assert_send::<skorche::Running>();
}

#[test]
fn a_pipeline_declared_on_one_thread_runs_on_another() {
    let calls = Arc::new(AtomicU64::new(0));
    let seen = calls.clone();
    let p = Pipeline::new();
    let doubled = p
        .source(0..100u64)
        .map(move |n| {
            seen.fetch_add(1, Ordering::Relaxed);
            n * 2
        })
        .workers(2)
        .ordered(); // the two workers' outputs back in input order
                    // The declaration goes on on a second thread, and the run happens on a third.
    let (p, out) = std::thread::spawn(move || {
        let out = doubled.filter(|n| n % 4 == 0);
        (p, out)
    })
    .join()
    .unwrap();
    let sum = std::thread::spawn(move || {
        p.run_iter(out)
            .unwrap()
            .map(Result::unwrap)
            .collect::<Vec<u64>>()
    })
    .join()
    .unwrap();
    assert_eq!(
        sum,
        (0..100u64)
            .map(|n| n * 2)
            .filter(|n| n % 4 == 0)
            .collect::<Vec<_>>()
    );
    assert_eq!(calls.load(Ordering::Relaxed), 100);
}

// ------------------------------------------------------------------ settings never right

/// The panic message of a declaration that must panic.
fn refused(declare: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(declare)).expect_err("the declaration panics");
    if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else {
        panic!("a panic without a message")
    }
}

/// Asserts that `declare` panics naming `setting` (and `stage` if given).
fn assert_refused(setting: &str, stage: Option<&str>, declare: impl FnOnce()) {
    let why = refused(declare);
    assert!(why.contains(setting), "{setting}: {why}");
    if let Some(stage) = stage {
        assert!(why.contains(&format!("'{stage}'")), "{setting}: {why}");
    }
}

#[test]
fn zero_workers_is_refused_at_declaration() {
    assert_refused("workers(0)", Some("double"), || {
        let p = Pipeline::new();
        let _ = p.source(0..3u64).map(|n| n * 2).name("double").workers(0);
    });
    assert_refused("default_workers(0)", None, || {
        Pipeline::new().default_workers(0);
    });
}

#[test]
fn zero_processes_is_refused_at_declaration() {
    assert_refused("processes(0)", Some("ids"), || {
        let p = Pipeline::new();
        let _ = p
            .source(0..3u64)
            .map_task(&skorche::worker::builtin::IDENTITY_U64)
            .name("ids")
            .processes(0);
    });
    assert_refused("default_processes(0)", None, || {
        Pipeline::new().default_processes(0);
    });
}

#[test]
fn zero_capacity_is_refused_at_declaration() {
    assert_refused("capacity(0)", Some("double"), || {
        let p = Pipeline::new();
        let _ = p.source(0..3u64).map(|n| n * 2).name("double").capacity(0);
    });
    assert_refused("default_capacity(0)", None, || {
        Pipeline::new().default_capacity(0);
    });
}

#[test]
fn an_empty_batch_is_refused_at_declaration() {
    assert_refused("batch(0)", Some("double"), || {
        let p = Pipeline::new();
        let _ = p.source(0..3u64).map(|n| n * 2).name("double").batch(0);
    });
}

#[test]
fn a_split_into_no_queue_is_refused_at_declaration() {
    assert_refused("split_by(0, _)", Some("double"), || {
        let p = Pipeline::new();
        let _ = p
            .source(0..3u64)
            .map(|n| n * 2)
            .name("double")
            .split_by(0, |_| 0);
    });
}

#[test]
fn other_settings_that_can_never_be_right_are_refused_at_declaration() {
    let p = || Pipeline::new();
    assert_refused("process_batching(0, 2)", Some("ids"), || {
        let p = p();
        let _ = p
            .source(0..3u64)
            .map_task(&skorche::worker::builtin::IDENTITY_U64)
            .name("ids")
            .process_batching(0, 2);
    });
    assert_refused("process_batching(8, 0)", Some("ids"), || {
        let p = p();
        let _ = p
            .source(0..3u64)
            .map_task(&skorche::worker::builtin::IDENTITY_U64)
            .name("ids")
            .process_batching(8, 0);
    });
    assert_refused("poison_after(0)", Some("ids"), || {
        let p = p();
        let _ = p
            .source(0..3u64)
            .map_task(&skorche::worker::builtin::IDENTITY_U64)
            .name("ids")
            .restart_workers(3)
            .poison_after(0);
    });
    assert_refused("order_save(0)", Some("source"), || {
        let p = p();
        let _ = p.source(0..3u64).order_save(0);
    });
    assert_refused("ordered_within(0)", Some("double"), || {
        let p = p();
        let _ = p
            .source(0..3u64)
            .map(|n| n * 2)
            .name("double")
            .ordered_within(0);
    });
    assert_refused("insert_periodic(0, _)", Some("source"), || {
        let p = p();
        let _ = p.source(0..3u64).insert_periodic(0, Placement::After);
    });
    assert_refused("retry(0)", Some("source"), || {
        let p = p();
        let _ = p.source(0..3u64).retry(0);
    });
}

#[test]
fn a_refused_setting_leaves_the_pipeline_usable() {
    // The panic is the caller's to catch; the declaration stays as it was before the call.
    let p = Pipeline::new();
    let q = p.source(0..3u64).map(|n| n + 1).name("inc");
    let q = catch_unwind(AssertUnwindSafe(|| q.capacity(0))).map_err(|_| ());
    assert!(q.is_err());
    let q = p.source(0..3u64);
    let out: Vec<u64> = p.run_iter(q).unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(out, [0, 1, 2]);
}
