//! One worker's counters: a cache-line-padded block written by that worker alone.
//!
//! Every field is updated with a Relaxed load and store (never a read-modify-write): only
//! the owning thread writes, so no update is lost, and the line stays in the owner's cache
//! until a reader (the 10 Hz sampler, the report) looks at it. Readers may see one field a
//! little older than another; a snapshot is a sample, not a transaction.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};

use super::histogram::{bucket_of, BUCKETS};

/// What a worker is waiting for while it waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Its input queue is empty.
    Idle = 1,
    /// Its output queue is full (backpressure from downstream).
    Blocked = 2,
    /// Stopped by the autoscaler until it is needed again.
    Parked = 3,
}

/// A worker's block, shared with its readers, on cache lines of its own: the owner writes
/// it on every few items, and no other worker's writes may evict it.
pub(crate) type Block = std::sync::Arc<crossbeam_utils::CachePadded<WorkerBlock>>;

/// The counters of one worker thread.
#[derive(Debug)]
pub(crate) struct WorkerBlock {
    /// A helper thread of a worker (a process stage's collector): its waits count, its
    /// lifetime does not (the feeder's already stands for the worker).
    pub(crate) aux: bool,
    pub(crate) items_in: AtomicU64,
    pub(crate) items_out: AtomicU64,
    /// Task time (timed calls, scaled for the untimed ones), ns.
    pub(crate) task_ns: AtomicU64,
    pub(crate) idle_ns: AtomicU64,
    pub(crate) blocked_ns: AtomicU64,
    pub(crate) parked_ns: AtomicU64,
    /// When the current wait began (ns since the run's start), 0 when not waiting.
    pub(crate) wait_since: AtomicU64,
    pub(crate) wait_kind: AtomicU8,
    pub(crate) started: AtomicU64,
    /// ns since the run's start when the worker exited; 0 while it runs.
    pub(crate) ended: AtomicU64,
    /// Sampled task times, log2 buckets of ns.
    pub(crate) hist: [AtomicU64; BUCKETS],
}

/// Adds `v` to a counter only its owner writes.
#[inline]
pub(crate) fn bump(a: &AtomicU64, v: u64) {
    a.store(a.load(Relaxed).wrapping_add(v), Relaxed);
}

impl WorkerBlock {
    pub(crate) fn new(aux: bool, started: u64) -> Self {
        WorkerBlock {
            aux,
            items_in: AtomicU64::new(0),
            items_out: AtomicU64::new(0),
            task_ns: AtomicU64::new(0),
            idle_ns: AtomicU64::new(0),
            blocked_ns: AtomicU64::new(0),
            parked_ns: AtomicU64::new(0),
            wait_since: AtomicU64::new(0),
            wait_kind: AtomicU8::new(0),
            started: AtomicU64::new(started),
            ended: AtomicU64::new(0),
            hist: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// Records one sampled task time.
    #[inline]
    pub(crate) fn sample_task(&self, ns: u64) {
        bump(&self.hist[bucket_of(ns)], 1);
    }

    pub(crate) fn begin_wait(&self, kind: Wait, now: u64) {
        self.wait_kind.store(kind as u8, Relaxed);
        // Never 0, which means "not waiting".
        self.wait_since.store(now.max(1), Relaxed);
    }

    pub(crate) fn end_wait(&self, kind: Wait, took: u64) {
        self.wait_since.store(0, Relaxed);
        let field = match kind {
            Wait::Idle => &self.idle_ns,
            Wait::Blocked => &self.blocked_ns,
            Wait::Parked => &self.parked_ns,
        };
        bump(field, took);
    }

    /// The time this worker has waited for `kind` until `now`, the wait in progress
    /// included.
    pub(crate) fn waited(&self, kind: Wait, now: u64) -> u64 {
        let done = match kind {
            Wait::Idle => self.idle_ns.load(Relaxed),
            Wait::Blocked => self.blocked_ns.load(Relaxed),
            Wait::Parked => self.parked_ns.load(Relaxed),
        };
        let since = self.wait_since.load(Relaxed);
        let current = if since != 0 && self.wait_kind.load(Relaxed) == kind as u8 {
            now.saturating_sub(since)
        } else {
            0
        };
        done + current
    }

    /// Whether the autoscaler has stopped this worker now.
    pub(crate) fn is_parked(&self) -> bool {
        self.wait_since.load(Relaxed) != 0 && self.wait_kind.load(Relaxed) == Wait::Parked as u8
    }

    /// How long this worker has existed until `now` (or until it exited).
    pub(crate) fn lifetime(&self, now: u64) -> u64 {
        let ended = self.ended.load(Relaxed);
        let end = if ended == 0 { now } else { ended };
        end.saturating_sub(self.started.load(Relaxed))
    }
}
