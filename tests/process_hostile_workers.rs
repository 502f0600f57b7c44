//! A worker that breaks the protocol on purpose makes the run fail promptly with an error
//! naming its stage, never a hang, a panic or a wrong result, and leaves no process behind.
//!
//! The workers are `skorche-test-worker` started through a wrapper script that sets
//! `SKORCHE_TEST_HOSTILE=<mode>` (see `src/bin/skorche-test-worker/hostile.rs` for what each
//! mode does). Expected failure kinds:
//!
//! | mode | kind |
//! |---|---|
//! | `truncated`, `hello-twice`, `huge-frame` | `Protocol` (the transport refuses the stream) |
//! | `wrong-batch`, `wrong-first`, `lying-count`, `wrong-count`, `too-few` | `Protocol` (the coordinator checks results against the batch) |
//! | `wrong-kind` | `Handshake` (refused at handshake) |
//! | `garbage-ring` | `Protocol` (a handle into a corrupted ring) |
#[path = "support/process.rs"]
mod support;

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use skorche::worker::builtin;
use skorche::{FailureKind, Pipeline, PipelineError, Queue};
use support::*;

/// Every test checks that no child is left: they must not run concurrently.
static SERIAL: Mutex<()> = Mutex::new(());

/// How long a run may take from its start to the error: starting two workers and one fault.
/// The aim is well under a second; the margin absorbs a loaded machine.
const PROMPT: Duration = Duration::from_secs(3);

/// A wrapper script in a private temporary directory that runs the test worker in `mode`;
/// removed on drop.
struct HostileProgram {
    dir: PathBuf,
    path: PathBuf,
}

impl HostileProgram {
    fn new(mode: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "skorche-hostile-{}-{mode}-{nanos}",
            std::process::id()
        ));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .expect("creating the script directory");
        let path = dir.join("worker.sh");
        std::fs::write(
            &path,
            format!("#!/bin/sh\nSKORCHE_TEST_HOSTILE={mode} exec '{TEST_WORKER}' \"$@\"\n"),
        )
        .expect("writing the script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod 755");
        HostileProgram { dir, path }
    }
}

impl Drop for HostileProgram {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs the pipeline `build` declares with hostile workers in `mode` and returns what the
/// run gave (the items, or the error) and how long it took.
fn run_with<T: Send + 'static, K>(
    mode: &str,
    build: impl FnOnce(&Pipeline, &Path) -> Queue<T, K>,
) -> (Result<Vec<T>, PipelineError>, Duration) {
    let program = HostileProgram::new(mode);
    let p = Pipeline::new();
    let q = build(&p, &program.path);
    let start = Instant::now();
    let result = p
        .run_iter(q)
        .and_then(|out| out.collect::<Result<Vec<T>, _>>());
    (result, start.elapsed())
}

/// Checks that `result` is an error with a failure of `kind` naming `stage`, within
/// [`PROMPT`].
fn assert_fails<T>(
    mode: &str,
    stage: &str,
    kind: FailureKind,
    (result, took): (Result<Vec<T>, PipelineError>, Duration),
) {
    let err = match result {
        Ok(items) => panic!(
            "{mode}: the run succeeded with {} items despite a hostile worker",
            items.len()
        ),
        Err(e) => e,
    };
    println!("{mode}: {err} (after {took:?})");
    let failure = err
        .failures()
        .iter()
        .find(|f| f.stage == stage)
        .unwrap_or_else(|| panic!("{mode}: no failure names stage {stage:?}: {err:?}"));
    assert_eq!(failure.kind, kind, "{mode}: {err}");
    assert!(err.to_string().contains(stage), "{err}");
    assert!(took < PROMPT, "{mode}: the run took {took:?} to fail");
}

/// An identity stage over `u64` in two hostile workers.
fn identity_stage(mode: &str, kind: FailureKind) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _dog = Watchdog::arm("hostile worker pipeline", Duration::from_secs(30));
    let stage = format!("hostile_{}", mode.replace('-', "_"));
    let outcome = run_with(mode, |p, program| {
        p.source(0..10_000u64)
            .map_task(&builtin::IDENTITY_U64)
            .processes(2)
            .worker_program(program)
            .name(stage.clone())
    });
    assert_fails(mode, &stage, kind, outcome);
    assert_no_children();
}

#[test]
fn half_a_frame_then_exit() {
    identity_stage("truncated", FailureKind::Protocol);
}

#[test]
fn a_second_hello_after_the_handshake() {
    identity_stage("hello-twice", FailureKind::Protocol);
}

#[test]
fn a_frame_announcing_a_terabyte() {
    identity_stage("huge-frame", FailureKind::Protocol);
}

#[test]
fn results_under_a_batch_id_never_sent() {
    identity_stage("wrong-batch", FailureKind::Protocol);
}

#[test]
fn results_at_a_wrong_place_in_the_batch() {
    identity_stage("wrong-first", FailureKind::Protocol);
}

#[test]
fn results_announcing_outputs_the_message_does_not_hold() {
    identity_stage("lying-count", FailureKind::Protocol);
}

#[test]
fn two_outputs_for_one_input_of_a_map_task() {
    identity_stage("wrong-count", FailureKind::Protocol);
}

#[test]
fn fewer_results_than_items() {
    identity_stage("too-few", FailureKind::Protocol);
}

#[test]
fn another_task_kind_at_handshake() {
    identity_stage("wrong-kind", FailureKind::Handshake);
}

#[test]
fn a_handle_into_a_corrupted_output_ring() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _dog = Watchdog::arm("garbage-ring pipeline", Duration::from_secs(30));
    // 1 MiB outputs: above the default threshold, so they are meant to go through the ring.
    let outcome = run_with("garbage-ring", |p, program| {
        p.source((0..200u64).map(|i| (i, 1u64 << 20)))
            .map_task(&builtin::PRODUCE_BYTES)
            .processes(2)
            .worker_program(program)
            .name("hostile_garbage_ring")
    });
    assert_fails(
        "garbage-ring",
        "hostile_garbage_ring",
        FailureKind::Protocol,
        outcome,
    );
    assert_no_children();
}

#[test]
fn corrupted_input_rings_give_an_error_or_right_results() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _dog = Watchdog::arm("garbage-input-ring pipeline", Duration::from_secs(30));
    // 1 MiB inputs: the coordinator may write them into rings the worker just corrupted. It
    // must then fail the stage (or send the values another way): never panic, hang, or give
    // a wrong checksum.
    const N: u64 = 64;
    let (result, took) = run_with("garbage-input-ring", |p, program| {
        p.source((0..N).map(|i| builtin::produce_bytes((i, 1 << 20))))
            .map_task(&builtin::CHECKSUM_BYTES)
            .processes(2)
            .worker_program(program)
            .name("hostile_garbage_input_ring")
            .ordered()
    });
    match result {
        Ok(sums) => {
            let expected: Vec<u64> = (0..N)
                .map(|i| builtin::checksum(&builtin::produce_bytes((i, 1 << 20))))
                .collect();
            assert!(sums == expected, "wrong checksums from a corrupted ring");
            println!("garbage-input-ring: the run succeeded (no input went through a ring)");
        }
        Err(err) => {
            println!("garbage-input-ring: {err} (after {took:?})");
            assert!(
                err.failures()
                    .iter()
                    .any(|f| f.stage == "hostile_garbage_input_ring"),
                "{err:?}"
            );
            assert!(took < PROMPT, "the run took {took:?} to fail");
        }
    }
    assert_no_children();
}
