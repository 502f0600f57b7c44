//! Helpers shared by the process tests.
#![allow(dead_code)]

use skorche_worker::client::{SpawnSpec, WorkerEvent, WorkerProcess};
use skorche_worker::codec;
use skorche_worker::protocol::{ItemResult, Payload, WorkItem};
use skorche_worker::registry::BoundTask;
use std::sync::mpsc;
use std::time::Duration;

/// The worker binary under test.
pub const EXE: &str = env!("CARGO_BIN_EXE_skorche-worker");

/// Aborts the whole test process if the guard is not dropped within `secs`.
pub struct Watchdog(Option<mpsc::Sender<()>>);

pub fn watchdog(secs: u64) -> Watchdog {
    let (tx, rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(Duration::from_secs(secs)) {
            eprintln!("watchdog: test still running after {secs} s, aborting");
            std::process::abort();
        }
    });
    Watchdog(Some(tx))
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.0.take());
    }
}

pub fn spec<In: 'static, Out: 'static>(stage: &str, task: &BoundTask<In, Out>) -> SpawnSpec {
    let mut s = SpawnSpec::for_task(EXE, stage, task);
    s.handshake_timeout = Duration::from_secs(10);
    s
}

pub fn spawn<In: 'static, Out: 'static>(task: &BoundTask<In, Out>) -> WorkerProcess {
    WorkerProcess::spawn(&spec("test-stage", task)).expect("spawn worker")
}

pub fn inline<T: serde::Serialize + 'static>(v: T) -> Payload {
    codec::encode_payload(v, None, usize::MAX, Duration::ZERO).expect("encode")
}

pub fn items(range: std::ops::Range<u64>) -> Vec<WorkItem> {
    range
        .map(|i| WorkItem {
            seq: i,
            payload: inline(i),
        })
        .collect()
}

/// Receives one `Results` event, panicking on anything else.
pub fn results(w: &mut WorkerProcess) -> Vec<ItemResult> {
    match w.recv().expect("recv") {
        WorkerEvent::Results(r) => r,
        other => panic!("expected results, got {other:?}"),
    }
}

pub fn done_u64(r: &ItemResult) -> (u64, Vec<u64>) {
    match r {
        ItemResult::Done { seq, outputs } => (
            *seq,
            outputs
                .iter()
                .map(|p| codec::decode_payload::<u64>(p, &[]).expect("decode"))
                .collect(),
        ),
        other => panic!("expected Done, got {other:?}"),
    }
}

/// Ends the stream and checks the worker says Bye, exits 0 and is reaped.
pub fn finish(mut w: WorkerProcess) {
    let pid = w.pid();
    w.end().expect("end");
    match w.recv().expect("recv after end") {
        WorkerEvent::Finished { status } => assert!(status.success(), "status {status}"),
        other => panic!("expected Finished, got {other:?}"),
    }
    assert!(w.wait().success());
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} not reaped"
    );
}
