//! The process coordinator: runs a registered task's stage in N worker processes.
//!
//! Per worker process the coordinator creates two shared-memory rings (inputs it writes,
//! outputs the worker writes), spawns the worker executable, and runs two threads:
//!
//! * the **feeder** takes items from the stage's input queue (several feeders share it,
//!   which balances load), packs the ones already waiting into one batch (so one message
//!   carries many small items), encodes each (above the threshold straight into the input
//!   ring), and sends it, keeping at most `window` batches unanswered (credits);
//! * the **collector** receives each batch's results in order, decodes the outputs (reading
//!   ring records in place, then releasing them), and puts them on the output queue with
//!   the positions their inputs had. Markers and skips never go to a worker: they wait
//!   behind the batch in flight when they arrived, so they keep their place.
//!
//! A task error or panic, a dead worker, a protocol fault or an expired item timeout fails
//! the stage and stops the run; the stage's workers are killed and reaped in every case.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, SendTimeoutError, Sender};
use serde::de::DeserializeOwned;
use serde::Serialize;
use skorche_worker::client::{
    SpawnSpec, WorkerEvent, WorkerHandle, WorkerProcess, WorkerReceiver, WorkerSender,
};
use skorche_worker::codec;
use skorche_worker::error::ClientError;
use skorche_worker::protocol::{ItemResult, WorkItem};
use skorche_worker::registry::BoundTask;
use skorche_worker::rings::Ring;

use crate::error::{FailureKind, PipelineError};
use crate::exec::launch::Launch;
use crate::exec::worker_cx::WorkerCx;
use crate::order::Tag;
use crate::packet::Packet;
use crate::stage::send;
use crate::stage::task::{emit, kind_of};

/// How often blocked coordinator threads look at the run's stop flag.
const POLL: Duration = Duration::from_millis(20);

/// How long an encoder waits for room in a full input ring before the stage fails.
const RING_WAIT: Duration = Duration::from_secs(30);

/// Process-mode settings of one stage.
#[derive(Debug, Clone)]
pub(crate) struct ProcessOptions {
    /// The worker executable; `None`: the driver itself (`std::env::current_exe()`).
    pub(crate) program: Option<PathBuf>,
    /// Encoded values of at least this many bytes travel through the rings.
    pub(crate) shm_threshold: usize,
    /// Bytes of each ring (one for inputs, one for outputs, per worker).
    pub(crate) ring_capacity: usize,
    /// Fail the stage when a batch of k items takes longer than k × this.
    pub(crate) item_timeout: Option<Duration>,
    /// Most items in one message.
    pub(crate) max_batch: usize,
    /// Most batches unanswered per worker.
    pub(crate) window: usize,
}

impl Default for ProcessOptions {
    fn default() -> Self {
        ProcessOptions {
            program: None,
            shm_threshold: skorche_worker::client::DEFAULT_SHM_THRESHOLD,
            // Room for a few large payloads in flight; memfd pages cost nothing until
            // written.
            ring_capacity: 64 << 20,
            item_timeout: None,
            // 256 u64s per message: ipc-channel's per-message cost (a syscall pair) is
            // amortized well before this, and a batch still fits the socket buffer.
            max_batch: 256,
            window: 4,
        }
    }
}

/// One batch sent and not yet answered.
struct InFlight<U> {
    /// Source sequence number and position of each item, in the batch's order.
    items: Vec<(u64, Tag)>,
    /// Control packets that arrived after this batch: they leave after its results.
    after: Vec<Packet<U>>,
    sent: Instant,
}

type Pending<U> = Arc<Mutex<VecDeque<InFlight<U>>>>;

/// An encoded value on a queue between two process stages.
pub(crate) use skorche_worker::protocol::Payload;

/// The output rings of one process stage's workers, shared with the stage downstream when
/// it forwards their records.
pub(crate) type SharedRings = Arc<Vec<Ring>>;

