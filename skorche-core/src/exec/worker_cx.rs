//! Per-thread context of a stage worker: failure reporting, timing and counters.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{BoxError, FailureKind, StageFailure};
use crate::exec::shared::RunShared;
use crate::stats::block::Block;
use crate::stats::stage::StageMetrics;
use crate::stats::wait;

/// Counters of one stage, summed over its workers.
#[derive(Debug)]
pub(crate) struct StageStats {
    pub(crate) name: String,
    pub(crate) items_in: AtomicU64,
    pub(crate) items_out: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) busy_ns: AtomicU64,
    /// Outputs passed on still encoded to the next process stage.
    pub(crate) forwarded: AtomicU64,
    /// Values (inputs and outputs) that crossed to or from a worker through shared memory.
    pub(crate) via_shm: AtomicU64,
    /// Values that crossed to or from a worker inline, in a message.
    pub(crate) inline: AtomicU64,
    /// Worker processes started again after one died.
    pub(crate) restarts: AtomicU64,
    /// Nanoseconds from a worker's death to its successor being ready, summed.
    pub(crate) recovering_ns: AtomicU64,
    /// Bytes left in a process stage's rings when its workers ended normally.
    pub(crate) ring_bytes_left: AtomicU64,
    /// Nanoseconds from the run's start to the exit of the stage's last worker.
    pub(crate) finished_ns: AtomicU64,
    /// Failure policies: items that failed for good (after their last attempt).
    pub(crate) failed: AtomicU64,
    /// Failure policies: attempts run again after a failure.
    pub(crate) retried: AtomicU64,
    /// Failure policies: items dropped after failing.
    pub(crate) skipped: AtomicU64,
    /// Failure policies: items sent to the dead-letter queue.
    pub(crate) dead_lettered: AtomicU64,
    /// Failure policies with a rate budget: items taken, counted as they are taken.
    pub(crate) seen: AtomicU64,
    /// Failure policies: the first causes of items that failed for good.
    pub(crate) causes: std::sync::Mutex<Vec<crate::error::StageFailure>>,
    /// Failure policies: the cause of the latest item that failed for good.
    pub(crate) last_cause: std::sync::Mutex<Option<crate::error::StageFailure>>,
    /// Cached stages: hits, misses and bytes read and written.
    pub(crate) cache: crate::cache::CacheCounters,
    /// Each worker's live counters (load, task-time histogram).
    pub(crate) metrics: StageMetrics,
}

impl StageStats {
    pub(crate) fn new(name: String, metrics: StageMetrics) -> Self {
        StageStats {
            name,
            metrics,
            items_in: AtomicU64::new(0),
            items_out: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            busy_ns: AtomicU64::new(0),
            forwarded: AtomicU64::new(0),
            via_shm: AtomicU64::new(0),
            inline: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            recovering_ns: AtomicU64::new(0),
            ring_bytes_left: AtomicU64::new(0),
            finished_ns: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            seen: AtomicU64::new(0),
            causes: std::sync::Mutex::new(Vec::new()),
            last_cause: std::sync::Mutex::new(None),
            cache: Default::default(),
        }
    }
}

/// What one worker thread counted; folded into [`StageStats`] when the worker exits, so
/// the hot path touches no shared cache line.
#[derive(Debug, Default)]
pub(crate) struct Local {
    pub(crate) items_in: u64,
    pub(crate) items_out: u64,
    pub(crate) busy: Duration,
    pub(crate) via_shm: u64,
    pub(crate) inline: u64,
}

/// The context a worker body runs in.
pub(crate) struct WorkerCx {
    pub(crate) stats: Arc<StageStats>,
    pub(crate) shared: Arc<RunShared>,
    pub(crate) local: Local,
    /// This worker's live counters; `None` when metrics are off.
    block: Option<Block>,
    failed: bool,
    /// Calls left until the next timed one.
    untimed_left: u32,
    /// One call in this many is timed (1 for slow tasks).
    sample_every: u32,
}

/// A task call longer than this is timed every time: the clock costs nothing beside it.
const ALWAYS_TIME_ABOVE: Duration = Duration::from_micros(10);

/// For faster tasks one call in this many is timed and the time scaled up: reading the
/// clock twice per item was 12% of a 3-stage identity pipeline's CPU (perf, cpu-clock).
const SAMPLE_EVERY: u32 = 16;

impl WorkerCx {
    pub(crate) fn new(stats: Arc<StageStats>, shared: Arc<RunShared>) -> Self {
        Self::with_block(stats, shared, false)
    }

    /// A context for a helper thread of a stage (not a worker: its time is not counted).
    #[cfg(feature = "process")]
    pub(crate) fn helper(stats: Arc<StageStats>, shared: Arc<RunShared>) -> Self {
        Self::with_block(stats, shared, true)
    }

    fn with_block(stats: Arc<StageStats>, shared: Arc<RunShared>, aux: bool) -> Self {
        WorkerCx {
            block: stats.metrics.register(aux),
            stats,
            shared,
            local: Local::default(),
            failed: false,
            untimed_left: 0,
            sample_every: 1,
        }
    }

