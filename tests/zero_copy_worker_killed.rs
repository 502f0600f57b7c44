//! A worker killed with SIGKILL while the driver holds `ShmBytes` read from its ring: the
//! held bytes stay valid. Alone in its file: it counts this process's worker children.

#[path = "support/process.rs"]
mod process;
mod support;

use process::{mapped_rings, me, worker_children_of, TEST_WORKER};
use skorche::worker::builtin::{checksum, produce_bytes, PRODUCE_BYTES_IN_PLACE};
use skorche::{Pipeline, ShmBytes};

const MIB: u64 = 1 << 20;

fn pipeline() -> Pipeline {
    let p = Pipeline::new();
    p.worker_program(TEST_WORKER);
    p
}

/// A worker killed with SIGKILL while the driver holds values from its ring: the held bytes
/// stay valid (the driver created the ring), the restarted worker writes to fresh rings, and
/// the old ring stays mapped until its last value is dropped.
#[test]
fn values_from_a_killed_worker_stay_valid() {
    support::watchdog(|| {
        let p = pipeline();
        let out = p
            .source((0..40u64).map(|seed| (seed, MIB)))
            .map_task_as::<_, ShmBytes>(&PRODUCE_BYTES_IN_PLACE)
            .processes(1)
            .restart_workers(2)
            .name("produce");
        let mut out = p.run_iter(out).unwrap();
        let held: Vec<ShmBytes> = (0..2).map(|_| out.next().unwrap().unwrap()).collect();
        let workers = worker_children_of(me());
        assert_eq!(workers.len(), 1, "{workers:?}");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(workers[0]),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let (rest, report) = out.collect_report().unwrap();
        assert!(report.stage("produce").unwrap().restarts >= 1, "{report}");
        let mut sums: Vec<u64> = held.iter().chain(&rest).map(|v| checksum(v)).collect();
        sums.sort_unstable();
        let mut want: Vec<u64> = (0..40)
            .map(|seed| checksum(&produce_bytes((seed, MIB))))
            .collect();
        want.sort_unstable();
        assert_eq!(sums, want, "every value once");
        drop(rest);
        // The dead worker's ring lives on in the held values only.
        for (seed, v) in held.iter().enumerate() {
            assert!(v.in_ring());
            assert_eq!(checksum(v), checksum(&produce_bytes((seed as u64, MIB))));
        }
        assert!(mapped_rings() >= 1);
        drop(held);
        assert_eq!(mapped_rings(), 0);
    });
}
