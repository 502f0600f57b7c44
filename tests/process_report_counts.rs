//! Issue #8: the report says how the values of a process stage travelled between the driver
//! and its workers. Every input sent to a worker and every output received from one counts
//! once, as `via_shm` (a shared-memory record: only a handle was in the message) or `inline`
//! (the bytes were in the message): `via_shm + inline == items_in + items_out` for a map.
//! `forwarded` counts, beside them, the outputs passed on still encoded to the next process
//! stage.
//!
//! Today (HEAD 04ceb65, before the fix) this file does not compile: `StageReport` has
//! `forwarded` but no `via_shm` nor `inline`.

#[path = "support/load.rs"]
mod load;

use std::time::Duration;

use load::private_worker;
use load::process::Watchdog;
use skorche::worker::builtin;
use skorche::Pipeline;

const MIB: u64 = 1 << 20;

/// 30 small inputs; 10 outputs of 1 MiB (above the 64 KiB threshold) and 20 of 100 bytes.
fn sizes() -> impl Iterator<Item = (u64, u64)> {
    (0..30u64).map(|i| (i, if i % 3 == 0 { MIB } else { 100 }))
}

#[test]
fn values_between_the_driver_and_the_workers_count_as_via_shm_or_inline() {
    let _dog = Watchdog::arm("report counts", Duration::from_secs(60));
    let p = Pipeline::new();
    p.worker_program(private_worker("counts"));
    let q = p
        .source(sizes())
        .map_task(&builtin::PRODUCE_BYTES)
        .processes(2)
        .name("produce");
    let (out, report) = p.run_iter(q).unwrap().collect_report().unwrap();
    assert_eq!(out.len(), 30);
    let s = report.stage("produce").unwrap();
    println!(
        "{report}\nvia_shm {} inline {} forwarded {}",
        s.via_shm, s.inline, s.forwarded
    );
    // Inputs: 30 inline. Outputs: 10 via shm, 20 inline.
    assert_eq!((s.via_shm, s.inline, s.forwarded), (10, 30 + 20, 0));
    assert_eq!(s.via_shm + s.inline, s.items_in + s.items_out);
}

#[test]
fn outputs_passed_to_the_next_process_stage_also_count_as_forwarded() {
    let _dog = Watchdog::arm("report counts, forwarding", Duration::from_secs(60));
    let p = Pipeline::new();
    p.worker_program(private_worker("counts-fwd"));
    let q = p
        .source(sizes())
        .map_task(&builtin::PRODUCE_BYTES)
        .processes(2)
        .name("produce")
        .map_task(&builtin::CHECKSUM_BYTES)
        .processes(2)
        .name("checksum");
    let (out, report) = p.run_iter(q).unwrap().collect_report().unwrap();
    assert_eq!(out.len(), 30);
    println!("{report}");
    let produce = report.stage("produce").unwrap();
    let checksum = report.stage("checksum").unwrap();
    let counts = |s: &skorche::StageReport| (s.via_shm, s.inline, s.forwarded);
    println!(
        "produce {:?}, checksum {:?} (via_shm, inline, forwarded)",
        counts(produce),
        counts(checksum)
    );
    // produce: 30 inputs inline; its outputs (10 records, 20 inline) go on as they are.
    assert_eq!(counts(produce), (10, 30 + 20, 30));
    // checksum: the same 10 records and 20 inline buffers in; 30 checksums out, inline.
    assert_eq!(counts(checksum), (10, 20 + 30, 0));
}
