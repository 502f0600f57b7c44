//! Configuration the compiler checks (issue 12): stage kinds as an enum, process settings
//! only on task stages, chains that keep a worker count per group, chains of registered
//! tasks that run in one worker process, and default scales declared with a task.
//!
//! What must not compile is checked by `compile_fail` doctests: `skorche_core`'s
//! `stage_shape` module (process settings on a closure stage) and `TaskDef::processes`
//! (`processes(0)` in `task!`).
#[path = "support/process.rs"]
mod support;

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use skorche::worker::builtin::{
    DIGITS, DOUBLE_IN_2_PROCESSES, DOUBLE_U64, FAIL_ON, REPEAT_N, SAME_PID, TO_DECIMAL, WITH_PID,
};
use skorche::worker::registry::{self, DefaultScale};
use skorche::{Chain, Mode, Pipeline, PipelineError, Report, StageKind};
use support::*;

/// Tests that start workers check that none is left: they run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn pipeline() -> Pipeline {
    let p = Pipeline::new();
    p.worker_program(TEST_WORKER);
    p
}

/// Runs `out` to its end: its items, sorted, and the report.
fn run_sorted<T: Ord + Send + 'static, K>(
    p: Pipeline,
    out: skorche::Queue<T, K>,
) -> Result<(Vec<T>, Report), PipelineError> {
    let mut output = p.run_iter(out)?;
    let mut items = output.by_ref().collect::<Result<Vec<T>, _>>()?;
    items.sort();
    let report = output
        .report()
        .expect("a finished run has a report")
        .clone();
    Ok((items, report))
}

fn stage<'r>(report: &'r Report, name: &str) -> &'r skorche::StageReport {
    report
        .stage(name)
        .unwrap_or_else(|| panic!("no stage {name:?} in\n{report}"))
}

// ------------------------------------------------------------------ stage kinds

