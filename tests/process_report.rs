//! Issue #8: the report of a process stage measures the workers' task time, not the
//! coordinator's encoding time.
//!
//! Today (HEAD 04ceb65, before the fix; release build, 2 cores): fails: busy 0.1 ms (the
//! coordinator's encoding time), wall 286-324 ms, utilization 0.000.

#[path = "support/load.rs"]
mod load;

use std::time::Duration;

use load::process::Watchdog;
use load::{ms, private_worker};
use skorche::worker::builtin;
use skorche::Pipeline;

/// 100 items of 5 ms in 2 processes: busy is about 100 x 5 ms and the workers were busy
/// most of the stage's wall time.
#[test]
fn busy_time_of_a_process_stage_is_the_time_its_tasks_ran() {
    let _dog = Watchdog::arm("process report", Duration::from_secs(60));
    let p = Pipeline::new();
    p.worker_program(private_worker("report"));
    let q = p
        .source((0..100u64).map(|i| (i, 5)))
        .map_task(&builtin::SLEEP_THEN_PID)
        .processes(2)
        .name("sleep5");
    let (out, report) = p.run_iter(q).unwrap().collect_report().unwrap();
    assert_eq!(out.len(), 100);
    let s = report.stage("sleep5").unwrap();
    println!(
        "busy {:.1} ms, wall {:.1} ms, utilization {:.3}\n{report}",
        ms(s.busy),
        ms(s.wall),
        s.utilization()
    );
    let floor = Duration::from_millis(100 * 5 * 8 / 10);
    assert!(
        s.busy >= floor,
        "busy {:.1} ms; the tasks slept 500 ms in all (floor {:.0} ms)",
        ms(s.busy),
        ms(floor)
    );
    assert!(
        s.utilization() > 0.5,
        "utilization {:.3} (busy {:.1} ms over 2 workers x {:.1} ms)",
        s.utilization(),
        ms(s.busy),
        ms(s.wall)
    );
}
