//! Starting a declared graph and supervising it until every thread has exited.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError};

use crate::error::PipelineError;
use crate::exec::shared::RunShared;
use crate::exec::worker_cx::StageStats;
use crate::graph::DEFAULT_CAPACITY;
use crate::graph::{ErasedChannel, Graph, Mode};
use crate::launch::Launch;
use crate::report::{Report, StageReport};
use crate::stats::stage::StageMetrics;

/// How often the supervisor samples queue depths (and, while stopping, drains queues).
const SAMPLE_EVERY: Duration = Duration::from_millis(5);

/// How often the autoscaler looks, unless the pipeline says otherwise.
const DEFAULT_SCALE_PERIOD: Duration = Duration::from_secs(1);

/// The autoscaler's thread and its stop flag.
type Scaler = (
    JoinHandle<Vec<crate::autoscale::ScaleEvent>>,
    Arc<AtomicBool>,
);

/// Workers the autoscaler may run in all, unless the pipeline says otherwise: the
/// machine's cores.
fn default_budget() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A started pipeline: its supervisor thread, and the receivers of its declared outputs.
pub(crate) struct Started {
    pub(crate) shared: Arc<RunShared>,
    pub(crate) supervisor: JoinHandle<Result<Report, PipelineError>>,
    /// Erased `Receiver<Packet<T>>` of each declared output, by output index.
    pub(crate) outputs: Vec<Option<Box<dyn std::any::Any + Send>>>,
    /// Live figures of the run, for `Running::stats`.
    pub(crate) probe: Arc<crate::stats::live::Probe>,
    /// For each declared output, a body that consumes and drops its packets: run if the
    /// output is never taken, so its producers do not block on a full queue.
    pub(crate) discards: Vec<Option<Box<dyn FnOnce() + Send>>>,
}

