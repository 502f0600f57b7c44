//! Graceful stop (issue #9): `Running::stop` / `StopHandle` half-way through an endless
//! source ends the run with `Interrupted` and its report after every item in flight has
//! finished; the grace period running out, or a second stop, aborts (workers killed and
//! reaped); ordered sections and batches end cleanly; nothing is left behind.
#[path = "support/load.rs"]
mod load;

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use load::process::*;
use load::{ms, skorche_threads};
use skorche::worker::builtin;
use skorche::{Interrupted, Output, Pipeline, PipelineError, Queue, StopOutcome, TaskStage};

/// Each test checks that no thread, child or segment is left: they run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where the tested stage runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Threads,
    Processes,
}

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

/// Reads `out` to its end: the items, then the `Interrupted` it must end with (and checks
/// that nothing follows it).
fn read_to_interrupted<T>(out: &mut Output<T>) -> (Vec<T>, Box<Interrupted>) {
    let mut items = Vec::new();
    loop {
        match out.next() {
            Some(Ok(v)) => items.push(v),
            Some(Err(PipelineError::Interrupted(stop))) => {
                assert!(out.next().is_none(), "nothing after Interrupted");
                assert!(out.report().is_some(), "the output keeps the report");
                return (items, stop);
            }
            Some(Err(e)) => panic!("expected Interrupted, got: {e}"),
            None => panic!("the stopped run ended without Interrupted"),
        }
    }
}

/// Nothing of the run is left: no `skorche*` thread, no child process, no /dev/shm entry.
fn assert_nothing_left(shm: &std::collections::BTreeSet<String>) {
    let start = Instant::now();
    while !skorche_threads().is_empty() && start.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(skorche_threads(), Vec::<String>::new(), "threads left");
    assert_no_children();
    assert_no_new_shm(shm);
}

/// Items `0..n`, each once, in any order.
fn assert_exactly_0_to_n(mut items: Vec<u64>) {
    items.sort_unstable();
    let n = items.len() as u64;
    assert!(
        items.iter().copied().eq(0..n),
        "not exactly 0..{n}: every item pulled before the stop must come out, once"
    );
}

fn stop_halfway_through_an_endless_source(mode: Mode) {
    let _serial = serial();
    let shm = shm_entries();
    let _dog = Watchdog::arm("stop half-way", LIMIT);
    let grace = Duration::from_secs(10);
    let p = pipeline();
    p.grace_period(grace);
    let slow = par(p.source(0u64..).map_task(&builtin::SLEEP_JITTER), mode, 2).name("sleep");
    let out = slow.map(|x| x).name("last");
    let mut out = p.run_iter(out).unwrap();
    let stop = out.stop_handle();
    let mut items: Vec<u64> = out.by_ref().take(300).map(Result::unwrap).collect();
    // From another thread, as a UI or a signal handler would.
    let stopped_at = Instant::now();
    std::thread::spawn(move || stop.stop()).join().unwrap();
    let (rest, stop) = read_to_interrupted(&mut out);
    let took = stopped_at.elapsed();
    items.extend(rest);
    println!(
        "{mode:?}: stop -> Interrupted in {:.1} ms, {} items, outcome {:?}\n{}",
        ms(took),
        items.len(),
        stop.outcome,
        stop.report
    );
    assert_eq!(stop.outcome, StopOutcome::Drained);
    assert!(
        took < grace,
        "the stop took {took:?}, longer than the grace period"
    );
    let r = &stop.report;
    let (source, sleep, last) = (
        &r.stages[0],
        r.stage("sleep").unwrap(),
        r.stage("last").unwrap(),
    );
    // Everything emitted was finished: every count agrees along the chain.
    assert_eq!(source.items_out, sleep.items_in, "{r}");
    assert_eq!(sleep.items_in, sleep.items_out, "{r}");
    assert_eq!(sleep.items_out, last.items_in, "{r}");
    assert_eq!(last.items_out, items.len() as u64, "{r}");
    assert!(items.len() >= 300);
    assert_exactly_0_to_n(items);
    drop(out);
    assert_nothing_left(&shm);
}

#[test]
fn stop_halfway_through_an_endless_source_drains_and_reports_threads() {
    stop_halfway_through_an_endless_source(Mode::Threads);
}

#[test]
fn stop_halfway_through_an_endless_source_drains_and_reports_processes() {
    stop_halfway_through_an_endless_source(Mode::Processes);
}