/// Turns what the feeder takes from its queue into what a worker receives.
type Encoder<V> = Arc<dyn Fn(V, &Ring) -> Result<Payload, String> + Send + Sync>;
/// Turns what a worker answered into what the collector puts on its queue.
type Decoder<W> = Arc<dyn Fn(Payload, &[Ring]) -> Result<W, String> + Send + Sync>;

pub(crate) fn launch<T, U>(task: BoundTask<T, U>, cx: &mut Launch<'_>) -> Result<(), PipelineError>
where
    T: Serialize + Send + 'static,
    U: DeserializeOwned + Send + 'static,
{
    let threshold = cx.process.shm_threshold;
    let plain_in: Encoder<T> = Arc::new(move |v, ring| {
        codec::encode_payload(v, Some(ring), threshold, RING_WAIT).map_err(|e| e.to_string())
    });
    let plain_out: Decoder<U> =
        Arc::new(|p, rings| codec::decode_payload_owned::<U>(p, rings).map_err(|e| e.to_string()));
    let fwd_in: Encoder<Payload> = Arc::new(|p, _| Ok(p));
    let fwd_out: Decoder<Payload> = Arc::new(|p, _| Ok(p));
    match (cx.forward_in[0], cx.forward_out[0]) {
        (false, false) => launch_with(task, cx, plain_in, plain_out),
        (true, false) => launch_with(task, cx, fwd_in, plain_out),
        (false, true) => launch_with(task, cx, plain_in, fwd_out),
        (true, true) => launch_with(task, cx, fwd_in, fwd_out),
    }
}

fn launch_with<T, U, V, W>(
    task: BoundTask<T, U>,
    cx: &mut Launch<'_>,
    encode: Encoder<V>,
    decode: Decoder<W>,
) -> Result<(), PipelineError>
where
    T: 'static,
    U: 'static,
    V: Send + 'static,
    W: Send + 'static,
{
    let opts = cx.process.clone();
    let stage = cx.stats.name.clone();
    let program = match &opts.program {
        Some(p) => p.clone(),
        None => std::env::current_exe().map_err(|e| {
            PipelineError::Invalid(format!(
                "stage '{stage}': cannot find the driver executable to re-run as a worker: {e}"
            ))
        })?,
    };
    let ring_error = |e: skorche_worker::rings::CreateError| {
        PipelineError::Invalid(format!(
            "stage '{stage}': cannot create a shared-memory ring: {e}"
        ))
    };
    let workers = cx.workers();
    let outputs: SharedRings = Arc::new(
        (0..workers)
            .map(|_| Ring::create(opts.ring_capacity))
            .collect::<Result<_, _>>()
            .map_err(ring_error)?,
    );
    if cx.forward_out[0] {
        cx.forward_rings.insert(cx.outputs[0], outputs.clone());
    }
    // Records forwarded from the stage upstream live in its workers' rings: ours attach
    // them too, read them in place and release them.
    let upstream = if cx.forward_in[0] {
        cx.forward_rings.get(&cx.inputs[0]).cloned()
    } else {
        None
    };
    for index in 0..workers {
        let input_ring = Ring::create(opts.ring_capacity).map_err(ring_error)?;
        let rx = cx.input::<V>(0);
        let tx = cx.output::<W>(0);
        let mut spec = SpawnSpec::for_task(program.clone(), stage.clone(), &task);
        spec.shm_threshold = opts.shm_threshold;
        spec.rings = vec![input_ring.descriptor(), outputs[index].descriptor()];
        spec.output_ring = Some(1);
        if let Some(up) = &upstream {
            spec.rings.extend(up.iter().map(Ring::descriptor));
        }
        let worker = Worker {
            spec,
            opts: opts.clone(),
            flat: task.is_flat_map(),
            input_ring,
            outputs: outputs.clone(),
            index,
            upstream: upstream.clone(),
            encode: encode.clone(),
            decode: decode.clone(),
            forwarding: cx.forward_out[0],
            batch_cap: AtomicUsize::new(1),
        };
        cx.spawn(move |cx| worker.run(cx, rx, tx));
    }
    Ok(())
}

/// Everything one worker process of a stage needs, moved into its feeder thread.
struct Worker<V, W> {
    spec: SpawnSpec,
    opts: ProcessOptions,
    flat: bool,
    input_ring: Ring,
    outputs: SharedRings,
    index: usize,
    /// Kept alive until our workers are done with the records they reference.
    upstream: Option<SharedRings>,
    encode: Encoder<V>,
    decode: Decoder<W>,
    /// Whether outputs go on encoded (to a process stage downstream).
    forwarding: bool,
    /// Most items the feeder packs into the next batch (at most `opts.max_batch`). A
    /// worker answers a batch only once all of it is done, so a batch whose outputs do not
    /// fit the output ring stalls on it until the reserve timeout. The cap starts at 1 and
    /// the collector sets it from the output bytes per item it sees: it doubles while a
    /// full window of batches fits half the ring, and shrinks to what fits otherwise.
    batch_cap: AtomicUsize,
}

impl<V, W> Worker<V, W> {
    fn batch_cap(&self) -> usize {
        self.batch_cap
            .load(Ordering::Relaxed)
            .clamp(1, self.opts.max_batch.max(1))
    }

    /// Updates the batch cap after a batch of `items` items answered `bytes` output bytes.
    fn observe(&self, items: usize, bytes: usize) {
        let max = self.opts.max_batch.max(1);
        let budget = (self.opts.ring_capacity / 2 / self.opts.window.max(1)).max(1);
        let per_item = bytes.div_ceil(items.max(1));
        let fits = budget.checked_div(per_item).unwrap_or(max);
        let grown = self.batch_cap().saturating_mul(2);
        self.batch_cap
            .store(grown.min(fits).clamp(1, max), Ordering::Relaxed);
    }
}

impl<V: Send + 'static, W: Send + 'static> Worker<V, W> {
    fn run(self, cx: &mut WorkerCx, rx: Receiver<Packet<V>>, tx: Sender<Packet<W>>) {
        let process = match WorkerProcess::spawn(&self.spec) {
            Ok(p) => p,
            Err(e) => return cx.fail(None, FailureKind::Spawn, e.to_string()),
        };
        let (sender, receiver, handle) = process.split();
        let pending: Pending<W> = Arc::new(Mutex::new(VecDeque::new()));
        let (credit_tx, credit_rx) = bounded::<()>(self.opts.window.max(1));
        let output_ring = std::slice::from_ref(&self.outputs[self.index]);
        std::thread::scope(|scope| {
            let mut collector_cx = cx.fork();
            let (pending2, tx2, handle2, this) = (pending.clone(), tx.clone(), &handle, &self);
            scope.spawn(move || {
                collector_cx.run(|ccx| {
                    collect::<W>(
                        ccx,
                        receiver,
                        handle2,
                        pending2,
                        credit_rx,
                        tx2,
                        output_ring,
                        this,
                    )
                })
            });
            feed::<V, W>(cx, &sender, &handle, &pending, &credit_tx, &rx, &tx, &self);
            if cx.aborted() {
                handle.kill();
            }
        });
        handle.wait();
        drop(self.upstream);
    }
}

#[allow(clippy::too_many_arguments)]
fn feed<V, W>(
    cx: &mut WorkerCx,
    sender: &WorkerSender,
    handle: &WorkerHandle,
    pending: &Pending<W>,
    credits: &Sender<()>,
    rx: &Receiver<Packet<V>>,
    tx: &Sender<Packet<W>>,
    worker: &Worker<V, W>,
) {
    let opts = &worker.opts;
    let mut wire_seq = 0u64;
    let mut work: Vec<WorkItem> = Vec::with_capacity(opts.max_batch);
    let mut meta: Vec<(u64, Tag)> = Vec::with_capacity(opts.max_batch);
    // When the batch being built started encoding: busy time is taken once per batch, not
    // per item (two clock reads per small item cost more than encoding it).
    let mut encoding: Option<Instant> = None;
    let busy = |cx: &mut WorkerCx, encoding: &mut Option<Instant>| {
        if let Some(start) = encoding.take() {
            cx.local.busy += start.elapsed();
        }
    };
    loop {
        let first = match rx.recv_timeout(POLL) {
            Ok(p) => p,
            Err(RecvTimeoutError::Timeout) if !cx.aborted() => continue,
            Err(_) => break,
        };
        if cx.aborted() {
            return;
        }
        let mut next = Some(first);
        while let Some(packet) = next.take() {
            match packet.into_control::<W>() {
                Ok(control) => {
                    // The batch before a marker or skip leaves first; the control packet
                    // follows its results.
                    busy(cx, &mut encoding);
                    if !flush(cx, sender, pending, credits, &mut work, &mut meta) {
                        return;
                    }
                    let mut q = pending.lock().unwrap_or_else(|e| e.into_inner());
                    match q.back_mut() {
                        Some(last) => last.after.push(control),
                        None => {
                            drop(q);
                            if !send(tx, cx, control) {
                                return;
                            }
                        }
                    }
                }
                Err((seq, tag, value)) => {
                    cx.local.items_in += 1;
                    encoding.get_or_insert_with(Instant::now);
                    let payload = (worker.encode)(value, &worker.input_ring);
                    match payload {
                        Ok(payload) => {
                            work.push(WorkItem {
                                seq: wire_seq,
                                payload,
                            });
                            meta.push((seq, tag));
                            wire_seq += 1;
                        }
                        Err(e) => {
                            busy(cx, &mut encoding);
                            handle.kill();
                            return cx.fail(
                                Some(seq),
                                FailureKind::Protocol,
                                format!("cannot encode the input: {e}"),
                            );
                        }
                    }
                }
            }
            if work.len() < worker.batch_cap() {
                next = rx.try_recv().ok();
            }
        }
        busy(cx, &mut encoding);
        if !flush(cx, sender, pending, credits, &mut work, &mut meta) {
            return;
        }
    }
    if !cx.aborted() && flush(cx, sender, pending, credits, &mut work, &mut meta) {
        // The collector reports a failed `end` as the worker's death.
        let _ = sender.end();
    }
}

/// Sends the batch being built, once a credit is free. `false`: stop feeding.
fn flush<U>(
    cx: &mut WorkerCx,
    sender: &WorkerSender,
    pending: &Pending<U>,
    credits: &Sender<()>,
    work: &mut Vec<WorkItem>,
    meta: &mut Vec<(u64, Tag)>,
) -> bool {
    if work.is_empty() {
        return true;
    }
    loop {
        match credits.send_timeout((), POLL) {
            Ok(()) => break,
            Err(SendTimeoutError::Timeout(())) if !cx.aborted() => continue,
            Err(_) => return false,
        }
    }
    let capacity = work.capacity();
    pending
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push_back(InFlight {
            items: std::mem::replace(meta, Vec::with_capacity(capacity)),
            after: Vec::new(),
            sent: Instant::now(),
        });
    // A send error means the worker is gone: the collector sees it hang up and reports it.
    sender
        .send(std::mem::replace(work, Vec::with_capacity(capacity)))
        .is_ok()
}

#[allow(clippy::too_many_arguments)]
fn collect<W>(
    cx: &mut WorkerCx,
    mut receiver: WorkerReceiver,
    handle: &WorkerHandle,
    pending: Pending<W>,
    credits: Receiver<()>,
    tx: Sender<Packet<W>>,
    rings: &[Ring],
    worker: &Worker<impl Send, W>,
) {
    let (opts, flat) = (&worker.opts, worker.flat);
    let mut progress = Instant::now();
    loop {
        let event = match receiver.recv_timeout(POLL) {
            Ok(Some(ev)) => ev,
            Ok(None) => {
                if cx.aborted() {
                    handle.kill();
                    return;
                }
                if let Some(limit) = opts.item_timeout {
                    let q = pending.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(front) = q.front() {
                        let since = front.sent.max(progress);
                        if since.elapsed() > limit * front.items.len() as u32 {
                            let seq = front.items.first().map(|(s, _)| *s);
                            drop(q);
                            handle.kill();
                            return cx.fail(
                                seq,
                                FailureKind::Timeout,
                                format!(
                                    "no result within {limit:?} per item; worker pid {} was killed",
                                    handle.pid()
                                ),
                            );
                        }
                    }
                }
                continue;
            }
            Err(ClientError::WorkerDied {
                pid,
                status,
                signal,
                ..
            }) => {
                if cx.aborted() {
                    return;
                }
                let held: Vec<u64> = pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                    .flat_map(|b| b.items.iter().map(|(s, _)| *s))
                    .collect();
                let how = match (signal, status) {
                    (Some(sig), _) => format!("was killed by signal {sig} ({})", signal_name(sig)),
                    (None, Some(code)) => format!("exited with code {code}"),
                    (None, None) => "ended".to_string(),
                };
                return cx.fail(
                    held.first().copied(),
                    FailureKind::WorkerDied,
                    format!(
                        "worker pid {pid} {how} while holding items {}",
                        list_seqs(&held)
                    ),
                );
            }
            Err(e) => {
                handle.kill();
                if cx.aborted() {
                    return;
                }
                return cx.fail(None, FailureKind::Protocol, e.to_string());
            }
        };
        let results = match event {
            WorkerEvent::Results(r) => r,
            WorkerEvent::Finished { .. } => return,
            other => {
                handle.kill();
                return cx.fail(
                    None,
                    FailureKind::Protocol,
                    format!("unexpected event {other:?}"),
                );
            }
        };
        progress = Instant::now();
        let batch = pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front();
        let Some(batch) = batch else {
            handle.kill();
            return cx.fail(
                None,
                FailureKind::Protocol,
                "results for a batch that was never sent".into(),
            );
        };
        let _ = credits.try_recv();
        let out_bytes: usize = results
            .iter()
            .map(|r| match r {
                ItemResult::Done { outputs, .. } => outputs.iter().map(Payload::len).sum(),
                ItemResult::Failed { .. } => 0,
            })
            .sum();
        worker.observe(results.len(), out_bytes);
        if results.len() != batch.items.len() {
            handle.kill();
            return cx.fail(
                batch.items.first().map(|(s, _)| *s),
                FailureKind::Protocol,
                format!(
                    "worker pid {} answered {} results for a batch of {}",
                    handle.pid(),
                    results.len(),
                    batch.items.len()
                ),
            );
        }
        for (result, (seq, tag)) in results.into_iter().zip(batch.items) {
            match result {
                ItemResult::Done { outputs, .. } => {
                    let start = Instant::now();
                    let mut values = Vec::with_capacity(outputs.len());
                    for payload in outputs {
                        match (worker.decode)(payload, rings) {
                            Ok(v) => values.push(v),
                            Err(e) => {
                                handle.kill();
                                return cx.fail(
                                    Some(seq),
                                    FailureKind::Protocol,
                                    format!("bad output from worker pid {}: {e}", handle.pid()),
                                );
                            }
                        }
                    }
                    cx.local.busy += start.elapsed();
                    if worker.forwarding {
                        cx.stats
                            .forwarded
                            .fetch_add(values.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    }
                    if !emit(&tx, cx, seq, tag, values, flat) {
                        return;
                    }
                }
                ItemResult::Failed { failure, .. } => {
                    handle.kill();
                    return cx.fail(Some(seq), kind_of(&failure), failure.message);
                }
            }
        }
        for control in batch.after {
            if !send(&tx, cx, control) {
                return;
            }
        }
    }
}

fn list_seqs(seqs: &[u64]) -> String {
    const SHOWN: usize = 16;
    let mut s = seqs
        .iter()
        .take(SHOWN)
        .map(|q| format!("#{q}"))
        .collect::<Vec<_>>()
        .join(", ");
    if seqs.len() > SHOWN {
        s.push_str(&format!(" and {} more", seqs.len() - SHOWN));
    }
    if seqs.is_empty() {
        s.push_str("(none)");
    }
    s
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        1 => "SIGHUP",
        2 => "SIGINT",
        6 => "SIGABRT",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        15 => "SIGTERM",
        _ => "signal",
    }
}
