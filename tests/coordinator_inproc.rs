//! The coordinator over the in-process transport: the real protocol, dispatch, checks,
//! ordering and markers, with workers on threads instead of processes, so these run without
//! spawning anything.

use std::sync::Arc;

use skorche::worker::builtin;
use skorche::worker::transport::inproc::InProcess;
use skorche::{FailureKind, Pipeline, Placement};

#[test]
fn a_stage_runs_on_in_process_workers_with_the_real_protocol() {
    let p = Pipeline::new();
    let q = p
        .source(0..5_000u64)
        .map_task(&builtin::IDENTITY_U64)
        .processes(3)
        .transport(Arc::new(InProcess))
        .name("ids");
    let (mut out, report) = p.run_iter(q).unwrap().collect_report().unwrap();
    out.sort_unstable();
    assert_eq!(out, (0..5_000).collect::<Vec<_>>());
    let ids = report.stage("ids").unwrap();
    assert_eq!((ids.items_in, ids.items_out), (5_000, 5_000));
    assert_eq!(ids.inline, 10_000, "every input and output crossed inline");
}

#[test]
fn order_and_markers_hold_through_in_process_workers() {
    let p = Pipeline::new();
    let (q, every_10) = p.source(0..1_000u64).insert_periodic(10, Placement::After);
    let (q, point) = q.order_save(64);
    let q = q
        .map_task(&builtin::SLEEP_JITTER)
        .processes(4)
        .transport(Arc::new(InProcess))
        .order_load(point);
    let mut out = p.run_iter(q).unwrap();
    let first: Vec<u64> = out.until(every_10).collect::<Result<_, _>>().unwrap();
    assert_eq!(first, (0..10).collect::<Vec<_>>());
    let rest: Vec<u64> = out.map(|r| r.unwrap()).collect();
    assert_eq!(rest, (10..1_000).collect::<Vec<_>>());
}

#[test]
fn a_flat_map_task_and_a_task_error_through_in_process_workers() {
    let p = Pipeline::new();
    let q = p
        .source(0..50u64)
        .map_task(&builtin::REPEAT_N)
        .processes(2)
        .transport(Arc::new(InProcess));
    let out: Vec<u64> = p.run_iter(q).unwrap().collect::<Result<_, _>>().unwrap();
    let n = out.len() as u64;
    assert_eq!(n, (0..50u64).sum::<u64>());

    let p = Pipeline::new();
    let q = p
        .source(0..100u64)
        .map_task(builtin::FAIL_ON.bind_with(&37u64))
        .processes(2)
        .transport(Arc::new(InProcess))
        .name("fails");
    let err = p
        .run_iter(q)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap_err();
    let f = &err.failures()[0];
    assert_eq!((f.stage.as_str(), f.seq), ("fails", Some(37)));
    assert_eq!(f.kind, FailureKind::Task);
}