/// Checks the declaration, creates the channels, launches every stage, and starts the
/// supervisor.
pub(crate) fn start(mut graph: Graph, outputs: &[usize]) -> Result<Started, PipelineError> {
    validate(&graph)?;
    let shape = crate::render::Shape::of(&graph);
    let (wake, wake_rx) = unbounded();
    let shared = Arc::new(RunShared {
        aborted: AtomicBool::new(false),
        failures: Mutex::new(Vec::new()),
        cancelled: Mutex::new(None),
        wake,
        started: Instant::now(),
        stop: crate::stop::StopState::default(),
    });

    // One channel per queue that is not merged into another.
    let default_cap = graph.default_capacity.unwrap_or(DEFAULT_CAPACITY);
    let mut chan_index = vec![usize::MAX; graph.queues.len()];
    let mut channels: Vec<ErasedChannel> = Vec::new();
    #[cfg(feature = "process")]
    let mut procs = crate::coordinator::context::RunProcesses::new(&graph, outputs);
    for (q, decl) in graph.queues.iter().enumerate() {
        if decl.merged_into.is_none() {
            let cap = decl.capacity.unwrap_or(default_cap).max(1);
            // Several workers share the consumer's input: no chunk may go to one of them
            // until they are known to be fast (see `hop::HopState`).
            let shared = decl
                .consumer
                .is_some_and(|c| graph.nodes[c].mode.count() > 1);
            chan_index[q] = channels.len();
            #[cfg(feature = "process")]
            if let Some(chan) = procs.channel(q, cap, shared) {
                channels.push(chan);
                continue;
            }
            channels.push((decl.make)(cap, shared));
        }
    }
    for q in 0..graph.queues.len() {
        chan_index[q] = chan_index[graph.channel_of(q)];
    }

    let mut threads = Vec::new();
    let mut stats = Vec::new();
    let mut depth_of = Vec::new();
    let mut capacity_of = Vec::new();
    let mut probe_stages = Vec::new();
    let source_len = graph.source_lens.iter().copied().sum::<Option<u64>>();
    let node_caps: Vec<usize> = graph
        .nodes
        .iter()
        .map(|node| {
            node.inputs
                .iter()
                .map(|&q| {
                    let decl = &graph.queues[graph.channel_of(q)];
                    decl.capacity.unwrap_or(default_cap).max(1)
                })
                .sum()
        })
        .collect();
    // Stages the autoscaler sizes start with even shares of the budget.
    let settings = crate::autoscale::controller::Settings {
        budget: graph.worker_budget.unwrap_or_else(default_budget),
        period: graph.autoscale_period.unwrap_or(DEFAULT_SCALE_PERIOD),
        passive: graph.autoscale_passive,
    };
    let bounds: Vec<(usize, usize)> = graph.scaled.iter().map(|s| (s.min, s.max)).collect();
    let split = crate::autoscale::controller::initial_split(&bounds, settings.budget);
    let scale_gates: std::collections::HashMap<usize, _> = graph
        .scaled
        .iter()
        .zip(&split)
        .map(|(s, &t)| {
            let gate = Arc::new(crate::autoscale::gate::ScaleGate::new(t, shared.clone()));
            (s.node, (gate, s.min, s.max))
        })
        .collect();
    let mut sized = Vec::new();
    for (ni, node) in graph.nodes.iter_mut().enumerate() {
        let Some(runner) = node.runner.take() else {
            continue;
        };
        let metrics = StageMetrics::new(!graph.metrics_off, shared.started);
        let st = Arc::new(StageStats::new(node.name.clone(), metrics));
        let mode = match node.mode {
            Mode::Threads(n) => Mode::Threads(n.max(1)),
            other => other,
        };
        let mut cx = Launch {
            stats: st.clone(),
            mode,
            inputs: node.inputs.iter().map(|&q| chan_index[q]).collect(),
            outputs: node.outputs.iter().map(|&q| chan_index[q]).collect(),
            channels: &mut channels,
            shared: &shared,
            threads: &mut threads,
            scale: scale_gates.get(&ni).map(|g| g.0.clone()),
            worker_index: 0,
            #[cfg(feature = "process")]
            process: procs.stage(node),
        };
        let input_chans = cx.inputs.clone();
        let input_cap = node_caps[ni];
        if let Err(e) = runner.launch(&mut cx) {
            shared.cancel("a stage could not start");
            drop(cx);
            finish_after_launch_error(&shared, channels, threads);
            return Err(e);
        }
        let terminal = node
            .outputs
            .iter()
            .all(|&q| graph.queues[q].consumer.is_none());
        probe_stages.push(crate::stats::live::ProbeStage {
            counters: st.clone(),
            kind: node.kind,
            mode: node.mode,
            depth: input_chans
                .iter()
                .map(|&c| channels[c].depth.clone())
                .collect(),
            capacity: input_cap,
            terminal,
        });
        if let Some((gate, min, max)) = scale_gates.get(&ni) {
            sized.push(crate::autoscale::controller::Sized {
                counters: st.clone(),
                gate: gate.clone(),
                min: *min,
                max: *max,
            });
        }
        stats.push((st, node.mode, node.kind));
        depth_of.push(input_chans);
        capacity_of.push(input_cap);
    }

    #[cfg(feature = "process")]
    procs.all_launched();

    // The declared outputs hand their receivers to the caller; every other queue nobody
    // consumes is drained by a discard thread so that upstream never blocks.
    let mut output_rx = Vec::new();
    let mut output_discards = Vec::new();
    let mut consumed = vec![false; channels.len()];
    for (qi, q) in graph.queues.iter().enumerate() {
        if q.consumer.is_some() && q.merged_into.is_none() {
            consumed[chan_index[qi]] = true;
        }
    }
    for &q in outputs {
        let ci = chan_index[q];
        consumed[ci] = true;
        output_rx.push(Some((channels[ci].take_rx)(&mut channels[ci])));
        output_discards.push(Some((channels[ci].discard)(&mut channels[ci])));
    }
    for (ci, chan) in channels.iter_mut().enumerate() {
        if !consumed[ci] {
            let discard = (chan.discard)(&mut *chan);
            let shared2 = shared.clone();
            threads.push(
                std::thread::Builder::new()
                    .name("skorche:discard".into())
                    .spawn(move || {
                        discard();
                        shared2.thread_exited();
                    })
                    .expect("spawning a discard thread"),
            );
        }
        // From now on only the workers hold senders: when they exit, the queue ends.
        (chan.close)(&mut *chan);
    }

    let scaler = (!sized.is_empty()).then(|| {
        let stop = Arc::new(AtomicBool::new(false));
        let handle =
            crate::autoscale::controller::spawn(sized, settings, shared.started, stop.clone());
        (handle, stop)
    });
    let probe = Arc::new(crate::stats::live::Probe::new(probe_stages, source_len));
    let probe2 = probe.clone();
    let shared2 = shared.clone();
    let supervisor = std::thread::Builder::new()
        .name("skorche:supervisor".into())
        .spawn(move || {
            let result = supervise(
                shared2.clone(),
                wake_rx,
                channels,
                threads,
                stats,
                (depth_of, capacity_of),
                (shape, scaler),
            );
            probe2
                .done
                .store(true, std::sync::atomic::Ordering::Relaxed);
            // A run stopped on request hands its report back inside `Interrupted`; its
            // signal watcher (if any) is closed before anyone sees the result.
            shared2.stop.finish(result)
        })
        .expect("spawning the supervisor");
    Ok(Started {
        shared,
        supervisor,
        probe,
        outputs: output_rx,
        discards: output_discards,
    })
}

fn validate(graph: &Graph) -> Result<(), PipelineError> {
    if graph.nodes.is_empty() {
        return Err(PipelineError::Invalid("the pipeline has no stage".into()));
    }
    for sp in &graph.save_points {
        if !sp.loaded {
            return Err(PipelineError::Invalid(format!(
                "'{}' has no matching order load: its window would fill and stall the run",
                graph.nodes[sp.node].name
            )));
        }
    }
    if !graph.scaled.is_empty() {
        if graph.metrics_off {
            return Err(PipelineError::Invalid(
                "autoscaling reads the live metrics: they cannot be off".into(),
            ));
        }
        let least: usize = graph.scaled.iter().map(|s| s.min).sum();
        let budget = graph.worker_budget.unwrap_or_else(default_budget);
        if least > budget {
            return Err(PipelineError::Invalid(format!(
                "the autoscaled stages need at least {least} workers; the budget is {budget}"
            )));
        }
    }
    for node in &graph.nodes {
        if let Mode::Threads(0) | Mode::Processes(0) = node.mode {
            return Err(PipelineError::Invalid(format!(
                "stage '{}' has zero workers",
                node.name
            )));
        }
    }
    Ok(())
}