#[test]
fn wait_after_stop_returns_interrupted_with_the_report() {
    let _serial = serial();
    let shm = shm_entries();
    let _dog = Watchdog::arm("wait after stop", LIMIT);
    let p = pipeline();
    let squares = p.source(0u64..).map(|n| n * n).name("square");
    let _untaken = p.output(squares);
    let running = p.start().unwrap();
    let stop = running.stop_handle();
    let timer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        stop.stop();
    });
    let err = running.wait().unwrap_err();
    timer.join().unwrap();
    let report = err.report().expect("Interrupted carries the report");
    println!("{err}\n{report}");
    assert!(matches!(
        &err,
        PipelineError::Interrupted(i) if i.outcome == StopOutcome::Drained
    ));
    let square = report.stage("square").unwrap();
    assert!(square.items_out > 0);
    assert_eq!(square.items_in, square.items_out);
    assert_eq!(report.stages[0].items_out, square.items_in);
    assert!(err.failures().is_empty());
    assert_nothing_left(&shm);
}

/// `(id, ms)`: item 5 sleeps an hour, every other item none.
fn item_5_hangs(i: u64) -> (u64, u64) {
    (i, if i == 5 { 3_600_000 } else { 0 })
}

#[test]
fn grace_period_expiry_kills_a_task_that_never_finishes() {
    let _serial = serial();
    let shm = shm_entries();
    let _dog = Watchdog::arm("grace expiry", LIMIT);
    let grace = Duration::from_millis(500);
    let p = pipeline();
    p.grace_period(grace);
    let q = p
        .source(0u64..)
        .map(item_5_hangs)
        .map_task(&builtin::SLEEP_THEN_PID)
        .processes(2)
        .name("hang");
    let mut out = p.run_iter(q).unwrap();
    let first: Vec<(u64, u64)> = out.by_ref().take(50).map(Result::unwrap).collect();
    let stopped_at = Instant::now();
    out.stop_handle().stop();
    let (rest, stop) = read_to_interrupted(&mut out);
    let took = stopped_at.elapsed();
    println!(
        "grace {grace:?}: stop -> Interrupted in {:.1} ms, outcome {:?}\n{}",
        ms(took),
        stop.outcome,
        stop.report
    );
    assert_eq!(stop.outcome, StopOutcome::GraceExpired);
    assert!(
        took >= grace,
        "aborted before the grace period ran out: {took:?}"
    );
    let yielded: Vec<u64> = first.iter().chain(&rest).map(|&(i, _)| i).collect();
    assert!(!yielded.contains(&5), "item 5 never finishes");
    let hang = stop.report.stage("hang").unwrap();
    // Aborted: what was queued for the reader may have been dropped, never invented.
    assert!(hang.items_out >= yielded.len() as u64, "{}", stop.report);
    assert!(hang.items_out < hang.items_in, "item 5 never came out");
    drop(out);
    // The worker stuck on item 5 was killed and reaped.
    assert_nothing_left(&shm);
}

#[test]
fn grace_expiry_in_thread_mode_waits_only_for_the_calls_under_way() {
    let _serial = serial();
    let _dog = Watchdog::arm("grace expiry, threads", LIMIT);
    let grace = Duration::from_millis(100);
    let p = Pipeline::new();
    p.grace_period(grace);
    // 300 ms per item on 2 threads: the 64 queued items would need ~10 s to drain.
    let slow = p
        .source(0u64..)
        .map(|n| {
            std::thread::sleep(Duration::from_millis(300));
            n
        })
        .workers(2)
        .name("slow");
    let mut out = p.run_iter(slow).unwrap();
    let first: Vec<u64> = out.by_ref().take(2).map(Result::unwrap).collect();
    let stopped_at = Instant::now();
    out.stop_handle().stop();
    let (rest, stop) = read_to_interrupted(&mut out);
    let took = stopped_at.elapsed();
    println!(
        "threads, grace {grace:?}: stop -> Interrupted in {:.1} ms\n{}",
        ms(took),
        stop.report
    );
    assert_eq!(stop.outcome, StopOutcome::GraceExpired);
    assert!(took >= grace);
    let slow = stop.report.stage("slow").unwrap();
    assert!(slow.items_out >= (first.len() + rest.len()) as u64);
    assert!(slow.items_out < stop.report.stages[0].items_out);
    drop(out);
    assert_nothing_left(&shm_entries());
}

