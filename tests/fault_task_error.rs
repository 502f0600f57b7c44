//! A task error inside a 2-process stage fails the run naming the stage, the item and the
//! message; no worker process and no /dev/shm entry is left behind.
#[path = "support/process.rs"]
mod support;

use skorche::worker::builtin;
use skorche::FailureKind;

#[test]
fn fail_on_in_two_processes_names_stage_seq_and_message() {
    support::assert_failing_item_1234_is_reported(
        builtin::FAIL_ON.bind_with(&1234u64),
        "failing",
        FailureKind::Task,
        "refusing item 1234",
    );
}
