//! The process coordinator: runs a registered task's stage on N workers reached through a
//! transport (by default child processes, `skorche_worker::transport::local`).
//!
//! Per worker: a **feeder** thread starts the worker, takes items off the stage's queue as
//! its credits allow ([`dispatch`]), encodes them (large ones straight into the worker's
//! input ring) and sends batches sized by [`batch_size`]; a **collector** thread ([`collect`])
//! checks every answer against its batch before emitting it. One **watchdog** per stage
//! enforces the per-item timeout and, when the run stops, stops the stage's workers so every
//! blocked thread returns. A task error or panic, a dead worker, a protocol fault or an
//! expired item timeout fails the stage; every worker is stopped and reaped in every case.

pub(crate) mod batch_size;
pub(crate) mod cached;
pub(crate) mod collect;
pub(crate) mod context;
pub(crate) mod dispatch;
pub(crate) mod feed;
pub(crate) mod rings;
pub(crate) mod scale;

use std::any::Any;
use std::os::unix::process::ExitStatusExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use skorche_worker::codec::{self, OnFull};
use skorche_worker::error::DecodeError;
use skorche_worker::registry::BoundTask;
use skorche_worker::rings as zero_copy_types;
use skorche_worker::rings::Ring;
use skorche_worker::transport::{local::LocalTransport, SpawnError, Transport, WorkerSpec};
use skorche_worker::zero_copy;

use crate::autoscale::gate::ScaleGate;
use crate::coordinator::batch_size::BatchSizer;
use crate::coordinator::collect::Collector;
use crate::coordinator::dispatch::{Batch, Slot};
use crate::coordinator::feed::Feeder;
pub(crate) use crate::coordinator::rings::{SharedRings, StartGate};
use crate::coordinator::scale::{resume, Elastic};
use crate::error::{FailureKind, PipelineError, StageFailure};
use crate::exec::send::send;
use crate::exec::worker_cx::{panic_message, WorkerCx};
use crate::failure::attempt::{dropped, letter};
use crate::failure::failed::Failed;
use crate::failure::guard::{Decision, FailureGuard};
use crate::failure::policy::StagePolicy;
use crate::hop::{Outlet, Rx, Tx};
use crate::launch::Launch;
use crate::order::Tag;
use crate::process_options::ProcessOptions;

/// An encoded value on a queue between two process stages.
pub(crate) use skorche_worker::protocol::Payload;
use skorche_worker::values::{ValueRef, Values};

/// How often the watchdog looks at the item timeouts and the run's stop flag.
const WATCH_EVERY: Duration = Duration::from_millis(5);

/// Default bound on starting a worker and its handshake.
const HANDSHAKE_TIMEOUT: Duration = skorche_worker::transport::DEFAULT_HANDSHAKE_TIMEOUT;

/// Turns what the feeder takes from its queue into what a worker receives.
/// It appends the value to the batch being built; `true`: the value went into a ring.
type Encoder<V> = Box<
    dyn Fn(V, &Ring, &mut dyn FnMut() -> OnFull, &mut Values) -> Result<bool, String> + Send + Sync,
