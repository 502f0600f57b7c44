//! Issue #8: a pipeline with two declared outputs, one taken, and the `Running` dropped; the
//! taken output, read to the end, must either yield every item of its branch or end with an
//! error. Ending with `Ok` after fewer items silently loses data.
//!
//! Today (HEAD 04ceb65, before the fix; release build, 2 cores), both fail: the taken
//! output ends `Ok` after 0 of 500 items, in thread mode and with a process stage.

#[path = "support/load.rs"]
mod load;

use std::time::Duration;

use load::private_worker;
use load::process::Watchdog;
use skorche::worker::builtin;
use skorche::{Pipeline, PipelineError};

const N: u64 = 1000;

/// Evens go to the taken output (through `stage`), odds to the untaken one.
fn read_taken_after_dropping_running(
    p: Pipeline,
    evens: skorche::Queue<u64>,
    odds: skorche::Queue<u64>,
) -> (Vec<u64>, Option<PipelineError>) {
    let taken = p.output(evens);
    let _untaken = p.output(odds);
    let mut running = p.start().unwrap();
    let out = running.take(taken);
    drop(running);
    let mut items = Vec::new();
    let mut error = None;
    for r in out {
        match r {
            Ok(v) => items.push(v),
            Err(e) => error = Some(e),
        }
    }
    (items, error)
}

fn assert_all_or_error(mode: &str, items: Vec<u64>, error: Option<PipelineError>) {
    let expected = N / 2;
    println!(
        "{mode}: {} of {expected} items, then {}",
        items.len(),
        match &error {
            Some(e) => format!("Err({e})"),
            None => "Ok".into(),
        }
    );
    if error.is_none() {
        let mut items = items;
        items.sort();
        assert_eq!(
            items.len() as u64,
            expected,
            "{mode}: the taken output ended Ok with {} of {expected} items",
            items.len()
        );
        assert_eq!(items, (0..N).filter(|x| x % 2 == 0).collect::<Vec<_>>());
    }
}

#[test]
fn threads_an_untaken_output_and_a_dropped_running_lose_nothing_silently() {
    let _dog = Watchdog::arm("untaken output, threads", Duration::from_secs(60));
    let p = Pipeline::new();
    let (evens, odds) = p.source(0..N).split(|x| x % 2 == 0);
    let evens = evens.map(|x| x).workers(2).name("evens");
    let (items, error) = read_taken_after_dropping_running(p, evens, odds);
    assert_all_or_error("threads", items, error);
}

#[test]
fn processes_an_untaken_output_and_a_dropped_running_lose_nothing_silently() {
    let _dog = Watchdog::arm("untaken output, processes", Duration::from_secs(60));
    let p = Pipeline::new();
    p.worker_program(private_worker("untaken"));
    let (evens, odds) = p.source(0..N).split(|x| x % 2 == 0);
    let evens = evens
        .map_task(&builtin::IDENTITY_U64)
        .processes(2)
        .name("evens")
        .into_any();
    let (items, error) = read_taken_after_dropping_running(p, evens, odds);
    assert_all_or_error("processes", items, error);
}
