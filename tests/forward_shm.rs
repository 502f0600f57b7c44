//! Large payloads made in one process stage and consumed by the next are forwarded as
//! shared-memory handles: the coordinator never decodes or copies them.

use skorche::core::Pipeline;
use skorche::worker::builtin;

const MIB: u64 = 1 << 20;

fn checksums(forward: bool) -> (Vec<u64>, u64) {
    let p = Pipeline::new();
    p.worker_program(env!("CARGO_BIN_EXE_skorche-test-worker"));
    let seeds = p.source((0..24u64).map(|seed| (seed, 2 * MIB + seed)));
    let bytes = seeds
        .map_task(&builtin::PRODUCE_BYTES)
        .processes(2)
        .name("produce");
    let sums = if forward {
        bytes.map_task(&builtin::CHECKSUM_BYTES).processes(2)
    } else {
        bytes.map_task(&builtin::CHECKSUM_BYTES).workers(2)
    };
    let (mut v, report) = p.run_iter(sums).unwrap().collect_report().unwrap();
    v.sort();
    (v, report.stage("produce").unwrap().forwarded)
}

#[test]
fn handles_pass_between_process_stages_untouched() {
    let (forwarded_sums, forwarded) = checksums(true);
    let (decoded_sums, not_forwarded) = checksums(false);
    assert_eq!(forwarded_sums, decoded_sums);
    assert_eq!(forwarded, 24, "every payload went on as a handle");
    assert_eq!(
        not_forwarded, 0,
        "a thread stage downstream gets decoded values"
    );
}