fn finish_after_launch_error(
    shared: &Arc<RunShared>,
    mut channels: Vec<ErasedChannel>,
    threads: Vec<JoinHandle<()>>,
) {
    for chan in channels.iter_mut() {
        (chan.close)(&mut *chan);
    }
    while !threads.iter().all(|t| t.is_finished()) {
        for chan in channels.iter_mut() {
            (chan.drain)();
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    for t in threads {
        let _ = t.join();
    }
    let _ = shared;
}

fn supervise(
    shared: Arc<RunShared>,
    wake: Receiver<()>,
    mut channels: Vec<ErasedChannel>,
    threads: Vec<JoinHandle<()>>,
    stats: Vec<(Arc<StageStats>, Mode, crate::StageKind)>,
    (depth_of, capacity): (Vec<Vec<usize>>, Vec<usize>),
    (shape, scaler): (crate::render::Shape, Option<Scaler>),
) -> Result<Report, PipelineError> {
    let mut remaining = threads.len();
    let mut depth_sum = vec![0u64; stats.len()];
    let mut samples = 0u64;
    while remaining > 0 {
        match wake.recv_timeout(SAMPLE_EVERY) {
            Ok(()) => {
                remaining = threads.iter().filter(|t| !t.is_finished()).count();
            }
            Err(RecvTimeoutError::Timeout) => {
                samples += 1;
                for (i, chans) in depth_of.iter().enumerate() {
                    depth_sum[i] += chans
                        .iter()
                        .map(|&c| (channels[c].depth)() as u64)
                        .sum::<u64>();
                }
                remaining = threads.iter().filter(|t| !t.is_finished()).count();
            }
            Err(RecvTimeoutError::Disconnected) => unreachable!("the supervisor holds a sender"),
        }
        shared.check_grace();
        if shared.is_aborted() {
            // Unblock every sender: nobody will consume what is queued now.
            for chan in channels.iter_mut() {
                (chan.drain)();
            }
        }
    }
    for t in threads {
        let _ = t.join();
    }
    let scaling = match scaler {
        Some((handle, stop)) => {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            handle.join().unwrap_or_default()
        }
        None => Vec::new(),
    };
    let wall = shared.started.elapsed();
    let failures = shared.take_failures();
    if !failures.is_empty() {
        return Err(PipelineError::Failed(failures));
    }
    if let Some(reason) = shared
        .cancelled
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
    {
        return Err(PipelineError::Cancelled(reason));
    }
    let stages = stats
        .iter()
        .enumerate()
        .map(|(i, (st, mode, kind))| {
            use std::sync::atomic::Ordering::Relaxed;
            StageReport {
                name: st.name.clone(),
                kind: *kind,
                mode: *mode,
                items_in: st.items_in.load(Relaxed),
                items_out: st.items_out.load(Relaxed),
                errors: st.errors.load(Relaxed),
                busy: Duration::from_nanos(st.busy_ns.load(Relaxed)),
                forwarded: st.forwarded.load(Relaxed),
                via_shm: st.via_shm.load(Relaxed),
                inline: st.inline.load(Relaxed),
                wall: Duration::from_nanos(st.finished_ns.load(Relaxed)),
                mean_queue_depth: if samples == 0 {
                    0.0
                } else {
                    depth_sum[i] as f64 / samples as f64
                },
                failed: st.failed.load(Relaxed),
                retried: st.retried.load(Relaxed),
                skipped: st.skipped.load(Relaxed),
                dead_lettered: st.dead_lettered.load(Relaxed),
                causes: st.causes.lock().unwrap_or_else(|e| e.into_inner()).clone(),
                restarts: st.restarts.load(Relaxed),
                recovering: Duration::from_nanos(st.recovering_ns.load(Relaxed)),
                ring_bytes_left: st.ring_bytes_left.load(Relaxed),
                cache: st.cache.snapshot(),
                busy_pct: 0.0,
                blocked_pct: 0.0,
                idle_pct: 0.0,
                task_p50: None,
                task_p99: None,
                queue_capacity: capacity[i],
                queue_wait: Duration::ZERO,
                verdict: None,
            }
        })
        .collect();
    let mut report = Report {
        wall,
        stages,
        bottleneck: None,
        scaling,
        shape,
    };
    let totals: Vec<_> = stats.iter().map(|(st, ..)| st.metrics.totals()).collect();
    crate::stats::report::fill(
        &mut report,
        &totals,
        stats.first().is_some_and(|s| s.0.metrics.on),
    );
    Ok(report)
}
