//! Helpers shared by the process tests.
#![allow(dead_code)]

use skorche_worker::codec;
use skorche_worker::protocol::{ItemResult, Payload, Results, Work, WorkItem};
use skorche_worker::registry::BoundTask;
use skorche_worker::transport::local::LocalTransport;
use skorche_worker::transport::{
    ExitCause, Transport, WorkerEvent, WorkerId, WorkerLink, WorkerSpec,
};
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

pub fn spec<In: 'static, Out: 'static>(stage: &str, task: &BoundTask<In, Out>) -> WorkerSpec {
    let mut s = WorkerSpec::for_task(stage, task);
    s.handshake_timeout = Duration::from_secs(10);
    s
}

/// Starts `spec` with the worker program `exe`.
pub fn start_with(
    exe: &str,
    spec: &WorkerSpec,
) -> Result<WorkerLink, skorche_worker::error::SpawnError> {
    LocalTransport::new(exe).start_worker(spec)
}

/// Starts `spec` with the `skorche-worker` binary.
pub fn start(spec: &WorkerSpec) -> WorkerLink {
    start_with(EXE, spec).expect("start worker")
}

pub fn spawn<In: 'static, Out: 'static>(task: &BoundTask<In, Out>) -> WorkerLink {
    start(&spec("test-stage", task))
}

/// The pid of a local worker.
pub fn pid(link: &WorkerLink) -> u32 {
    match link.control.id() {
        WorkerId::Local { pid } => pid,
        other => panic!("not a local worker: {other}"),
    }
}

/// Whether `pid` is gone (or a zombie nobody reaped yet: it has exited).
pub fn is_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => s
            .rfind(')')
            .and_then(|i| s[i + 1..].split_whitespace().next())
            .is_some_and(|state| state == "Z"),
    }
}

/// Asserts `pid` was reaped (no /proc entry, not even a zombie).
pub fn assert_reaped(pid: u32) {
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} not reaped"
    );
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

/// Sends one batch.
pub fn send(link: &mut WorkerLink, batch: u64, items: Vec<WorkItem>) {
    link.sender
        .send(Work { batch, items })
        .map_err(|(_, e)| e)
        .expect("send");
}

/// Receives one `Results` part, panicking on anything else.
pub fn part(link: &mut WorkerLink) -> Results {
    match link.receiver.recv() {
        WorkerEvent::Results(r) => r,
        other => panic!("expected results, got {other:?}"),
    }
}

/// Receives every part of batch `batch` (checking that they come in order and that only the
/// last says so) and returns the results, one per item.
pub fn results_of(link: &mut WorkerLink, batch: u64) -> Vec<ItemResult> {
    let mut out = Vec::new();
    loop {
        let p = part(link);
        assert_eq!(p.batch, batch, "part of another batch");
        assert_eq!(p.first as usize, out.len(), "parts out of order");
        out.extend(p.results);
        if p.last {
            return out;
        }
    }
}

/// Sends `items` as batch 0 and returns its results.
pub fn round_trip(link: &mut WorkerLink, items: Vec<WorkItem>) -> Vec<ItemResult> {
    send(link, 0, items);
    results_of(link, 0)
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
pub fn finish(mut link: WorkerLink) {
    let pid = pid(&link);
    link.sender.end().expect("end");
    match link.receiver.recv() {
        WorkerEvent::Finished => {}
        other => panic!("expected Finished, got {other:?}"),
    }
    assert_eq!(link.control.wait(), ExitCause::Code(0));
    assert_reaped(pid);
}
