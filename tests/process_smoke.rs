//! A first process-mode pipeline.
use skorche::core::Pipeline;
use skorche::worker::builtin;

#[test]
fn identity_in_two_processes_returns_every_item() {
    let p = Pipeline::new();
    p.worker_program(env!("CARGO_BIN_EXE_skorche-test-worker"));
    let q = p
        .source(0..10_000u64)
        .map_task(&builtin::IDENTITY_U64)
        .processes(2);
    let mut v: Vec<u64> = p.run_iter(q).unwrap().collect::<Result<_, _>>().unwrap();
    v.sort();
    assert_eq!(v, (0..10_000).collect::<Vec<_>>());
}