#[test]
fn a_second_stop_aborts_at_once() {
    let _serial = serial();
    let shm = shm_entries();
    let _dog = Watchdog::arm("second stop", LIMIT);
    let grace = Duration::from_secs(60);
    let p = pipeline();
    p.grace_period(grace);
    let q = p
        .source(0u64..)
        .map(item_5_hangs)
        .map_task(&builtin::SLEEP_THEN_PID)
        .processes(2)
        .name("hang");
    let mut out = p.run_iter(q).unwrap();
    let _first: Vec<_> = out.by_ref().take(50).map(Result::unwrap).collect();
    let stop = out.stop_handle();
    stop.stop();
    std::thread::sleep(Duration::from_millis(100));
    assert!(stop.is_stopping(), "item 5 holds the drain");
    let second_at = Instant::now();
    stop.stop();
    let (_, interrupted) = read_to_interrupted(&mut out);
    let took = second_at.elapsed();
    println!(
        "second stop -> Interrupted in {:.1} ms (grace {grace:?})",
        ms(took)
    );
    assert_eq!(interrupted.outcome, StopOutcome::Forced);
    assert!(took < grace, "the second stop waited for the grace period");
    drop(out);
    assert!(!stop.is_stopping(), "the run is over");
    stop.stop(); // after the end: nothing
    assert_nothing_left(&shm);
}

fn ordered_section_stopped_halfway(mode: Mode) {
    let _serial = serial();
    let shm = shm_entries();
    let _dog = Watchdog::arm("ordered stop", LIMIT);
    let p = pipeline();
    let jittered = par(p.source(0u64..).map_task(&builtin::SLEEP_JITTER), mode, 3).ordered();
    let batches = jittered.batch(7).name("batch");
    let mut out = p.run_iter(batches).unwrap();
    let mut batches: Vec<Vec<u64>> = out.by_ref().take(20).map(Result::unwrap).collect();
    out.stop_handle().stop();
    let (rest, stop) = read_to_interrupted(&mut out);
    batches.extend(rest);
    let items: Vec<u64> = batches.iter().flatten().copied().collect();
    println!(
        "{mode:?}: {} batches, {} items, last batch {:?}",
        batches.len(),
        items.len(),
        batches.last().map(Vec::len)
    );
    assert_eq!(stop.outcome, StopOutcome::Drained);
    assert!(
        items.iter().copied().eq(0..items.len() as u64),
        "not an in-order prefix of the source"
    );
    assert!(batches[..batches.len() - 1].iter().all(|b| b.len() == 7));
    let batch = stop.report.stage("batch").unwrap();
    assert_eq!(batch.items_out, batches.len() as u64);
    assert_eq!(batch.items_in, items.len() as u64);
    drop(out);
    assert_nothing_left(&shm);
}

#[test]
fn an_ordered_section_stopped_halfway_yields_an_in_order_prefix_threads() {
    ordered_section_stopped_halfway(Mode::Threads);
}

#[test]
fn an_ordered_section_stopped_halfway_yields_an_in_order_prefix_processes() {
    ordered_section_stopped_halfway(Mode::Processes);
}

#[test]
fn a_zip_of_two_stopped_sources_ends_without_failure() {
    let _serial = serial();
    let shm = shm_entries();
    let _dog = Watchdog::arm("zip stop", LIMIT);
    let p = Pipeline::new();
    let left = p.source(0u64..);
    let right = p.source(0u64..).map(|n| n * 10).workers(2);
    let pairs = p.zip(left, right);
    let mut out = p.run_iter(pairs).unwrap();
    let _first: Vec<_> = out.by_ref().take(100).map(Result::unwrap).collect();
    out.stop_handle().stop();
    let (_, stop) = read_to_interrupted(&mut out);
    assert_eq!(stop.outcome, StopOutcome::Drained);
    drop(out);
    assert_nothing_left(&shm);
}

#[test]
fn a_stop_after_the_sources_ended_changes_nothing() {
    let _serial = serial();
    let _dog = Watchdog::arm("stop after the end", LIMIT);
    let p = Pipeline::new();
    let out = p.source(0..10u64).map(|n| n + 1);
    let mut out = p.run_iter(out).unwrap();
    let items: Vec<u64> = out.by_ref().take(10).map(Result::unwrap).collect();
    // Every item was pulled: the source has nothing left to cut.
    out.stop_handle().stop();
    assert!(out.next().is_none(), "the run ends as usual");
    assert_eq!(items, (1..=10).collect::<Vec<_>>());
    assert_eq!(out.report().unwrap().stages[0].items_out, 10);
}
