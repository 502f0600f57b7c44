//! Issue #10, autoscaling of thread stages: the controller moves workers to the
//! bottleneck within the budget, settles, reverts nothing that helped, and stops workers
//! between items without losing or reordering any.

#[path = "support/load.rs"]
mod load;

use std::collections::BTreeMap;
use std::time::Duration;

use load::process::{Watchdog, TEST_WORKER};
use skorche::core::{Pipeline, PipelineError, Report};
use skorche::worker::builtin;

const BUDGET: usize = 10;

fn sleeper(ms: u64) -> impl Fn(u64) -> u64 + Send + Sync + Clone + 'static {
    move |n| {
        std::thread::sleep(Duration::from_millis(ms));
        n
    }
}

/// 1 ms then 8 ms of sleep per item, both stages `1..=9` within a budget of 10.
fn two_sleepers(items: u64, passive: bool) -> Report {
    let p = Pipeline::new();
    p.worker_budget(BUDGET)
        .autoscale_period(Duration::from_millis(50));
    if passive {
        p.autoscale_passive();
    }
    let out = p
        .source(0..items)
        .map(sleeper(1))
        .name("fetch")
        .workers(1..=9)
        .map(sleeper(8))
        .name("process")
        .workers(1..=9);
    let (done, report) = p.run_iter(out).unwrap().collect_report().unwrap();
    let mut sorted = done.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (0..items).collect::<Vec<_>>(),
        "items lost or doubled"
    );
    report
}

/// The targets after each applied step, replayed from the report.
fn splits(report: &Report) -> Vec<BTreeMap<String, usize>> {
    let mut now = BTreeMap::new();
    let mut out = Vec::new();
    for e in report.scaling.iter().filter(|e| e.applied) {
        now.insert(e.stage.clone(), e.to);
        out.push(now.clone());
    }
    out
}

#[test]
fn the_bottleneck_gets_the_workers_within_the_budget_and_the_controller_settles() {
    let _watchdog = Watchdog::arm("autoscale settles", Duration::from_secs(60));
    let report = two_sleepers(2_000, false);
    for split in splits(&report) {
        let used: usize = split.values().sum();
        assert!(used <= BUDGET, "{split:?} exceeds the budget\n{report}");
    }
    let (fetch, process) = (
        report.final_workers("fetch").unwrap(),
        report.final_workers("process").unwrap(),
    );
    assert!(process >= 7, "{fetch} + {process}\n{report}");
    assert!(fetch + process <= BUDGET);
    // Settled: the steps (after the two starts) come early, and few come late.
    let steps: Vec<_> = report
        .scaling
        .iter()
        .filter(|e| e.applied && !e.reason.starts_with("start"))
        .collect();
    assert!(!steps.is_empty() && steps.len() <= 8, "{report}");
    let half = report.wall / 2;
    let late = steps.iter().filter(|e| e.at > half).count();
    assert!(late <= 2, "{late} steps after half the run\n{report}");
    assert!(
        !report
            .scaling
            .iter()
            .any(|e| e.reason.starts_with("revert")),
        "{report}"
    );
}

/// Budget and settling, from the steps of a report.
fn assert_settled_within_budget(report: &Report) {
    for split in splits(report) {
        let used: usize = split.values().sum();
        assert!(used <= BUDGET, "{split:?} exceeds the budget\n{report}");
    }
    let steps: Vec<_> = report
        .scaling
        .iter()
        .filter(|e| e.applied && !e.reason.starts_with("start"))
        .collect();
    assert!(!steps.is_empty() && steps.len() <= 10, "{report}");
    let late = steps.iter().filter(|e| e.at > report.wall / 2).count();
    assert!(late <= 2, "{late} steps after half the run\n{report}");
}

#[test]
fn process_stages_are_sized_too_within_the_budget() {
    let _watchdog = Watchdog::arm("autoscale processes", Duration::from_secs(90));
    let items = 3_000u64;
    let p = Pipeline::new();
    p.worker_program(TEST_WORKER)
        .worker_budget(BUDGET)
        .autoscale_period(Duration::from_millis(100));
    let out = p
        .source((0..items).map(|i| (i, 1)))
        .map_task(&builtin::SLEEP_THEN_PID)
        .processes(1..=9)
        .name("fetch")
        .map(|(i, _pid)| (i, 8))
        .map_task(&builtin::SLEEP_THEN_PID)
        .processes(1..=9)
        .name("process");
    let (done, report) = p.run_iter(out).unwrap().collect_report().unwrap();
    let mut ids: Vec<u64> = done.iter().map(|(i, _)| *i).collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..items).collect::<Vec<_>>());
    assert_settled_within_budget(&report);
    assert!(report.final_workers("process").unwrap() >= 7, "{report}");
}

#[test]
fn in_passive_mode_the_split_stays_and_the_report_recommends() {
    let _watchdog = Watchdog::arm("autoscale passive", Duration::from_secs(60));
    let report = two_sleepers(600, true);
    assert_eq!(report.final_workers("fetch"), Some(5));
    assert_eq!(report.final_workers("process"), Some(5));
    let advice: Vec<_> = report.scaling.iter().filter(|e| !e.applied).collect();
    assert!(
        advice.iter().any(|e| e.stage == "process" && e.to > 5),
        "{report}"
    );
    assert!(report.to_string().contains("(recommended)"));
}

#[test]
fn a_stopped_worker_leaves_no_item_behind_and_order_is_kept_downstream() {
    let _watchdog = Watchdog::arm("autoscale order", Duration::from_secs(60));
    let p = Pipeline::new();
    // Starts at 2 + 2; 'b' (quick) gives a worker to 'a' (1 ms a item): workers stop and
    // start while items flow through an ordered section.
    p.worker_budget(4)
        .autoscale_period(Duration::from_millis(20));
    let (saved, point) = p
        .source(0..1_500u64)
        .order_save(skorche::core::DEFAULT_ORDER_WINDOW);
    let out = saved
        .map(sleeper(1))
        .name("a")
        .workers(1..=3)
        .map(|n| n * 2)
        .name("b")
        .workers(1..=3)
        .order_load(point);
    let (got, report) = p.run_iter(out).unwrap().collect_report().unwrap();
    assert_eq!(got, (0..1_500u64).map(|n| n * 2).collect::<Vec<_>>());
    assert_eq!(report.final_workers("a"), Some(3), "{report}");
    assert_eq!(report.final_workers("b"), Some(1), "{report}");
}

#[test]
fn a_failure_ends_a_run_with_stopped_workers_promptly() {
    let _watchdog = Watchdog::arm("autoscale failure", Duration::from_secs(60));
    let p = Pipeline::new();
    p.worker_budget(2)
        .autoscale_period(Duration::from_millis(20));
    let out = p
        .source(0..10_000u64)
        .try_map(|n| {
            if n == 500 {
                Err("item 500 is bad")
            } else {
                Ok(n)
            }
        })
        .name("picky")
        .workers(1..=8);
    let err = p.run_iter(out).unwrap().collect_report().unwrap_err();
    assert!(matches!(err, PipelineError::Failed(_)), "{err}");
}

#[test]
fn a_budget_below_the_minimums_is_refused_at_start() {
    let p = Pipeline::new();
    p.worker_budget(2);
    let out = p
        .source(0..10u64)
        .map(|n| n)
        .workers(2..=4)
        .map(|n| n)
        .workers(2..=4);
    let err = p.run_iter(out).map(|_| ()).unwrap_err();
    assert!(err.to_string().contains("budget"), "{err}");
}
