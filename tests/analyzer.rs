//! Issue #10, the Graph Analyzer: load shares, task-time percentiles, verdicts and the
//! bottleneck in the report; the live snapshot of a running pipeline; heat maps.

#[path = "support/load.rs"]
mod load;

use std::time::Duration;

use load::process::{Watchdog, TEST_WORKER};
use skorche::core::{Mode, Pipeline, Verdict};
use skorche::worker::builtin;

/// A thread pipeline whose middle stage sleeps 500 µs per item on one thread: the obvious
/// bottleneck, with a quick stage on each side.
fn bottlenecked(p: &Pipeline, items: u64) -> skorche::core::Queue<u64> {
    p.source(0..items)
        .map(|n| n * 3)
        .name("quick")
        .workers(2)
        .map(|n| {
            std::thread::sleep(Duration::from_micros(500));
            n + 1
        })
        .name("slow")
        .map(|n| n * 2)
        .name("after")
}

#[test]
fn the_slow_stage_is_named_the_bottleneck_and_the_others_say_why_they_wait() {
    let _watchdog = Watchdog::arm(
        "the_slow_stage_is_named_the_bottleneck_and_the_others_say_why_they_wait",
        Duration::from_secs(60),
    );
    let p = Pipeline::new();
    let out = bottlenecked(&p, 1_000);
    let (items, report) = p.run_iter(out).unwrap().collect_report().unwrap();
    assert_eq!(items.len(), 1_000);
    assert_eq!(report.bottleneck.as_deref(), Some("slow"), "{report}");
    let slow = report.stage("slow").unwrap();
    assert!(slow.busy_pct > 90.0, "{report}");
    assert!(
        matches!(slow.verdict, Some(Verdict::Bottleneck { .. })),
        "{report}"
    );
    // Sleeping 500 µs: the median lands in the log2 bucket of 500 µs to 1 ms.
    let p50 = slow.task_p50.unwrap();
    assert!(
        p50 >= Duration::from_micros(256) && p50 < Duration::from_millis(2),
        "{p50:?}"
    );
    assert!(slow.task_p99.unwrap() >= p50);
    // Upstream waits for room, downstream waits for input.
    let quick = report.stage("quick").unwrap();
    assert!(quick.blocked_pct > 50.0, "{report}");
    assert!(
        matches!(quick.verdict, Some(Verdict::Backpressured { .. })),
        "{report}"
    );
    let after = report.stage("after").unwrap();
    assert!(after.idle_pct > 50.0, "{report}");
    assert!(
        matches!(after.verdict, Some(Verdict::Starved { .. })),
        "{report}"
    );
    for s in &report.stages {
        let total = s.busy_pct + s.blocked_pct + s.idle_pct;
        assert!(
            (total - 100.0).abs() < 0.5,
            "{}: shares sum to {total}",
            s.name
        );
    }
    // Little's law: the wait is the mean depth over the input rate.
    let rate = slow.items_in as f64 / slow.wall.as_secs_f64();
    let wait = slow.queue_wait.as_secs_f64();
    assert!((wait - slow.mean_queue_depth / rate).abs() < 1e-6);
    let table = report.to_string();
    assert!(table.contains("slow: bottleneck: "), "{table}");
    assert!(table.contains("busy%"), "{table}");
}

#[test]
fn a_stage_with_idle_workers_is_told_how_many_would_do() {
    let _watchdog = Watchdog::arm(
        "a_stage_with_idle_workers_is_told_how_many_would_do",
        Duration::from_secs(60),
    );
    let p = Pipeline::new();
    let out = p
        .source(0..400u64)
        .map(|n| {
            std::thread::sleep(Duration::from_micros(400));
            n
        })
        .name("feeder")
        .map(|n| {
            std::thread::sleep(Duration::from_micros(100));
            n
        })
        .name("roomy")
        .workers(4);
    let report = p.run_iter(out).unwrap().collect_report().unwrap().1;
    let roomy = report.stage("roomy").unwrap();
    match roomy.verdict {
        Some(Verdict::Starved {
            enough_workers: Some(n),
            ..
        }) => assert!(n < 4, "{report}"),
        ref other => panic!("expected a starved stage with fewer workers: {other:?}\n{report}"),
    }
    assert!(report.to_string().contains("would do"));
}

