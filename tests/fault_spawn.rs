//! Workers that cannot be started fail the stage with FailureKind::Spawn, and workers that
//! refuse the handshake with FailureKind::Handshake, promptly and without leaving a child
//! behind.
#[path = "support/process.rs"]
mod support;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use skorche::worker::builtin;
use skorche::{FailureKind, Pipeline, PipelineError};
use support::*;

static SERIAL: Mutex<()> = Mutex::new(());

fn double(x: u64) -> u64 {
    x * 2
}

skorche::worker::task! {
    /// Registered in this test binary only: the test-worker binary does not know it.
    static LOCAL_DOUBLE: u64 => u64 = map("fault_spawn_local_double", double);
}

fn run_with(program: &str, local: bool) -> (PipelineError, Duration) {
    let _dog = Watchdog::arm("spawn-failure pipeline", LIMIT);
    let p = Pipeline::new();
    p.worker_program(program);
    let src = p.source(0..100u64);
    let q = if local {
        src.map_task(&LOCAL_DOUBLE)
    } else {
        src.map_task(&builtin::IDENTITY_U64)
    };
    let q = q.processes(1).name("spawned");
    let start = Instant::now();
    let r = p
        .run_iter(q)
        .and_then(|o| o.collect::<Result<Vec<u64>, _>>());
    let took = start.elapsed();
    (r.unwrap_err(), took)
}

fn failure_of_kind(err: &PipelineError, kind: FailureKind) -> &skorche::StageFailure {
    err.failures()
        .iter()
        .find(|f| f.kind == kind)
        .unwrap_or_else(|| panic!("no {kind:?} failure in {err:?}"))
}

fn spawn_failure(err: &PipelineError) -> &skorche::StageFailure {
    failure_of_kind(err, FailureKind::Spawn)
}

#[test]
fn nonexistent_worker_program_is_a_spawn_error() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (err, took) = run_with("/nonexistent/skorche-worker-program", false);
    println!("{err} (after {took:?})");
    let f = spawn_failure(&err);
    assert_eq!(f.stage, "spawned");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_no_children();
}

#[test]
fn bin_true_fails_the_handshake() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (err, took) = run_with("/bin/true", false);
    println!("{err} (after {took:?})");
    let f = spawn_failure(&err);
    assert_eq!(f.stage, "spawned");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_no_children();
}

#[test]
fn a_worker_that_does_not_know_the_task_refuses_it() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (err, took) = run_with(TEST_WORKER, true);
    println!("{err} (after {took:?})");
    let f = failure_of_kind(&err, FailureKind::Handshake);
    assert_eq!(f.stage, "spawned");
    assert!(
        f.message.contains("fault_spawn_local_double"),
        "{}",
        f.message
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_no_children();
}
