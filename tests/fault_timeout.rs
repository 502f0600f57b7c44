//! A per-item timeout shorter than the task's work fails the stage with
//! FailureKind::Timeout naming the stage and an item; the worker is killed and reaped.
#[path = "support/process.rs"]
mod support;

use std::time::Duration;

use skorche::worker::builtin;
use skorche::{FailureKind, Pipeline};
use support::*;

#[test]
fn item_timeout_shorter_than_the_sleep_fails_the_stage() {
    let shm = shm_entries();
    let _dog = Watchdog::arm("timeout pipeline", LIMIT);
    let p = Pipeline::new();
    p.worker_program(TEST_WORKER);
    // sleep_jitter sleeps 1-4 ms per item; the limit is 100 µs per item.
    let q = p
        .source(0..1_000u64)
        .map_task(&builtin::SLEEP_JITTER)
        .processes(2)
        .item_timeout(Duration::from_micros(100))
        .name("slow");
    let err = p
        .run_iter(q)
        .unwrap()
        .collect::<Result<Vec<u64>, _>>()
        .unwrap_err();
    println!("{err}");
    let f = err
        .failures()
        .iter()
        .find(|f| f.kind == FailureKind::Timeout)
        .unwrap_or_else(|| panic!("no Timeout in {err:?}"));
    assert_eq!(f.stage, "slow");
    assert!(f.seq.is_some(), "{f:?}");
    assert!(f.message.contains("was killed"), "{}", f.message);
    assert_no_children();
    assert_no_new_shm(&shm);
}
