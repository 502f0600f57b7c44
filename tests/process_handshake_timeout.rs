//! Issue #8: the handshake timeout is a per-pipeline setting,
//! `Pipeline::handshake_timeout(Duration) -> &Self`.
//!
//! Today (before the fix) this file does not compile: `Pipeline::handshake_timeout` does not
//! exist, and the limit is the fixed `DEFAULT_HANDSHAKE_TIMEOUT` of the worker client
//! (10 s): with the same silent worker program a run fails after 10.0 s.

#[path = "support/load.rs"]
mod load;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use load::process::Watchdog;
use load::{ms, scratch_dir, wait_no_children_running};
use skorche::worker::builtin;
use skorche::{FailureKind, Pipeline};

/// A worker program that starts and never says a word.
#[test]
fn a_silent_worker_fails_the_run_after_the_pipelines_handshake_timeout() {
    let _dog = Watchdog::arm("handshake timeout", Duration::from_secs(60));
    let dir = scratch_dir("silent-worker");
    let script = dir.join("silent-worker.sh");
    std::fs::write(&script, "#!/bin/sh\nsleep 60\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();

    let limit = Duration::from_millis(500);
    let p = Pipeline::new();
    p.worker_program(&script);
    p.handshake_timeout(limit);
    let q = p
        .source(0..10u64)
        .map_task(&builtin::IDENTITY_U64)
        .processes(1)
        .name("silent");
    let started = Instant::now();
    let result = p
        .run_iter(q)
        .and_then(|out| out.collect::<Result<Vec<u64>, _>>());
    let took = started.elapsed();
    println!("after {:.0} ms: {result:?}", ms(took));
    let err = result.expect_err("a worker that never speaks must fail the run");
    let f = err
        .failures()
        .iter()
        .find(|f| f.kind == FailureKind::Spawn)
        .unwrap_or_else(|| panic!("no Spawn failure in {err:?}"));
    assert_eq!(f.stage, "silent");
    assert!(
        took >= limit && took <= limit + Duration::from_millis(1500),
        "failed after {:.0} ms; handshake timeout {:.0} ms",
        ms(took),
        ms(limit)
    );
    wait_no_children_running(&script, Duration::from_secs(2))
        .unwrap_or_else(|left| panic!("the silent worker is left running: {left:?}"));
    let _ = std::fs::remove_dir_all(&dir);
}