#[test]
fn every_stage_reports_its_kind_as_an_enum_shown_and_serialized_in_lowercase() {
    let p = Pipeline::new();
    let (evens, odds) = p.source(0..100u64).split(|x| x % 2 == 0);
    let evens = evens.map(|x| x + 1).filter(|x| x % 3 != 0);
    let odds = odds
        .flat_map(|x| [x, x])
        .chain(Chain::map("half", |x: u64| x / 2));
    let merged = p.merge([evens, odds]);
    let tasks = merged.map_task(&DOUBLE_U64).batch(8).unbatch();
    let (items, report) = run_sorted(p, tasks).unwrap();
    let kept = (0..100u64)
        .filter(|x| x % 2 == 0 && (x + 1) % 3 != 0)
        .count();
    assert_eq!(items.len(), kept + 100);

    // A merge runs no thread, so it has no line in the report.
    let kinds: Vec<StageKind> = report.stages.iter().map(|s| s.kind).collect();
    for kind in [
        StageKind::Source,
        StageKind::Split,
        StageKind::Map,
        StageKind::Filter,
        StageKind::FlatMap,
        StageKind::Chain,
        StageKind::Task,
        StageKind::Batch,
        StageKind::Unbatch,
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    assert_eq!(stage(&report, "half").kind, StageKind::Chain);
    assert_eq!(stage(&report, "double_u64").kind.to_string(), "task");

    let json = serde_json::to_value(&report).unwrap();
    let shown: Vec<&str> = json["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert!(
        shown.contains(&"flat_map") && shown.contains(&"unbatch"),
        "{shown:?}"
    );
    // The table prints the same names.
    assert!(report.to_string().contains("flat_map"), "{report}");
}

// ------------------------------------------------------------------ task-stage settings

#[test]
fn process_settings_on_a_task_stage_run_it_in_processes_and_it_merges_with_closure_stages() {
    let _serial = serial();
    let _dog = Watchdog::arm("task-stage settings", LIMIT);
    let p = pipeline();
    let (a, b) = p.source(0..1000u64).split(|x| x % 2 == 0);
    let doubled = a
        .map_task(&DOUBLE_U64)
        .processes(2)
        .shm_threshold(1 << 10)
        .ring_capacity(1 << 20)
        .item_timeout(Duration::from_secs(30))
        .process_batching(16, 2)
        .handshake_timeout(Duration::from_secs(30))
        .worker_program(TEST_WORKER)
        .name("doubled")
        .capacity(32)
        .into_any();
    let tripled = b.map(|x| x * 3).workers(2).name("tripled");
    let merged = p.merge([doubled, tripled]);
    let (items, report) = run_sorted(p, merged).unwrap();
    let mut expected: Vec<u64> = (0..1000u64)
        .map(|x| if x % 2 == 0 { x * 2 } else { x * 3 })
        .collect();
    expected.sort();
    assert_eq!(items, expected);
    assert_eq!(stage(&report, "doubled").mode, Mode::Processes(2));
    assert_eq!(stage(&report, "tripled").mode, Mode::Threads(2));
    assert_no_children();
}

#[test]
fn a_task_stage_queue_converts_into_a_plain_queue_with_into() {
    let p = Pipeline::new();
    let tasks: skorche::Queue<u64> = p.source(0..10u64).map_task(&DOUBLE_U64).workers(2).into();
    let out = p.merge([tasks, p.source(100..101u64)]);
    let (items, _) = run_sorted(p, out).unwrap();
    assert_eq!(items, [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 100]);
}

// ------------------------------------------------------------------ closure chains

#[test]
fn a_chain_of_infallible_steps_needs_no_ok_and_runs_in_one_stage() {
    let p = Pipeline::new();
    let steps = Chain::map("parse_len", |s: String| s.len() as u64)
        .then_map("square", |n| n * n)
        .then("check", |n| if n < 100 { Ok(n) } else { Err("too long") })
        .then_map("show", |n| format!("{n}!"));
    let out = p
        .source(["a", "bb", "ccc"].map(String::from))
        .chain(steps)
        .workers(2);
    let (items, report) = run_sorted(p, out).unwrap();
    assert_eq!(items, ["1!", "4!", "9!"]);
    let chains: Vec<_> = report
        .stages
        .iter()
        .filter(|s| s.kind == StageKind::Chain)
        .collect();
    assert_eq!(chains.len(), 1, "{report}");
    assert_eq!(chains[0].name, "parse_len+square+check+show");
    assert_eq!(chains[0].mode, Mode::Threads(2));
}

#[test]
fn workers_in_a_chain_split_it_into_stages_each_with_its_own_count() {
    let p = Pipeline::new();
    let steps = Chain::map("inc", |x: u64| x + 1)
        .then_map("double", |x| x * 2)
        .workers(3)
        .then_map("show", |x: u64| x.to_string())
        .then_map("len", |s: String| s.len())
        .workers(2)
        .workers(4) // right after, it changes the last group's count
        .then_map("odd", |n: usize| n % 2 == 1);
    let out = p.source(0..1000u64).chain(steps);
    let (items, report) = run_sorted(p, out).unwrap();
    let ones = items.iter().filter(|&&odd| odd).count();
    // (x + 1) * 2 for x < 1000: 2..=2000; 1 and 3 digits are odd.
    let expected = (0..1000u64)
        .filter(|x| ((x + 1) * 2).to_string().len() % 2 == 1)
        .count();
    assert_eq!(ones, expected);
    assert_eq!(items.len(), 1000);
    assert_eq!(stage(&report, "inc+double").mode, Mode::Threads(3));
    assert_eq!(stage(&report, "show+len").mode, Mode::Threads(4));
    assert_eq!(stage(&report, "odd").mode, Mode::Threads(1));
    for name in ["inc+double", "show+len", "odd"] {
        assert_eq!(stage(&report, name).kind, StageKind::Chain);
        assert_eq!(stage(&report, name).items_in, 1000, "{name}");
    }
}

#[test]
fn a_chain_is_a_reusable_closure_task_whose_worker_count_a_stage_overrides() {
    let p = Pipeline::new();
    let resize = Chain::map("resize", |x: u64| x / 2).workers(4);
    let a = p.source(0..100u64).chain(resize.clone());
    let b = p
        .source(0..100u64)
        .chain(resize)
        .workers(1)
        .name("resize_once");
    let both = p.merge([a, b]);
    let (items, report) = run_sorted(p, both).unwrap();
    assert_eq!(items.len(), 200);
    assert_eq!(
        items.iter().sum::<u64>(),
        2 * (0..100u64).map(|x| x / 2).sum::<u64>()
    );
    assert_eq!(stage(&report, "resize").mode, Mode::Threads(4));
    assert_eq!(stage(&report, "resize_once").mode, Mode::Threads(1));
}

#[test]
fn a_failing_step_after_a_split_fails_the_run_naming_its_stage_and_step() {
    let p = Pipeline::new();
    let steps = Chain::map("inc", |x: u64| x + 1)
        .workers(2)
        .then("refuse_7", |x: u64| {
            if x == 7 {
                Err(format!("no {x}"))
            } else {
                Ok(x)
            }
        })
        .then_map("double", |x| x * 2);
    let out = p.source(0..20u64).chain(steps);
    let err = run_sorted(p, out).unwrap_err();
    let failure = &err.failures()[0];
    assert_eq!(failure.stage, "refuse_7+double", "{err}");
    assert!(err.to_string().contains("step 'refuse_7': no 7"), "{err}");
}

#[test]
#[should_panic(expected = "chain step 'inc': workers(0)")]
fn workers_0_in_a_chain_is_refused_where_it_is_declared() {
    let _ = Chain::map("inc", |x: u64| x + 1).workers(0);
}

// ------------------------------------------------------------------ chains of registered tasks

/// `x` through double_u64, to_decimal, digits.
fn digits_of_double(x: u64) -> u64 {
    (x * 2).to_string().len() as u64
}

#[test]
fn a_chain_of_registered_tasks_is_one_stage_with_the_same_results_on_threads_and_in_processes() {
    let _serial = serial();
    let _dog = Watchdog::arm("task chain", LIMIT);
    let expected: Vec<u64> = {
        let mut v: Vec<u64> = (0..2000u64).map(digits_of_double).collect();
        v.sort();
        v
    };
    for processes in [false, true] {
        let p = pipeline();
        let chain = DOUBLE_U64.then(&TO_DECIMAL).then(&DIGITS);
        assert_eq!(chain.name(), "double_u64 => to_decimal => digits");
        let stage_q = p.source(0..2000u64).map_task(chain);
        let out = if processes {
            stage_q.processes(2).into_any()
        } else {
            stage_q.workers(2).into_any()
        };
        let (items, report) = run_sorted(p, out).unwrap();
        assert_eq!(items, expected, "processes: {processes}");
        let s = stage(&report, "double_u64+to_decimal+digits");
        assert_eq!(s.kind, StageKind::Task);
        assert_eq!((s.items_in, s.items_out), (2000, 2000));
        let want = if processes {
            Mode::Processes(2)
        } else {
            Mode::Threads(2)
        };
        assert_eq!(s.mode, want);
        // One stage for the three tasks: the source and the chain, nothing between them.
        assert_eq!(report.stages.len(), 2, "{report}");
    }
    assert_no_children();
}

#[test]
fn every_step_of_a_task_chain_runs_in_the_same_worker_process() {
    let _serial = serial();
    let _dog = Watchdog::arm("task chain, one process", LIMIT);
    let p = pipeline();
    // same_pid fails any item whose with_pid step ran in another process.
    let out = p
        .source(0..3000u64)
        .map_task(WITH_PID.then(&SAME_PID))
        .processes(3)
        .process_batching(8, 2);
    let (items, _) = run_sorted(p, out).unwrap();
    assert_eq!(items, (0..3000u64).collect::<Vec<_>>());
    assert_no_children();
}

#[test]
fn a_task_chain_with_a_flat_map_step_and_params_gives_every_output() {
    let _serial = serial();
    let _dog = Watchdog::arm("task chain, flat map", LIMIT);
    for processes in [false, true] {
        let p = pipeline();
        // repeat_n: n copies of n; then fail_on(1000) (never met), then double.
        let chain = REPEAT_N.then(FAIL_ON.bind_with(&1000u64)).then(&DOUBLE_U64);
        let q = p.source(0..20u64).map_task(chain);
        let out = if processes {
            q.processes(2).into_any()
        } else {
            q.into_any()
        };
        let (items, _) = run_sorted(p, out).unwrap();
        let mut expected: Vec<u64> = (0..20u64)
            .flat_map(|n| std::iter::repeat_n(n * 2, n as usize))
            .collect();
        expected.sort();
        assert_eq!(items, expected, "processes: {processes}");
    }
    assert_no_children();
}

#[test]
fn a_failing_step_of_a_task_chain_is_named_in_both_modes() {
    let _serial = serial();
    let _dog = Watchdog::arm("task chain, failure", LIMIT);
    for processes in [false, true] {
        let p = pipeline();
        let chain = DOUBLE_U64.then(FAIL_ON.bind_with(&10u64)).then(&TO_DECIMAL);
        let q = p.source(0..100u64).map_task(chain).name("chained");
        let out = if processes {
            q.processes(2).into_any()
        } else {
            q.into_any()
        };
        let err = run_sorted(p, out).unwrap_err();
        let failure = &err.failures()[0];
        assert_eq!(failure.stage, "chained", "{err}");
        assert_eq!(failure.seq, Some(5), "{err}");
        assert!(
            failure
                .message
                .contains("step 'fail_on': fail_on: refusing item 10"),
            "processes {processes}: {err}"
        );
    }
    assert_no_children();
}

#[test]
fn a_worker_refuses_a_chain_whose_types_do_not_line_up_naming_both_tasks() {
    // The driver cannot build such a chain (the compiler checks `then`); a worker resolving
    // a chain by name checks again.
    let err = registry::resolve("to_decimal => double_u64").unwrap_err();
    assert!(
        err.reason
            .contains("the output of 'to_decimal' (alloc::string::String)")
            && err.reason.contains("the input of 'double_u64' (u64)"),
        "{}",
        err.reason
    );
    let err = registry::resolve("double_u64 => no_such_task").unwrap_err();
    assert!(
        err.reason.contains("\"no_such_task\" is not registered"),
        "{}",
        err.reason
    );
    assert!(err.known.iter().any(|k| k == "double_u64"));
    let ok = registry::resolve("double_u64 => to_decimal => digits").unwrap();
    assert_eq!(
        ok.identity(),
        DOUBLE_U64.then(&TO_DECIMAL).then(&DIGITS).identity()
    );
}

// ------------------------------------------------------------------ task defaults

fn square(x: u64) -> u64 {
    x * x
}

skorche::task! {
    static SQUARE_ON_3: u64 => u64 = map("stage_shape_square_on_3", square).workers(3);
}

#[test]
fn a_task_declared_with_workers_gets_them_unless_the_stage_sets_its_own() {
    assert_eq!(SQUARE_ON_3.default_scale(), Some(DefaultScale::Workers(3)));
    let p = Pipeline::new();
    p.default_workers(2);
    let by_default = p.source(0..50u64).map_task(&SQUARE_ON_3).name("by_default");
    let overridden = p
        .source(0..50u64)
        .map_task(&SQUARE_ON_3)
        .workers(1)
        .name("overridden");
    let plain = p.source(0..50u64).map_task(&DOUBLE_U64).name("plain");
    let all = p.merge([
        by_default.into_any(),
        overridden.into_any(),
        plain.into_any(),
    ]);
    let (items, report) = run_sorted(p, all).unwrap();
    assert_eq!(items.len(), 150);
    assert_eq!(stage(&report, "by_default").mode, Mode::Threads(3));
    assert_eq!(stage(&report, "overridden").mode, Mode::Threads(1));
    // No declared scale: the pipeline's default.
    assert_eq!(stage(&report, "plain").mode, Mode::Threads(2));
}

#[test]
fn a_task_declared_with_processes_runs_in_them_unless_the_stage_says_threads() {
    let _serial = serial();
    let _dog = Watchdog::arm("task default processes", LIMIT);
    assert_eq!(
        DOUBLE_IN_2_PROCESSES.default_scale(),
        Some(DefaultScale::Processes(2))
    );
    let p = pipeline();
    let in_processes = p
        .source(0..500u64)
        .map_task(&DOUBLE_IN_2_PROCESSES)
        .name("in_processes")
        .into_any();
    let on_threads = p
        .source(0..500u64)
        .map_task(&DOUBLE_IN_2_PROCESSES)
        .workers(1)
        .name("on_threads")
        .into_any();
    let all = p.merge([in_processes, on_threads]);
    let (items, report) = run_sorted(p, all).unwrap();
    assert_eq!(items.iter().sum::<u64>(), 2 * 2 * (0..500u64).sum::<u64>());
    assert_eq!(stage(&report, "in_processes").mode, Mode::Processes(2));
    assert_eq!(stage(&report, "on_threads").mode, Mode::Threads(1));
    assert_no_children();
}