>;
/// Turns what a worker answered into what the collector puts on its queue, given the
/// worker's output ring (an `Arc`, so that a value can hold a record of it, see `ShmBytes`).
type Decoder<W> = Box<dyn Fn(ValueRef<'_>, &Arc<Ring>) -> Result<W, String> + Send + Sync>;

/// What every thread of one process stage shares.
pub(crate) struct Stage<V, W> {
    name: String,
    opts: ProcessOptions,
    transport: Arc<dyn Transport>,
    spec: WorkerSpec,
    pub(crate) flat: bool,
    pub(crate) encode: Encoder<V>,
    pub(crate) decode: Decoder<W>,
    /// Whether outputs go on encoded (to a process stage downstream).
    pub(crate) forwarding: bool,
    /// Every started worker, for the watchdog.
    slots: Mutex<Vec<Arc<Slot<W>>>>,
    /// Feeders still running; the watchdog ends with the last.
    feeders: AtomicUsize,
    /// The stage's failure policy, if it declared one.
    pub(crate) guard: Option<Arc<FailureGuard>>,
    /// Sends a failed item, decoded from what was sent for it, to the dead-letter queue.
    pub(crate) letter: Option<Letter>,
    /// Whether what is sent for each item is kept until the item is done with (restarts,
    /// retries, dead letters need it again).
    pub(crate) keep: bool,
    /// Whether a later stage attached this stage's output rings to take `ShmBytes` records
    /// over by handle (it releases them, so they are not this stage's leaks).
    handed_on: Arc<AtomicBool>,
    /// The stage's result cache, if it is cached.
    pub(crate) cache: Option<Box<dyn cached::StageCache<V>>>,
}

/// Sends item `seq` (its payload kept in `ring` or inline) to the dead-letter queue.
pub(crate) type Letter =
    Box<dyn Fn(u64, &Payload, &Ring, StageFailure, u32) -> Result<(), String> + Send + Sync>;

/// Runs `f`, turning a panic into its message.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p: Box<dyn Any + Send>| panic_message(&*p))
}

