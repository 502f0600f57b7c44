//! Issue #8, hostile types: a user type whose `Serialize` or `Deserialize` panics, in the
//! driver or in the worker, on the way in or out. Each case must end the run promptly with
//! an error naming the stage, the item and the panic, and leave no worker process.
//!
//! Today (HEAD 04ceb65, before the fix; release build, 2 cores), every case fails:
//! - (a) driver encode: hangs (stopped by the 15 s deadline): the panic unwinds the feeder
//!   out of its thread scope, which waits forever for the collector.
//! - (b) worker decode: the worker process dies (exit 101) within ms; reported as
//!   `WorkerDied` naming item 69 or 37 (the first it held), without the panic text.
//! - (c) worker encode: same, exit 101, `WorkerDied` naming item 74 or 77.
//! - (d) driver decode: in 1 of 2 runs `Panic` with the panic text 2 ms after the first
//!   output but no item (`seq: None`); in the other it hung like (a).

#[path = "support/load.rs"]
mod load;

use std::time::{Duration, Instant};

use load::process::Watchdog;
use load::{ms, private_worker, soft_deadline, wait_no_children_running};
use skorche::worker::builtin::{self, Hostile, HostileFault};
use skorche::{Pipeline, PipelineError};

/// The item whose serde impl panics; the 100 before it pass.
const K: u64 = 100;

struct Outcome {
    started: Instant,
    first: Option<Instant>,
    ended: Instant,
    outputs: usize,
    error: Option<PipelineError>,
}

fn assert_fault_is_reported(case: &str, fault: HostileFault) {
    let _dog = Watchdog::arm("hostile types", Duration::from_secs(90));
    let stage = format!("hostile_{case}");
    let program = private_worker(&stage);
    let (stage2, program2) = (stage.clone(), program.clone());
    // A hang fails this test after 15 s; the stuck run is left behind (it ends with the
    // test binary) so that the other cases still report.
    let o = soft_deadline(&stage, Duration::from_secs(15), move || {
        let p = Pipeline::new();
        p.worker_program(&program2);
        let q = p
            .source((0..200u64).map(move |value| Hostile {
                value,
                fault: if value == K {
                    fault
                } else {
                    HostileFault::None
                },
            }))
            .map_task(&builtin::HOSTILE_IDENTITY)
            .processes(2)
            .name(stage2);
        let started = Instant::now();
        let mut o = Outcome {
            started,
            first: None,
            ended: started,
            outputs: 0,
            error: None,
        };
        for r in p.run_iter(q).unwrap() {
            match r {
                Ok(_) => {
                    o.first.get_or_insert_with(Instant::now);
                    o.outputs += 1;
                }
                Err(e) => o.error = Some(e),
            }
        }
        o.ended = Instant::now();
        o
    });
    // The fault happens a few ms after the first output (the 100 items before it are
    // instant); if no output came first, allow 2 s more for spawning the workers.
    let (reference, allowed) = match o.first {
        Some(first) => (first, Duration::from_secs(1)),
        None => (o.started, Duration::from_secs(3)),
    };
    println!(
        "{case}: {} outputs; ended {:.0} ms after {}; error: {:?}",
        o.outputs,
        ms(o.ended - reference),
        if o.first.is_some() {
            "the first output"
        } else {
            "the start"
        },
        o.error
    );
    let err = o.error.unwrap_or_else(|| {
        panic!(
            "{case}: the run ended Ok with {} of 200 outputs despite a panicking serde impl",
            o.outputs
        )
    });
    let f = err
        .failures()
        .iter()
        .find(|f| f.stage == stage)
        .unwrap_or_else(|| panic!("{case}: no failure of stage {stage} in {err:?}"));
    assert_eq!(f.seq, Some(K), "{case}: the failure names the item: {f:?}");
    assert!(
        f.message.contains("hostile:"),
        "{case}: the failure gives the panic message: {f:?}"
    );
    assert!(
        o.ended - reference <= allowed,
        "{case}: the run ended {:.0} ms after the fault",
        ms(o.ended - reference)
    );
    wait_no_children_running(&program, Duration::from_secs(2))
        .unwrap_or_else(|left| panic!("{case}: workers left: {left:?}"));
}

#[test]
fn serialize_panics_in_the_driver_encoding_an_input() {
    assert_fault_is_reported("a_driver_encode", HostileFault::Serialize);
}

#[test]
fn deserialize_panics_in_the_worker_decoding_an_input() {
    assert_fault_is_reported("b_worker_decode", HostileFault::Deserialize);
}

#[test]
fn serialize_panics_in_the_worker_encoding_an_output() {
    assert_fault_is_reported("c_worker_encode", HostileFault::OutputSerialize);
}

#[test]
fn deserialize_panics_in_the_driver_decoding_an_output() {
    assert_fault_is_reported("d_driver_decode", HostileFault::OutputDeserialize);
}
