//! A stage's workers' blocks, and their sums.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crossbeam_utils::CachePadded;

use super::block::{Block, Wait, WorkerBlock};
use super::histogram::BUCKETS;

/// The blocks of one stage's workers, registered as they start.
#[derive(Debug)]
pub(crate) struct StageMetrics {
    /// `false`: metrics are off for this run ([`crate::Pipeline::metrics`]).
    pub(crate) on: bool,
    pub(crate) epoch: Instant,
    blocks: Mutex<Vec<Block>>,
}

/// The sums of a stage's blocks at one moment.
#[derive(Debug, Clone)]
pub(crate) struct Totals {
    pub(crate) at_ns: u64,
    pub(crate) items_in: u64,
    pub(crate) items_out: u64,
    pub(crate) task_ns: u64,
    pub(crate) idle_ns: u64,
    pub(crate) blocked_ns: u64,
    pub(crate) parked_ns: u64,
    /// Worker time: the lifetimes of the (non-helper) workers, summed.
    pub(crate) worker_ns: u64,
    /// Workers running now, parked ones included.
    pub(crate) running: usize,
    /// Workers stopped by the autoscaler now.
    pub(crate) parked: usize,
    pub(crate) hist: [u64; BUCKETS],
}

impl Totals {
    /// The figures of the time between `earlier` and `self`.
    pub(crate) fn since(&self, earlier: &Totals) -> Totals {
        let mut hist = self.hist;
        for (h, e) in hist.iter_mut().zip(&earlier.hist) {
            *h = h.saturating_sub(*e);
        }
        Totals {
            at_ns: self.at_ns.saturating_sub(earlier.at_ns),
            items_in: self.items_in.saturating_sub(earlier.items_in),
            items_out: self.items_out.saturating_sub(earlier.items_out),
            task_ns: self.task_ns.saturating_sub(earlier.task_ns),
            idle_ns: self.idle_ns.saturating_sub(earlier.idle_ns),
            blocked_ns: self.blocked_ns.saturating_sub(earlier.blocked_ns),
            parked_ns: self.parked_ns.saturating_sub(earlier.parked_ns),
            worker_ns: self.worker_ns.saturating_sub(earlier.worker_ns),
            running: self.running,
            parked: self.parked,
            hist,
        }
    }

    /// Worker time not parked: what the load shares are shares of.
    pub(crate) fn active_ns(&self) -> u64 {
        self.worker_ns.saturating_sub(self.parked_ns)
    }

    /// `(idle, blocked)` as shares (0 to 1) of the active worker time.
    pub(crate) fn wait_shares(&self) -> (f64, f64) {
        let active = self.active_ns();
        if active == 0 {
            return (0.0, 0.0);
        }
        let share = |ns: u64| (ns as f64 / active as f64).clamp(0.0, 1.0);
        (share(self.idle_ns), share(self.blocked_ns))
    }
}

impl StageMetrics {
    pub(crate) fn new(on: bool, epoch: Instant) -> Self {
        StageMetrics {
            on,
            epoch,
            blocks: Mutex::new(Vec::new()),
        }
    }

    /// ns since the run's start.
    pub(crate) fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// A new block for a worker starting now; `None` when metrics are off.
    pub(crate) fn register(&self, aux: bool) -> Option<Block> {
        if !self.on {
            return None;
        }
        let block = Arc::new(CachePadded::new(WorkerBlock::new(aux, self.now())));
        self.blocks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(block.clone());
        Some(block)
    }

    /// The sums now.
    pub(crate) fn totals(&self) -> Totals {
        let now = self.now();
        let mut t = Totals {
            at_ns: now,
            items_in: 0,
            items_out: 0,
            task_ns: 0,
            idle_ns: 0,
            blocked_ns: 0,
            parked_ns: 0,
            worker_ns: 0,
            running: 0,
            parked: 0,
            hist: [0; BUCKETS],
        };
        let blocks = self.blocks.lock().unwrap_or_else(|e| e.into_inner());
        for b in blocks.iter() {
            t.items_in += b.items_in.load(Relaxed);
            t.items_out += b.items_out.load(Relaxed);
            t.task_ns += b.task_ns.load(Relaxed);
            t.idle_ns += b.waited(Wait::Idle, now);
            t.blocked_ns += b.waited(Wait::Blocked, now);
            for (h, c) in t.hist.iter_mut().zip(&b.hist) {
                *h += c.load(Relaxed);
            }
            if !b.aux {
                t.parked_ns += b.waited(Wait::Parked, now);
                t.worker_ns += b.lifetime(now);
                t.running += usize::from(b.ended.load(Relaxed) == 0);
                t.parked += usize::from(b.is_parked());
            }
        }
        t
    }
}
