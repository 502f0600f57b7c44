//! Failure policies on process stages: retry, skip and dead letter for task errors and
//! panics in worker processes, and for an item that keeps crashing its workers.
#[path = "support/process.rs"]
mod support;

use std::time::Duration;

use skorche::worker::builtin;
use skorche::{FailureKind, Pipeline};
use support::*;

#[test]
fn retry_in_a_worker_process_brings_every_item_out() {
    let _dog = Watchdog::arm("process retry", Duration::from_secs(60));
    let p = Pipeline::new();
    p.worker_program(TEST_WORKER);
    // One worker, so the item's retries reach the worker that counts its attempts.
    let q = p
        .source(0..500u64)
        .retry(3)
        .map_task(&builtin::FLAKY_TWICE)
        .processes(1)
        .name("flaky");
    let (mut out, report) = p.run_iter(q).unwrap().collect_report().unwrap();
    out.sort_unstable();
    assert_eq!(out, (0..500).collect::<Vec<_>>());
    let flaky = report.stage("flaky").unwrap();
    assert_eq!((flaky.retried, flaky.failed), (1000, 0));
    assert_no_children();
}

#[test]
fn skip_in_a_worker_process_drops_exactly_the_failing_item() {
    let _dog = Watchdog::arm("process skip", Duration::from_secs(60));
    let p = Pipeline::new();
    p.worker_program(TEST_WORKER);
    let q = p
        .source(0..2_000u64)
        .skip_failures()
        .map_task(builtin::PANIC_ON.bind_with(&777u64))
        .processes(2)
        .name("panics");
    let (mut out, report) = p.run_iter(q).unwrap().collect_report().unwrap();
    out.sort_unstable();
    let expected: Vec<u64> = (0..2_000).filter(|&x| x != 777).collect();
    assert_eq!(out, expected);
    let st = report.stage("panics").unwrap();
    assert_eq!((st.failed, st.skipped), (1, 1));
    assert_eq!(st.causes[0].seq, Some(777));
    assert_eq!(st.causes[0].kind, FailureKind::Panic);
    assert_no_children();
}

#[test]
fn a_skipped_item_leaves_a_skip_in_an_ordered_section() {
    let _dog = Watchdog::arm("process ordered skip", Duration::from_secs(60));
    let p = Pipeline::new();
    p.worker_program(TEST_WORKER);
    let (q, point) = p.source(0..1_000u64).order_save(16);
    let q = q
        .skip_failures()
        .map_task(builtin::FAIL_ON.bind_with(&10u64))
        .processes(2)
        .order_load(point);
    let out: Vec<u64> = p.run_iter(q).unwrap().collect::<Result<_, _>>().unwrap();
    let expected: Vec<u64> = (0..1_000).filter(|&x| x != 10).collect();
    assert_eq!(out, expected);
}

#[test]
fn a_poison_pill_crashes_its_worker_three_times_then_lands_in_the_dead_letters() {
    let _dog = Watchdog::arm("poison to dead letter", Duration::from_secs(60));
    let p = Pipeline::new();
    p.worker_program(TEST_WORKER);
    let (items, dead) = p.source(0..3_000u64).dead_letter();
    let q = items
        .map_task(builtin::ABORT_ON.bind_with(&1234u64))
        .processes(2)
        .restart_workers(20)
        .name("decoder");
    let out = p.output(q);
    let dead = p.output(dead);
    let mut running = p.start().unwrap();
    let out = running.take(out);
    let dead = running.take(dead);
    // The report goes to whichever output ends last.
    let letters = std::thread::spawn(move || {
        let mut dead = dead;
        let v: Vec<_> = dead.by_ref().collect::<Result<_, _>>().unwrap();
        (v, dead.report().cloned())
    });
    let mut out = out;
    let mut got: Vec<u64> = out.by_ref().collect::<Result<_, _>>().unwrap();
    let (letters, other) = letters.join().unwrap();
    let report = out.report().cloned().or(other).expect("a report");
    got.sort_unstable();
    let expected: Vec<u64> = (0..3_000).filter(|&x| x != 1234).collect();
    assert_eq!(got, expected, "every other item came out once");
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    println!("{}: {}", letter.item, letter.error);
    assert_eq!(letter.item, 1234);
    assert_eq!(letter.error.seq, Some(1234));
    assert!(
        letter.error.message.contains("3 times"),
        "{}",
        letter.error.message
    );
    assert!(
        letter.error.message.contains("SIGABRT"),
        "{}",
        letter.error.message
    );
    let st = report.stage("decoder").unwrap();
    println!("restarts {}, recovering {:?}", st.restarts, st.recovering);
    assert!(st.restarts >= 3, "{} restarts", st.restarts);
    assert_eq!(st.dead_lettered, 1);
    assert_no_children();
}

#[test]
fn a_task_error_in_a_worker_process_is_dead_lettered_with_its_attempts() {
    let _dog = Watchdog::arm("process dead letter", Duration::from_secs(60));
    let p = Pipeline::new();
    p.worker_program(TEST_WORKER);
    let (items, dead) = p.source(0..100u64).retry(2).dead_letter();
    let q = items
        .map_task(builtin::FAIL_ON.bind_with(&42u64))
        .processes(2)
        .name("fails");
    let out = p.output(q);
    let dead = p.output(dead);
    let mut running = p.start().unwrap();
    let (out, dead) = (running.take(out), running.take(dead));
    let letters = std::thread::spawn(move || dead.collect::<Result<Vec<_>, _>>());
    let got: Vec<u64> = out.collect::<Result<_, _>>().unwrap();
    let letters = letters.join().unwrap().unwrap();
    assert_eq!(got.len(), 99);
    assert_eq!(letters.len(), 1);
    assert_eq!((letters[0].item, letters[0].attempts), (42, 2));
    assert_eq!(letters[0].error.kind, FailureKind::Task);
}

/// The worker that takes over a dead one's items dies on the first of them while the rest
/// are still being sent (32 KiB each, inline: far more than the socket buffer holds). Every
/// item must still reach the worker after it: none may be dropped with the broken link.
#[test]
fn items_handed_to_a_worker_that_dies_at_once_are_not_lost() {
    let _dog = Watchdog::arm("handover to a dying worker", Duration::from_secs(60));
    const N: u64 = 600;
    let p = Pipeline::new();
    p.worker_program(TEST_WORKER);
    let items = (0..N).map(|i| {
        let mut v = vec![0u8; 32 << 10];
        v[..8].copy_from_slice(&i.to_le_bytes());
        v
    });
    let (items, dead) = p.source(items).dead_letter();
    let q = items
        .map_task(builtin::ABORT_ON_TAG.bind_with(&100u64))
        .processes(1)
        .restart_workers(20)
        .name("dies");
    let (out, dead) = (p.output(q), p.output(dead));
    let mut running = p.start().unwrap();
    let (mut out, mut dead) = (running.take(out), running.take(dead));
    let letters = std::thread::spawn(move || {
        let v: Vec<_> = dead.by_ref().collect::<Result<_, _>>().unwrap();
        v.into_iter()
            .map(|f| skorche::worker::builtin::bytes_tag(&f.item))
            .collect::<Vec<_>>()
    });
    let mut got: Vec<u64> = out.by_ref().collect::<Result<_, _>>().unwrap();
    let letters = letters.join().unwrap();
    got.sort_unstable();
    let expected: Vec<u64> = (0..N).filter(|&x| x != 100).collect();
    assert_eq!(letters, vec![100]);
    assert_eq!(got.len(), expected.len(), "items lost in the handover");
    assert_eq!(got, expected);
}
