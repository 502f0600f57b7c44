//! Helpers shared by the process tests.
#![allow(dead_code)]

use skorche_worker::codec;
use skorche_worker::protocol::{Outcome, Payload, Results, TaskFailure, Work};
use skorche_worker::registry::BoundTask;
use skorche_worker::transport::local::LocalTransport;
use skorche_worker::transport::{
    ExitCause, Transport, WorkerEvent, WorkerId, WorkerLink, WorkerSpec,
};
use skorche_worker::values::Values;
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

/// One input as the tests write it: a tag and a payload (the wire carries the payloads of a
/// batch in one [`Values`]; results are matched by position, and these helpers give them the
/// tags of their inputs back).
#[derive(Debug, Clone)]
pub struct WorkItem {
    pub seq: u64,
    pub payload: Payload,
}

/// One result as the tests read it: the input's tag and its outputs as payloads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemResult {
    Done { seq: u64, outputs: Vec<Payload> },
    Failed { seq: u64, failure: TaskFailure },
}

impl ItemResult {
    pub fn seq(&self) -> u64 {
        match self {
            ItemResult::Done { seq, .. } | ItemResult::Failed { seq, .. } => *seq,
        }
    }
}

/// The results of one part, tagged by `tag(position in the batch)`.
pub fn split_part(p: &Results, tag: impl Fn(usize) -> u64) -> Vec<ItemResult> {
    p.validate().expect("a well-formed part");
    let mut outputs = p.outputs.iter();
    p.outcomes
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let seq = tag(p.first as usize + i);
            match o {
                Outcome::Done(n) => ItemResult::Done {
                    seq,
                    outputs: (&mut outputs)
                        .take(*n as usize)
                        .map(|v| v.to_payload())
                        .collect(),
                },
                Outcome::Failed(failure) => ItemResult::Failed {
                    seq,
                    failure: failure.clone(),
                },
            }
        })
        .collect()
}

type Tags = std::sync::Mutex<std::collections::HashMap<(String, u64), Vec<u64>>>;

/// The tags of the batches sent, by (worker, batch id).
fn tags() -> &'static Tags {
    static TAGS: std::sync::OnceLock<Tags> = std::sync::OnceLock::new();
    TAGS.get_or_init(Default::default)
}

pub fn items(range: std::ops::Range<u64>) -> Vec<WorkItem> {
    range
        .map(|i| WorkItem {
            seq: i,
            payload: inline(i),
        })
        .collect()
}

/// The wire form of a batch.
pub fn work(batch: u64, items: Vec<WorkItem>) -> Work {
    let mut values = Values::with_capacity(items.len());
    for i in items {
        values.push_payload(i.payload);
    }
    Work {
        batch,
        items: values,
    }
}

/// Sends one batch.
pub fn send(link: &mut WorkerLink, batch: u64, items: Vec<WorkItem>) {
    let seqs = items.iter().map(|i| i.seq).collect();
    let worker = link.control.id().to_string();
    tags().lock().unwrap().insert((worker, batch), seqs);
    link.sender
        .send(work(batch, items))
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
/// last says so) and returns the results, one per item, tagged as the items were sent.
pub fn results_of(link: &mut WorkerLink, batch: u64) -> Vec<ItemResult> {
    let worker = link.control.id().to_string();
    let sent = tags().lock().unwrap().get(&(worker, batch)).cloned();
    let tag = |i: usize| sent.as_ref().map_or(i as u64, |s| s[i]);
    let mut out = Vec::new();
    loop {
        let p = part(link);
        assert_eq!(p.batch, batch, "part of another batch");
        assert_eq!(p.first as usize, out.len(), "parts out of order");
        out.extend(split_part(&p, tag));
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
