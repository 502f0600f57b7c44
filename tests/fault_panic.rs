//! A panic inside a 2-process stage fails the run naming the stage, the item and the
//! message; no worker process and no /dev/shm entry is left behind.
#[path = "support/process.rs"]
mod support;

use skorche::worker::builtin;
use skorche::FailureKind;

#[test]
fn panic_on_in_two_processes_names_stage_seq_and_message() {
    support::assert_failing_item_1234_is_reported(
        builtin::PANIC_ON.bind_with(&1234u64),
        "panicking",
        FailureKind::Panic,
        "panicking on item 1234",
    );
}
