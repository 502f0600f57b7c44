//! A task error inside a 2-process stage fails the run naming the stage, the item and the
//! message; no worker process and no /dev/shm entry is left behind.
#[path = "support/process.rs"]
mod support;

use skorche::worker::builtin;
use skorche::{FailureKind, Pipeline};
use support::*;

#[test]
fn fail_on_in_two_processes_names_stage_seq_and_message() {
    let shm = shm_entries();
    let _dog = Watchdog::arm("fail_on pipeline", LIMIT);
    let p = Pipeline::new();
    p.worker_program(TEST_WORKER);
    let q = p
        .source(0..5_000u64)
        .map_task(builtin::FAIL_ON.bind_with(&1234u64))
        .processes(2)
        .name("failing");
    let err = p
        .run_iter(q)
        .unwrap()
        .collect::<Result<Vec<u64>, _>>()
        .unwrap_err();
    println!("{err}");
    let f = err
        .failures()
        .iter()
        .find(|f| f.kind == FailureKind::Task)
        .unwrap_or_else(|| panic!("no task failure in {err:?}"));
    assert_eq!(f.stage, "failing");
    assert_eq!(f.seq, Some(1234));
    assert!(f.message.contains("refusing item 1234"), "{}", f.message);
    assert_no_children();
    assert_no_new_shm(&shm);
}
