//! Issue #10, autoscaled process stages: a stopped worker is a stopped process. The stage
//! starts its initial target of worker processes, starts more when the target grows, and
//! drains, ends and reaps the surplus when it shrinks, losing, doubling or reordering
//! nothing.

#[path = "support/process.rs"]
mod support;

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use skorche::worker::builtin;
use skorche::{Pipeline, Placement, Report};
use support::*;

/// The tests count this process's children: one at a time.
static CHILDREN: Mutex<()> = Mutex::new(());

/// Items of the idle phase: the thread stage before the process stage is the bottleneck.
const IDLE_ITEMS: u64 = 1_500;
/// Items of the busy phase: the process stage is.
const BUSY_ITEMS: u64 = 600;

/// One look at the run: when, the stage's worker processes (live, and zombies too).
struct Sample {
    at: Duration,
    live: Vec<i32>,
    all: Vec<i32>,
}

/// The stage's target at `at`, replayed from the report's applied steps.
fn target_at(report: &Report, stage: &str, initial: usize, at: Duration) -> usize {
    report
        .scaling
        .iter()
        .rfind(|e| e.applied && e.stage == stage && e.at <= at)
        .map_or(initial, |e| e.to)
}

#[test]
fn an_autoscaled_process_stage_stops_and_starts_worker_processes() {
    let _one = CHILDREN.lock().unwrap_or_else(|e| e.into_inner());
    let _watchdog = Watchdog::arm("autoscaled processes", Duration::from_secs(90));
    let items = IDLE_ITEMS + BUSY_ITEMS;
    let p = Pipeline::new();
    p.worker_program(TEST_WORKER)
        .worker_budget(8)
        .autoscale_period(Duration::from_millis(40));
    let (q, point) = p.source(0..items).order_save(64);
    let out = q
        // First the items come one a millisecond and take no time (the workers idle); then
        // they come at once and take 6 ms each.
        .map(|i| {
            if i < IDLE_ITEMS {
                std::thread::sleep(Duration::from_millis(1));
                (i, 0)
            } else {
                (i, 6)
            }
        })
        .name("feed")
        .map_task(&builtin::SLEEP_THEN_PID)
        .processes(1..=4)
        .name("work")
        .order_load(point);
    let out = p.output(out);
    let mut running = p.start().unwrap();
    let results = running.take(out);
    let reader = std::thread::spawn(move || results.collect::<Result<Vec<_>, _>>());
    let mut samples = Vec::new();
    while !reader.is_finished() {
        let at = running.stats().elapsed;
        samples.push(Sample {
            at,
            live: worker_children_of(me()),
            all: children_of(me()),
        });
        std::thread::sleep(Duration::from_millis(5));
    }
    let done = reader.join().unwrap().unwrap();
    let report = running.wait().unwrap();

    // Nothing lost, doubled or reordered across the stage's changes.
    let ids: Vec<u64> = done.iter().map(|(i, _)| *i).collect();
    assert_eq!(ids, (0..items).collect::<Vec<_>>(), "{report}");
    let work = report.stage("work").unwrap();
    assert_eq!(work.restarts, 0, "stopping and starting is not restarting");

    // It shrank while idle and grew back under load.
    let steps: Vec<_> = report
        .scaling
        .iter()
        .filter(|e| e.applied && e.stage == "work")
        .collect();
    // The first step is the start, from no workers.
    let initial = steps.first().expect("the start is a step").to;
    let steps = &steps[1..];
    assert!(
        steps.iter().any(|e| e.to < e.from),
        "never shrank\n{report}"
    );
    let low = steps.iter().map(|e| e.to).min().unwrap();
    assert!(
        steps.iter().skip_while(|e| e.to != low).any(|e| e.to > low),
        "never grew after shrinking\n{report}"
    );

    // Never more worker processes than the target, but for one being stopped or started
    // around a step (the target just before, or just after, the sample).
    let slack = Duration::from_millis(150);
    for s in &samples {
        let before = target_at(&report, "work", initial, s.at.saturating_sub(slack));
        let now = target_at(&report, "work", initial, s.at);
        let after = target_at(&report, "work", initial, s.at + slack);
        let allowed = before.max(now).max(after) + 1;
        assert!(
            s.live.len() <= allowed,
            "{} worker processes at {:?}, target {before}/{now}/{after}\n{report}",
            s.live.len(),
            s.at
        );
    }

    // A stopped worker is reaped: once the target has stayed at its low a while, the
    // processes of the start are gone, not zombies.
    let first = samples
        .iter()
        .find(|s| s.live.len() >= initial)
        .map(|s| s.live.iter().copied().collect::<BTreeSet<_>>())
        .expect("the stage started its initial workers");
    let shrunk = steps.iter().find(|e| e.to == low).unwrap().at;
    let settled = samples
        .iter()
        .filter(|s| s.at > shrunk + Duration::from_millis(300))
        .take_while(|s| target_at(&report, "work", initial, s.at + slack) == low)
        .last()
        .expect("a sample while the stage stayed shrunk");
    assert!(
        settled.all.len() <= low,
        "{:?} at {:?}",
        settled.all,
        settled.at
    );
    let gone = first.iter().filter(|p| !settled.all.contains(p)).count();
    assert!(gone >= initial - low, "{first:?} then {:?}", settled.all);
    // The workers that answered were real, distinct processes, more than one.
    let pids: BTreeSet<u64> = done.iter().map(|(_, pid)| *pid).collect();
    assert!(pids.len() > 1, "{pids:?}");
    assert_no_children();
}