    /// A context for another thread of the same worker (process mode's collector).
    #[cfg(feature = "process")]
    pub(crate) fn fork(&self) -> WorkerCx {
        WorkerCx::with_block(self.stats.clone(), self.shared.clone(), true)
    }

    /// Records the time of one task call measured elsewhere (a worker process's).
    #[cfg(feature = "process")]
    pub(crate) fn sample_task(&self, ns: u64) {
        if let Some(b) = &self.block {
            b.sample_task(ns);
        }
    }

    /// Copies this worker's counters into its block, where readers see them.
    #[inline]
    pub(crate) fn publish(&self) {
        if let Some(b) = &self.block {
            use std::sync::atomic::Ordering::Relaxed;
            b.items_in.store(self.local.items_in, Relaxed);
            b.items_out.store(self.local.items_out, Relaxed);
            b.task_ns.store(self.local.busy.as_nanos() as u64, Relaxed);
        }
    }

    /// Runs a worker body: a panic in our own code is reported like a task panic, the
    /// counters are folded in and the supervisor is told that this thread is done.
    pub(crate) fn run(&mut self, body: impl FnOnce(&mut WorkerCx)) {
        let span = tracing::info_span!("stage", name = %self.stats.name);
        let _entered = span.enter();
        wait::install(self.block.clone().map(|b| (b, self.stats.metrics.epoch)));
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| body(self))) {
            self.fail(None, FailureKind::Panic, panic_message(&*payload));
        }
        wait::install(None);
        self.publish();
        if let Some(b) = &self.block {
            b.ended.store(self.stats.metrics.now().max(1), Relaxed);
        }
        let s = &self.stats;
        s.items_in.fetch_add(self.local.items_in, Relaxed);
        s.items_out.fetch_add(self.local.items_out, Relaxed);
        s.busy_ns
            .fetch_add(self.local.busy.as_nanos() as u64, Relaxed);
        s.via_shm.fetch_add(self.local.via_shm, Relaxed);
        s.inline.fetch_add(self.local.inline, Relaxed);
        s.finished_ns.fetch_max(self.shared.elapsed_ns(), Relaxed);
        self.shared.thread_exited();
    }

    /// Whether the run is being stopped (an error elsewhere, or the output was dropped).
    #[inline]
    pub(crate) fn aborted(&self) -> bool {
        self.shared.is_aborted()
    }

    /// Records a failure of this stage and stops the run.
    pub(crate) fn fail(&mut self, seq: Option<u64>, kind: FailureKind, message: String) {
        let failure = StageFailure::new(self.stats.name.clone(), seq, kind, message);
        self.fail_with(failure);
    }

    /// Records `failure` (of this stage, with its source if any) and stops the run.
    pub(crate) fn fail_with(&mut self, failure: StageFailure) {
        if self.failed {
            return;
        }
        self.failed = true;
        self.stats.errors.fetch_add(1, Relaxed);
        self.shared.fail(failure);
    }

    /// Runs task code, adding its duration to the busy time: measured on every call for
    /// tasks slower than [`ALWAYS_TIME_ABOVE`], sampled one call in [`SAMPLE_EVERY`] (and
    /// scaled) for faster ones.
    ///
    /// Before a call that is expected to be slow (the last timed one was), whatever this
    /// thread's senders hold is shipped: it must not wait for the call to end.
    #[inline]
    pub(crate) fn timed<R>(&mut self, f: impl FnOnce() -> R) -> R {
        if self.untimed_left > 0 {
            self.untimed_left -= 1;
            return f();
        }
        if self.sample_every == 1 {
            crate::hop::outbox::flush_pending();
        }
        let start = Instant::now();
        let r = f();
        let took = start.elapsed();
        self.local.busy += took * self.sample_every;
        if let Some(b) = &self.block {
            b.sample_task(took.as_nanos() as u64);
        }
        self.publish();
        let slow = took > ALWAYS_TIME_ABOVE;
        crate::hop::outbox::set_pace(slow);
        self.sample_every = if slow { 1 } else { SAMPLE_EVERY };
        self.untimed_left = self.sample_every - 1;
        r
    }

    /// Calls a task on item `seq`, timing it and turning an error or panic into a stage
    /// failure. `None` means the call failed and the worker must stop.
    #[inline]
    pub(crate) fn call<R>(
        &mut self,
        seq: u64,
        f: impl FnOnce() -> Result<R, BoxError>,
    ) -> Option<R> {
        let result = self.timed(|| catch_unwind(AssertUnwindSafe(f)));
        match result {
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => {
                let failure = StageFailure::task_error(self.stats.name.clone(), Some(seq), e);
                self.fail_with(failure);
                None
            }
            Err(payload) => {
                self.fail(Some(seq), FailureKind::Panic, panic_message(&*payload));
                None
            }
        }
    }
}

/// The message of a panic payload (`&str` or `String`), or a placeholder.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}