/// Launches a process stage running `task`, whose outputs become items with `decode`.
pub(crate) fn launch<T, U, V>(
    task: BoundTask<T, U>,
    decode: fn(ValueRef<'_>, &Arc<Ring>) -> Result<V, DecodeError>,
    failure: Option<&StagePolicy>,
    cx: &mut Launch<'_>,
) -> Result<(), PipelineError>
where
    T: Serialize + DeserializeOwned + Send + 'static,
    U: 'static,
    V: Send + 'static,
{
    launch_cached(task, decode, failure, None, cx)
}

/// [`launch`] with a result cache: a hit is answered by the coordinator, without a worker.
pub(crate) fn launch_cached<T, U, V>(
    task: BoundTask<T, U>,
    decode: fn(ValueRef<'_>, &Arc<Ring>) -> Result<V, DecodeError>,
    failure: Option<&StagePolicy>,
    cache: Option<Box<dyn cached::StageCache<T>>>,
    cx: &mut Launch<'_>,
) -> Result<(), PipelineError>
where
    T: Serialize + DeserializeOwned + Send + 'static,
    U: 'static,
    V: Send + 'static,
{
    let guard = failure.map(|p| FailureGuard::new(cx.stats.clone(), p));
    let letter: Option<Letter> = match failure.and_then(|p| p.dead_letter_output) {
        None => None,
        Some(_) if cx.process.forward_in[0] => {
            return Err(PipelineError::Invalid(format!(
                "stage '{}' dead-letters its inputs, which come still encoded from the process \
                 stage before it: put a thread stage between them",
                cx.stats.name
            )))
        }
        Some(index) => {
            let tx = cx.output::<Failed<T>>(index);
            Some(Box::new(move |seq, payload, ring, error, attempts| {
                let item: T = match payload {
                    Payload::Shm(h) => {
                        codec::read_kept_bytes(h, ring).and_then(zero_copy::decode_value)
                    }
                    Payload::Inline(b) => zero_copy::decode_value(b.clone()),
                }
                .map_err(|e| e.to_string())?;
                if tx.send_now(letter(seq, item, error, attempts)) {
                    Ok(())
                } else {
                    Err("the dead-letter queue is gone".to_string())
                }
            }))
        }
    };
    let keep =
        cx.process.options.restart.is_some() || guard.as_ref().is_some_and(|g| g.keeps_input(1));
    let failure = (guard, letter, keep);
    let threshold = cx.process.options.ring_threshold();
    let family = held_family::<T, V>(cx, keep);
    let attach = family.clone();
    let plain_in: Encoder<T> = Box::new(move |v, ring, on_full, out| {
        zero_copy::encode_input(v, ring, &family, threshold, on_full, out)
            .map_err(|e| e.to_string())
    });
    let plain_out: Decoder<V> = Box::new(move |v, ring| decode(v, ring).map_err(|e| e.to_string()));
    let fwd_in: Encoder<Payload> = Box::new(|p, _, _, out| {
        let in_ring = matches!(p, Payload::Shm(_));
        out.push_payload(p);
        Ok(in_ring)
    });
    // A forwarded record must lie in this worker's own output ring: the next stage's workers
    // will read it, and a forged handle must fail here, naming this stage.
    let fwd_out: Decoder<Payload> = Box::new(|v, ring| {
        if let ValueRef::Shm(h) = v {
            let ring = codec::ring_for(h, std::slice::from_ref(ring.as_ref()))
                .map_err(|e| e.to_string())?;
            ring.read(h)
                .map_err(|e| format!("invalid handle {h:?}: {e}"))?;
        }
        Ok(v.to_payload())
    });
    let failure = (failure.0, failure.1, failure.2, attach);
    if cache.is_some() && cx.process.forward_in[0] {
        // Its inputs stay encoded in the upstream workers' rings: nothing to key them by
        // without reading them back.
        tracing::warn!(
            stage = %cx.stats.name,
            "a cached process stage fed by another process stage is not cached: put a \
             thread stage between them"
        );
    }
    match (cx.process.forward_in[0], cx.process.forward_out[0]) {
        (false, false) => launch_with(task, cx, plain_in, plain_out, failure, cache),
        (true, false) => launch_with(task, cx, fwd_in, plain_out, failure, None),
        (false, true) => launch_with(task, cx, plain_in, fwd_out, failure, cache),
        (true, true) => launch_with(task, cx, fwd_in, fwd_out, failure, None),
    }
}

/// Zero-copy hand-over of `ShmBytes` between process stages that do not forward: a stage
/// whose items are `ShmBytes` read from its workers' output rings offers those rings to the
/// stages after it; a stage whose inputs are `ShmBytes` attaches the rings offered so far (its
/// workers then read such an input by its handle, with no copy). Not when this stage keeps
/// its inputs for another attempt: those must lie in its own input ring.
fn held_family<T: 'static, V: 'static>(cx: &mut Launch<'_>, keep: bool) -> Vec<Arc<Ring>> {
    use std::any::TypeId;
    let bytes = TypeId::of::<zero_copy_types::ShmBytes>();
    if TypeId::of::<V>() == bytes && !cx.process.forward_out[0] {
        cx.process.offer_held = true;
    }
    if TypeId::of::<T>() != bytes || keep || cx.process.forward_in[0] {
        return Vec::new();
    }
    let mut family = Vec::new();
    for (rings, handed_on) in cx.process.held_rings.iter() {
        handed_on.store(true, Ordering::Release);
        family.extend(rings.iter().cloned());
    }
    family
}

/// The family of rings a stage's workers attach besides their own (see `held_family`).
type Attach = Vec<Arc<Ring>>;

fn launch_with<T, U, V, W>(
    task: BoundTask<T, U>,
    cx: &mut Launch<'_>,
    encode: Encoder<V>,
    decode: Decoder<W>,
    (guard, letter, keep, attach): (Option<Arc<FailureGuard>>, Option<Letter>, bool, Attach),
    cache: Option<Box<dyn cached::StageCache<V>>>,
) -> Result<(), PipelineError>
where
    T: 'static,
    U: 'static,
    V: Send + 'static,
    W: Send + 'static,
{
    let opts = cx.process.options.clone();
    let name = cx.stats.name.clone();
    let transport: Arc<dyn Transport> = match &opts.transport {
        Some(t) => t.clone(),
        None => Arc::new(LocalTransport::new(match &opts.program {
            Some(p) => p.clone(),
            None => std::env::current_exe().map_err(|e| {
                spawn_failed(
                    &name,
                    format!("cannot find the driver executable to re-run as a worker: {e}"),
                )
            })?,
        })),
    };
    let ring_error = |e: skorche_worker::rings::CreateError| match e {
        // The declared ring_capacity is out of bounds: a mistake of the declaration.
        skorche_worker::rings::CreateError::InvalidCapacity { .. } => {
            PipelineError::Invalid(format!("stage '{name}': ring_capacity: {e}"))
        }
        _ => spawn_failed(&name, format!("cannot create a shared-memory ring: {e}")),
    };
    let workers = cx.workers();
    // Surplus workers of an autoscaled stage are stopped processes, started (on fresh
    // rings) only when the target grows. Not when its rings are shared with other stages:
    // those attach them when they start, and a ring's descriptor is closed once the run's
    // workers have started, so a worker started later could not reach them (such a
    // stage's surplus workers only stop taking items).
    let shares_rings = cx.process.forward_in[0]
        || cx.process.forward_out[0]
        || cx.process.offer_held
        || !attach.is_empty();
    let elastic = cx.scale.clone().filter(|_| !shares_rings);
    let prestarted = elastic
        .as_ref()
        .map_or(workers, |g| g.target().clamp(1, workers));
    let gate = cx.process.gate.clone();
    gate.expect(prestarted);
    let new_ring = || -> Result<Arc<Ring>, PipelineError> {
        let ring = Arc::new(Ring::create(opts.ring_capacity).map_err(ring_error)?);
        gate.register(ring.clone());
        Ok(ring)
    };
    let outputs: SharedRings = Arc::new(
        (0..prestarted)
            .map(|_| new_ring())
            .collect::<Result<_, _>>()?,
    );
    if cx.process.forward_out[0] {
        cx.process
            .forward_rings
            .insert(cx.outputs[0], outputs.clone());
    }
    let handed_on = Arc::new(AtomicBool::new(false));
    if std::mem::take(&mut cx.process.offer_held) {
        cx.process
            .held_rings
            .push((outputs.clone(), handed_on.clone()));
    }
    // Records forwarded from the stage upstream live in its workers' rings: ours attach
    // them too, read them in place and release them.
    let upstream = if cx.process.forward_in[0] {
        cx.process.forward_rings.get(&cx.inputs[0]).cloned()
    } else {
        None
    };
    let mut spec = WorkerSpec::for_task(name.clone(), &task);
    spec.shm_threshold = opts.ring_threshold();
    spec.handshake_timeout = opts.handshake_timeout.unwrap_or(HANDSHAKE_TIMEOUT);
    let stage = Arc::new(Stage {
        name: name.clone(),
        transport,
        spec,
        flat: task.is_flat_map(),
        encode,
        decode,
        forwarding: cx.process.forward_out[0],
        slots: Mutex::new(Vec::new()),
        feeders: AtomicUsize::new(workers),
        opts: opts.clone(),
        guard,
        letter,
        keep,
        handed_on,
        cache,
    });
    for index in 0..workers {
        cx.worker_index = index;
        let mut rx = cx.input::<V>(0);
        let tx = cx.output::<W>(0);
        // A worker started later gets its rings when it starts.
        let mut rings = Vec::new();
        if index < prestarted {
            rings = vec![new_ring()?, outputs[index].clone()];
            if let Some(up) = &upstream {
                rings.extend(up.iter().cloned());
            }
            rings.extend(attach.iter().cloned());
        }
        let scale = elastic.clone().map(|g| (g, index));
        if scale.is_some() {
            rx.never_park();
        }
        let (stage, gate) = (stage.clone(), gate.clone());
        cx.spawn(move |cx| {
            let _done = FeederDone(&stage.feeders);
            run_worker(&stage, &gate, scale, cx, (rings, rx, tx));
        });
    }
    let stage2 = stage.clone();
    cx.spawn_helper(move |cx| watch(&stage2, cx));
    Ok(())
}

/// The error of a process stage whose workers cannot be started at all (a run-time fault of
/// the machine, not of the declaration).
fn spawn_failed(stage: &str, why: String) -> PipelineError {
    PipelineError::Failed(vec![StageFailure::new(
        stage,
        None,
        FailureKind::Spawn,
        why,
    )])
}

/// The kind of a failure to start a worker: a refused handshake is a mismatch between the
/// driver and the worker program; anything else is a failed spawn.
pub(crate) fn spawn_kind(e: &SpawnError) -> FailureKind {
    match e {
        SpawnError::Handshake(_) => FailureKind::Handshake,
        _ => FailureKind::Spawn,
    }
}

/// Counts a feeder out however it ends.
struct FeederDone<'a>(&'a AtomicUsize);

impl Drop for FeederDone<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One worker's life: start it, feed and collect until the end, reap it; in a stage that
/// restarts dead workers, start the next one and hand it what the dead one held; in an
/// autoscaled stage, stop it while the target is below its index and start it again when
/// the target grows.
fn run_worker<V: Send + 'static, W: Send + 'static>(
    stage: &Stage<V, W>,
    gate: &StartGate,
    scale: Elastic,
    cx: &mut WorkerCx,
    (mut rings, mut rx, tx): (Vec<Arc<Ring>>, Rx<V>, Outlet<W>),
) {
    // The feeder's and this thread's sender: control packets only, each shipped at once.
    let own_tx = tx.clone().open();
    let mut link = if rings.is_empty() {
        // Started only once the autoscaler wants it.
        let Some((scale, index)) = &scale else {
            return;
        };
        match resume(stage, cx, (gate, scale, *index), &mut rings) {
            Some(link) => link,
            None => return,
        }
    } else {
        let started = if cx.aborted() {
            None
        } else {
            Some(start(stage, &rings))
        };
        gate.arrive();
        let link = match started {
            Some(Ok(link)) => link,
            Some(Err(e)) => return cx.fail(None, spawn_kind(&e), e.to_string()),
            None => return,
        };
        // No item before every worker of the run has started and the driver has closed its
        // descriptors of their rings.
        if !gate.wait(feed::POLL, || cx.aborted()) {
            link.control.kill();
            link.control.wait();
            return;
        }
        link
    };
    let slot = Arc::new(Slot::new(
        link.control.clone(),
        BatchSizer::new(
            stage.opts.max_batch,
            stage.opts.window,
            stage.opts.ring_capacity,
        ),
    ));
    stage
        .slots
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(slot.clone());
    if let Some(g) = &stage.guard {
        g.enter();
    }
    let mut handover: Vec<Batch<W>> = Vec::new();
    let mut old_input: Option<Arc<Ring>> = None;
    loop {
        let (ended, left) = serve_link(
            stage,
            cx,
            &slot,
            link,
            (&rings, scale.as_ref().map(|(g, i)| (&**g, *i))),
            &mut rx,
            (&own_tx, &tx),
            (handover, old_input.take()),
        );
        slot.control().wait();
        if !matches!(ended, Ended::Died(_)) && !cx.aborted() {
            count_leftovers(stage, cx, &rings);
        }
        if let (Ended::Retired, Some((scale, index))) = (&ended, &scale) {
            tracing::debug!(stage = stage.name, worker = %slot.control().id(), "stopped by the autoscaler");
            if let Some(next) = resume(stage, cx, (gate, scale, *index), &mut rings) {
                slot.lock().sizer = BatchSizer::new(
                    stage.opts.max_batch,
                    stage.opts.window,
                    stage.opts.ring_capacity,
                );
                slot.replace(next.control.clone());
                link = next;
                handover = Vec::new();
                continue;
            }
        }
        let Ended::Died(cause) = ended else {
            // The failure-rate budget is checked over every item once the last worker ends.
            if let Some(f) = stage
                .guard
                .as_ref()
                .filter(|_| !cx.aborted())
                .and_then(|g| g.leave())
            {
                cx.fail(f.seq, f.kind, f.message);
            }
            return;
        };
        let Some(restart) = stage.opts.restart.clone() else {
            return;
        };
        // The worker died (or was stopped over a hung item): every item it held goes to the
        // next one, after the item it died on is charged with the crash.
        let died_at = std::time::Instant::now();
        let worker = slot.control().id();
        let timed_out = slot
            .timed_out
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        handover = slot.take_unfinished();
        if let Some(left) = left {
            handover.push(left);
        }
        let how = match timed_out {
            Some(_) => format!(
                "ran longer than {:?} and {worker} was killed",
                stage.opts.item_timeout.unwrap_or_default()
            ),
            None => format!("{worker} {cause}"),
        };
        // The item a worker died on is known only if it was the one unanswered item of its
        // batch (or the watchdog named it): then it is charged. Otherwise nobody is, and the
        // items go to the next worker one per batch, so that a second death is attributed.
        let culprit = match timed_out {
            Some(seq) => handover
                .iter_mut()
                .flat_map(|b| b.items.iter_mut())
                .find(|s| s.seq == seq),
            None => handover
                .iter_mut()
                .find(|b| !b.items.is_empty())
                .filter(|b| b.items.len() == 1)
                .and_then(|b| b.items.first_mut()),
        };
        if let Some(culprit) = culprit {
            culprit.crashes += 1;
            if culprit.crashes >= restart.poison_after {
                let failure = StageFailure {
                    stage: stage.name.clone(),
                    seq: Some(culprit.seq),
                    kind: FailureKind::WorkerDied,
                    message: format!(
                        "item #{} crashed the worker {} times in a row (last time: {how})",
                        culprit.seq, culprit.crashes
                    ),
                    source: None,
                };
                let seq = culprit.seq;
                if !give_up(stage, cx, &own_tx, &mut handover, seq, failure, &rings[0]) {
                    return;
                }
            }
        }
        handover = one_per_batch(handover);
        slot.lock().sizer = BatchSizer::new(
            stage.opts.max_batch,
            stage.opts.window,
            stage.opts.ring_capacity,
        );
        let done = cx.stats.restarts.load(std::sync::atomic::Ordering::Relaxed);
        if done as usize >= restart.max {
            return cx.fail(
                handover.iter().find_map(|b| b.items.first()).map(|s| s.seq),
                FailureKind::WorkerDied,
                format!(
                    "{how}; the stage's limit of {} worker restarts is reached",
                    restart.max
                ),
            );
        }
        if cx.aborted() {
            return;
        }
        tracing::info!(stage = stage.name, %worker, "{how}: restarting the worker");
        // Fresh rings: the dead worker may have left records half-written or pinned in its
        // own. The old input ring stays until the items it holds are copied over.
        let fresh = [
            Ring::create(stage.opts.ring_capacity),
            Ring::create(stage.opts.ring_capacity),
        ];
        let [Ok(input), Ok(output)] = fresh else {
            return cx.fail(
                None,
                FailureKind::Spawn,
                "cannot create rings for a restarted worker".into(),
            );
        };
        old_input = Some(std::mem::replace(&mut rings[0], Arc::new(input)));
        rings[1] = Arc::new(output);
        link = loop {
            match start(stage, &rings) {
                Ok(link) => break link,
                // Killed before it could greet (a host reclaiming memory, an operator's kill):
                // one more death, restarted like any other while the limit allows.
                Err(SpawnError::Exited { status, .. })
                    if status.signal().is_some()
                        && (cx.stats.restarts.load(std::sync::atomic::Ordering::Relaxed)
                            as usize)
                            + 1
                            < restart.max
                        && !cx.aborted() =>
                {
                    tracing::info!(stage = stage.name, %status, "a restarted worker died before its handshake: restarting it");
                    cx.stats
                        .restarts
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Err(e) => return cx.fail(None, spawn_kind(&e), e.to_string()),
            }
        };
        for ring in &rings[..2] {
            ring.forget_fd();
        }
        slot.replace(link.control.clone());
        cx.stats
            .restarts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        cx.stats.recovering_ns.fetch_add(
            died_at.elapsed().as_nanos() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }
}

/// Every record of a normal end was released, or is held on purpose by a value (a
/// `ShmBytes` not dropped yet): what is left is a leak, counted in the stage's stats.
fn count_leftovers<V, W>(stage: &Stage<V, W>, cx: &WorkerCx, rings: &[Arc<Ring>]) {
    let held = |r: &Ring| {
        r.held_bytes()
            .unwrap_or(r.capacity())
            .saturating_sub(r.kept_bytes())
    };
    let handed_on = stage.handed_on.load(Ordering::Acquire);
    let outputs = if stage.forwarding || handed_on {
        0
    } else {
        held(&rings[1])
    };
    let left = held(&rings[0]) + outputs;
    if left > 0 {
        tracing::warn!(stage = stage.name, left, "ring records left after the end");
    }
    cx.stats
        .ring_bytes_left
        .fetch_add(left as u64, std::sync::atomic::Ordering::Relaxed);
}

/// Item `seq` crashed its workers too often: it follows the stage's failure policy (by
/// default the stage fails). `false`: the stage failed or the run stops.
fn give_up<V, W: Send + 'static>(
    stage: &Stage<V, W>,
    cx: &mut WorkerCx,
    tx: &Tx<W>,
    handover: &mut [Batch<W>],
    seq: u64,
    failure: StageFailure,
    ring: &Ring,
) -> bool {
    let decision = match &stage.guard {
        // Its retries were the restarts: only skip, dead letter or fail remain.
        Some(g) => g.decide(&failure, u32::MAX),
        None => Decision::Fail(failure.clone()),
    };
    let Some(item) = handover
        .iter_mut()
        .flat_map(|b| b.items.iter_mut())
        .find(|s| s.seq == seq)
    else {
        return true;
    };
    match decision {
        Decision::Skip | Decision::DeadLetter => {
            if decision == Decision::DeadLetter {
                let sent = item.payload.as_ref().zip(stage.letter.as_ref());
                if let Some((payload, letter)) = sent {
                    if let Err(e) = letter(seq, payload, ring, failure, item.crashes) {
                        cx.fail(Some(seq), FailureKind::Protocol, e);
                        return false;
                    }
                }
            }
            // Handled: the next worker does not get it; a skip keeps its place in order.
            item.done = true;
            if let Some(p) = dropped(std::mem::replace(&mut item.tag, Tag::NONE)) {
                return send(tx, cx, p) && tx.flush();
            }
            true
        }
        Decision::Retry { .. } => true,
        Decision::Fail(f) => {
            cx.fail(f.seq, f.kind, f.message);
            false
        }
        Decision::Stop => false,
    }
}

/// Splits batches into batches of one item; control packets stay behind the last.
fn one_per_batch<W>(batches: Vec<Batch<W>>) -> Vec<Batch<W>> {
    let mut out = Vec::new();
    for mut batch in batches {
        let after = std::mem::take(&mut batch.after);
        out.extend(
            batch
                .items
                .into_iter()
                .filter(|s| !s.done)
                .map(|s| Batch::new(0, vec![s])),
        );
        match out.last_mut() {
            Some(last) => last.after = after,
            None => {
                let mut empty = Batch::new(0, Vec::new());
                empty.after = after;
                out.push(empty);
            }
        }
    }
    out
}

/// Starts one worker on `rings` (input, output, then rings it reads forwarded records from).
pub(crate) fn start<V, W>(
    stage: &Stage<V, W>,
    rings: &[Arc<Ring>],
) -> Result<skorche_worker::transport::WorkerLink, skorche_worker::transport::SpawnError> {
    let mut spec = stage.spec.clone();
    spec.rings = rings.to_vec();
    spec.output_ring = Some(1);
    spec.keep_inputs = stage.keep;
    stage.transport.start_worker(&spec)
}

/// How one worker's link ended.
pub(crate) enum Ended {
    /// End of input, a failure already reported, or the run stopping.
    Over,
    /// The worker died and the stage restarts workers.
    Died(skorche_worker::transport::ExitCause),
    /// The autoscaler lowered the target: the worker answered all it held and ended.
    Retired,
}

/// Feeds and collects one worker until its link ends. Returns how it ended, the batch the
/// feeder was building when the worker died.
#[allow(clippy::too_many_arguments)]
fn serve_link<V: Send + 'static, W: Send + 'static>(
    stage: &Stage<V, W>,
    cx: &mut WorkerCx,
    slot: &Slot<W>,
    link: skorche_worker::transport::WorkerLink,
    (rings, scale): (&[Arc<Ring>], Option<(&ScaleGate, usize)>),
    rx: &mut Rx<V>,
    (own_tx, tx): (&Tx<W>, &Outlet<W>),
    (handover, old_input): (Vec<Batch<W>>, Option<Arc<Ring>>),
) -> (Ended, Option<Batch<W>>) {
    let output_ring = &rings[1];
    let mut feeder = Feeder {
        stage,
        slot,
        sender: link.sender,
        input_ring: &rings[0],
        output_ring,
        rx,
        tx: own_tx,
        scale,
        retired: false,
    };
    let collector = Collector {
        stage,
        slot,
        receiver: link.receiver,
        output_ring,
        input_ring: &rings[0],
        out: tx.clone(),
    };
    std::thread::scope(|scope| {
        let mut ccx = cx.fork();
        let collecting = scope.spawn(move || {
            let mut ended = Ended::Over;
            ccx.run(|ccx| match catch(|| collector.run(ccx)) {
                Ok(e) => ended = e,
                Err(panic) => {
                    slot.control().kill();
                    ccx.fail(
                        None,
                        FailureKind::Panic,
                        format!("the collector panicked: {panic}"),
                    );
                }
            });
            ended
        });
        // A panic here must stop the worker before the scope waits for the collector.
        let left = match catch(|| {
            if feeder.hand_over(cx, handover, old_input.as_deref()) {
                feeder.run(cx)
            } else {
                None
            }
        }) {
            Ok(left) => left,
            Err(panic) => {
                slot.control().kill();
                cx.fail(
                    None,
                    FailureKind::Panic,
                    format!("the feeder panicked: {panic}"),
                );
                None
            }
        };
        let ended = match collecting.join().unwrap_or(Ended::Over) {
            Ended::Over if feeder.retired && !cx.aborted() => Ended::Retired,
            ended => ended,
        };
        (ended, left)
    })
}

/// The stage's watchdog: per-item timeouts, and stopping every worker when the run stops.
fn watch<V, W>(stage: &Stage<V, W>, cx: &mut WorkerCx) {
    let mut stopped = 0;
    while stage.feeders.load(Ordering::Acquire) > 0 {
        std::thread::sleep(WATCH_EVERY);
        let slots = stage
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if cx.aborted() {
            // Blocked feeders and collectors return once their worker is gone.
            for slot in &slots[stopped..] {
                slot.control().kill();
            }
            stopped = slots.len();
            continue;
        }
        let Some(limit) = stage.opts.item_timeout else {
            continue;
        };
        for slot in &slots {
            if let Some((seq, since)) = slot.current() {
                if since.elapsed() > limit && stage.opts.restart.is_some() {
                    // The worker is restarted and the item charged with a crash.
                    *slot.timed_out.lock().unwrap_or_else(|e| e.into_inner()) = Some(seq);
                    slot.control().kill();
                } else if since.elapsed() > limit {
                    cx.fail(
                        Some(seq),
                        FailureKind::Timeout,
                        format!(
                            "item #{seq} ran longer than {limit:?}; {} was killed",
                            slot.control().id()
                        ),
                    );
                    slot.control().kill();
                    break;
                }
            }
        }
    }
}

pub(crate) fn list_seqs(seqs: &[u64]) -> String {
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
