//! Spawn and handshake: success, unknown task, type or kind mismatch, non-workers.

mod support;

use skorche_worker::builtin;
use skorche_worker::error::{HandshakeError, SpawnError};
use skorche_worker::registry::TaskKind;
use skorche_worker::rings::Ring;
use std::time::{Duration, Instant};
use support::*;

#[test]
fn handshake_succeeds_and_worker_exits_zero_after_end() {
    let _w = watchdog(30);
    let sut = spawn(&builtin::IDENTITY_U64.bind());
    assert!(pid(&sut) > 0);
    finish(sut);
}

#[test]
fn unknown_task_is_reported_with_known_tasks() {
    let _w = watchdog(30);
    let mut spec = spec("s1", &builtin::IDENTITY_U64.bind());
    spec.task.name = "no_such_task".into();
    match start_with(EXE, &spec) {
        Err(SpawnError::Handshake(HandshakeError::UnknownTask {
            stage, task, known, ..
        })) => {
            assert_eq!(stage, "s1");
            assert_eq!(task, "no_such_task");
            assert!(known.iter().any(|k| k == "identity_u64"), "{known:?}");
        }
        other => panic!("expected UnknownTask, got {other:?}"),
    }
}

#[test]
fn type_mismatch_names_stage_and_both_types() {
    let _w = watchdog(30);
    let mut spec = spec("s2", &builtin::IDENTITY_U64.bind());
    spec.task.input_type = "alloc::string::String".into();
    let err = start_with(EXE, &spec).expect_err("must fail");
    match &err {
        SpawnError::Handshake(HandshakeError::TypeMismatch {
            stage,
            which,
            expected,
            found,
            ..
        }) => {
            assert_eq!(stage, "s2");
            assert_eq!(*which, "input");
            assert_eq!(expected, "alloc::string::String");
            assert_eq!(found, "u64");
        }
        other => panic!("expected TypeMismatch, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("s2") && text.contains("String") && text.contains("u64"),
        "{text}"
    );
}

#[test]
fn output_type_mismatch_is_reported() {
    let _w = watchdog(30);
    let mut spec = spec("s3", &builtin::CHECKSUM_BYTES.bind());
    spec.task.output_type = "u32".into();
    match start_with(EXE, &spec) {
        Err(SpawnError::Handshake(HandshakeError::TypeMismatch {
            which: "output",
            found,
            ..
        })) => {
            assert_eq!(found, "u64")
        }
        other => panic!("expected TypeMismatch, got {other:?}"),
    }
}

#[test]
fn same_name_and_types_but_another_kind_is_refused() {
    let _w = watchdog(30);
    // The worker registers identity_u64 as a map; a coordinator expecting a flat-map of the
    // same name and types would misread its outputs.
    let mut spec = spec("s5", &builtin::IDENTITY_U64.bind());
    spec.task.kind = TaskKind::FlatMap;
    let err = start_with(EXE, &spec).expect_err("must fail");
    match &err {
        SpawnError::Handshake(HandshakeError::KindMismatch {
            stage,
            task,
            expected,
            found,
        }) => {
            assert_eq!(stage, "s5");
            assert_eq!(task, "identity_u64");
            assert_eq!(*expected, TaskKind::FlatMap);
            assert_eq!(*found, TaskKind::Map);
        }
        other => panic!("expected KindMismatch, got {other:?}"),
    }
    assert!(err.to_string().contains("s5"), "{err}");
}

fn non_worker(exe: &str, timeout: Duration) -> (SpawnError, Duration) {
    let mut spec = spec("s4", &builtin::IDENTITY_U64.bind());
    spec.handshake_timeout = timeout;
    let t0 = Instant::now();
    let err = start_with(exe, &spec).expect_err("must fail");
    (err, t0.elapsed())
}

#[test]
fn program_that_exits_at_once_is_a_spawn_error() {
    let _w = watchdog(30);
    let (err, _) = non_worker("/bin/true", Duration::from_secs(10));
    assert!(matches!(err, SpawnError::Exited { .. }), "{err:?}");
}

#[test]
fn missing_executable_is_a_spawn_error() {
    let _w = watchdog(30);
    let (err, _) = non_worker("/nonexistent/skorche-worker", Duration::from_secs(10));
    assert!(matches!(err, SpawnError::Exec { .. }), "{err:?}");
}

#[test]
fn missing_executable_is_a_spawn_error_with_rings_to_pass() {
    let _w = watchdog(30);
    // Several descriptors to place in the child: placing them must not disturb the spawn's
    // own machinery (the pipe that reports a failed exec).
    let rings: Vec<_> = (0..4)
        .map(|_| std::sync::Arc::new(Ring::create(1 << 16).expect("ring")))
        .collect();
    for _ in 0..20 {
        let mut spec = spec("s6", &builtin::IDENTITY_U64.bind());
        spec.rings = rings.clone();
        let err = start_with("/nonexistent/skorche-worker", &spec).expect_err("must fail");
        assert!(matches!(err, SpawnError::Exec { .. }), "{err:?}");
    }
}

#[test]
fn silent_program_times_out_and_is_killed() {
    use std::os::unix::fs::PermissionsExt;
    let _w = watchdog(30);
    // A program that neither greets nor exits: `sleep 100` behind a script.
    let script = std::env::temp_dir().join(format!("skorche-sleep-{}.sh", std::process::id()));
    std::fs::write(&script, "#!/bin/sh\nexec sleep 100\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (err, took) = non_worker(script.to_str().unwrap(), Duration::from_millis(300));
    let _ = std::fs::remove_file(&script);
    match err {
        SpawnError::Timeout { pid, .. } => assert_reaped(pid),
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert!(took < Duration::from_secs(5), "took {took:?}");
}