/// Items between two markers in [`a_stage_starts_its_initial_target_and_grows_real_processes`].
const SEGMENT: u64 = 50;

#[test]
fn a_stage_starts_its_initial_target_and_grows_real_processes() {
    let _one = CHILDREN.lock().unwrap_or_else(|e| e.into_inner());
    let _watchdog = Watchdog::arm("autoscaled processes grow", Duration::from_secs(90));
    let items = 1_500u64;
    let p = Pipeline::new();
    // An even split of 4 gives each stage 2; the budget holds 3 of the 4 processes only
    // once the idle thread stage gives its second worker up.
    p.worker_program(TEST_WORKER)
        .worker_budget(4)
        .autoscale_period(Duration::from_millis(40));
    let (q, marker) = p
        .source(0..items)
        .insert_periodic(SEGMENT, Placement::After);
    let (q, point) = q.order_save(32);
    let q = q
        .map(|i| (i, 3))
        .name("feed")
        .workers(1..=2)
        .map_task(&builtin::SLEEP_THEN_PID)
        .processes(1..=4)
        .name("work")
        .order_load(point);
    let started = std::time::Instant::now();
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        std::thread::spawn(move || {
            let mut samples = Vec::new();
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                samples.push((started.elapsed(), worker_children_of(me()).len()));
                std::thread::sleep(Duration::from_millis(5));
            }
            samples
        })
    };
    let mut out = p.run_iter(q).unwrap();
    // Every segment whole and in order, its marker after it.
    for segment in 0..items / SEGMENT {
        let got: Vec<u64> = out.until(marker).map(|r| r.unwrap().0).collect();
        let expected: Vec<u64> = (segment * SEGMENT..(segment + 1) * SEGMENT).collect();
        assert_eq!(got, expected, "segment {segment}");
    }
    assert!(out.next().is_none());
    let (_, report) = out.collect_report().unwrap();
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let samples = sampler.join().unwrap();

    let steps: Vec<_> = report
        .scaling
        .iter()
        .filter(|e| e.applied && e.stage == "work")
        .collect();
    let initial = steps[0].to;
    assert_eq!(initial, 2, "{report}");
    let grown = steps
        .iter()
        .find(|e| e.to > initial)
        .unwrap_or_else(|| panic!("never grew\n{report}"));
    // The samples' clock starts a little before the run's.
    let before_growth = samples
        .iter()
        .filter(|(at, _)| *at < grown.at)
        .map(|&(_, n)| n)
        .max()
        .unwrap_or(0);
    assert!(
        before_growth <= initial,
        "{before_growth} worker processes before the stage grew from {initial}\n{report}"
    );
    let most = steps.iter().map(|e| e.to).max().unwrap();
    let peak = samples.iter().map(|&(_, n)| n).max().unwrap_or(0);
    assert!(
        peak > initial,
        "no process was started for the growth\n{report}"
    );
    assert!(peak <= most + 1, "{peak} processes, target at most {most}");
    assert_eq!(report.stage("work").unwrap().restarts, 0);
    assert_no_children();
}