#[test]
fn with_metrics_off_the_report_keeps_its_counts_but_has_no_verdicts() {
    let _watchdog = Watchdog::arm(
        "with_metrics_off_the_report_keeps_its_counts_but_has_no_verdicts",
        Duration::from_secs(60),
    );
    let p = Pipeline::new();
    p.metrics(false);
    let out = bottlenecked(&p, 200);
    let report = p.run_iter(out).unwrap().collect_report().unwrap().1;
    let slow = report.stage("slow").unwrap();
    assert_eq!(slow.items_out, 200);
    assert!(slow.busy > Duration::from_millis(50));
    assert_eq!(
        (slow.busy_pct, slow.task_p50, slow.verdict.clone()),
        (0.0, None, None)
    );
    assert_eq!(report.bottleneck, None);
}

#[test]
fn the_report_serializes_with_its_verdicts_and_draws_a_heat_map() {
    let _watchdog = Watchdog::arm(
        "the_report_serializes_with_its_verdicts_and_draws_a_heat_map",
        Duration::from_secs(60),
    );
    let p = Pipeline::new();
    let out = bottlenecked(&p, 300);
    let report = p.run_iter(out).unwrap().collect_report().unwrap().1;
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["bottleneck"], "slow");
    let slow = &json["stages"][2];
    assert_eq!(slow["name"], "slow");
    assert!(slow["verdict"]["Bottleneck"]["busy_pct"].as_f64().unwrap() > 90.0);

    let dot = report.to_dot();
    let slow_line = dot.lines().find(|l| l.contains("label=\"slow")).unwrap();
    assert!(
        slow_line.contains("bold") && slow_line.contains("fillcolor"),
        "{dot}"
    );
    let quick_line = dot.lines().find(|l| l.contains("label=\"quick")).unwrap();
    assert!(!quick_line.contains("bold"), "{dot}");
    // Every edge carries its rate and queue fill.
    assert_eq!(dot.matches("/s · q ").count(), 3, "{dot}");
    let mermaid = report.to_mermaid();
    assert!(mermaid.contains("stroke-width:4px"), "{mermaid}");
}

#[test]
fn a_running_pipeline_shows_its_bottleneck_progress_and_eta() {
    let _watchdog = Watchdog::arm(
        "a_running_pipeline_shows_its_bottleneck_progress_and_eta",
        Duration::from_secs(60),
    );
    let p = Pipeline::new();
    let out = p.output(bottlenecked(&p, 2_000));
    let mut running = p.start().unwrap();
    let items = running.take(out);
    // The reader keeps up; half a second into the run (2000 items of 500 µs take a
    // second) the snapshot is taken.
    let reader = std::thread::spawn(move || items.map(Result::unwrap).count() as u64);
    std::thread::sleep(Duration::from_millis(500));
    let stats = running.stats();
    assert_eq!(stats.source_len, Some(2_000));
    assert!(
        stats.source_read > 0 && stats.source_read <= 2_000,
        "{stats:?}"
    );
    assert!(stats.items_done <= stats.source_read, "{stats:?}");
    assert!(stats.eta.is_some(), "{stats:?}");
    let slow = stats.stages.iter().find(|s| s.name == "slow").unwrap();
    assert!(slow.bottleneck, "{stats:?}");
    assert_eq!(slow.workers, 1);
    assert!(slow.rate > 100.0, "{stats:?}");
    assert!(slow.task_p50.is_some());
    let quick = stats.stages.iter().find(|s| s.name == "quick").unwrap();
    assert_eq!(quick.workers, 2);
    assert!(!quick.bottleneck);
    assert_eq!(reader.join().unwrap(), 2_000);
    running.wait().unwrap();
}

#[test]
fn a_process_stage_reports_its_load_and_task_times() {
    let _watchdog = Watchdog::arm(
        "a_process_stage_reports_its_load_and_task_times",
        Duration::from_secs(60),
    );
    let p = Pipeline::new();
    p.worker_program(TEST_WORKER);
    let out = p
        .source(0..200u64)
        .map_task(&builtin::SLEEP_JITTER)
        .processes(1)
        .name("sleepy")
        .map(|n| n + 1)
        .name("after");
    let report = p.run_iter(out).unwrap().collect_report().unwrap().1;
    let sleepy = report.stage("sleepy").unwrap();
    assert_eq!(sleepy.mode, Mode::Processes(1));
    assert_eq!(report.bottleneck.as_deref(), Some("sleepy"), "{report}");
    // The task sleeps 1 to 4 ms.
    let p50 = sleepy.task_p50.unwrap();
    assert!(
        p50 >= Duration::from_micros(500) && p50 < Duration::from_millis(8),
        "{p50:?}"
    );
    let after = report.stage("after").unwrap();
    assert!(
        matches!(after.verdict, Some(Verdict::Starved { .. })),
        "{report}"
    );
}
