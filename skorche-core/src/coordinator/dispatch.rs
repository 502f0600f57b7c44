//! What one worker holds, and the credits that bound it.
//!
//! A feeder takes an item off the stage's queue only when its worker has a free credit, so
//! workers share the queue fairly and every item is counted from the moment it leaves the
//! queue until its outputs are on the next one. The collector checks each answer against
//! the batch it answers (batch id, position, item tags) before anything is emitted.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicBool, Ordering};

use skorche_worker::protocol::Payload;
use skorche_worker::transport::WorkerControl;

use crate::coordinator::batch_size::BatchSizer;
use crate::order::Tag;
use crate::packet::Packet;

/// One item sent to a worker: its source seq and position (answers are matched to it by
/// their place in the batch).
#[derive(Debug, Clone)]
pub(crate) struct Sent {
    pub(crate) seq: u64,
    pub(crate) tag: Tag,
    /// What was sent, kept while the stage restarts dead workers: the item may have to go
    /// to the next worker.
    pub(crate) payload: Option<Payload>,
    /// Workers that died while on this item.
    pub(crate) crashes: u32,
    /// Attempts so far, this one included (retries under a failure policy).
    pub(crate) attempts: u32,
    /// Handled without a worker (skipped or dead-lettered after crashes).
    pub(crate) done: bool,
    /// Its key in the stage's result cache: its outputs are stored when they come.
    pub(crate) key: Option<crate::coordinator::cached::ItemKey>,
}

/// A batch sent and not yet fully answered and emitted.
pub(crate) struct Batch<W> {
    pub(crate) id: u64,
    pub(crate) items: Vec<Sent>,
    /// Items answered so far (the answer for `items[answered]` is the next one expected).
    pub(crate) answered: usize,
    /// Control packets that arrived after this batch: they leave after its results.
    pub(crate) after: Vec<Packet<W>>,
    pub(crate) sent: Instant,
    /// Output bytes answered so far (batch sizing).
    pub(crate) out_bytes: usize,
    /// Worker time reported so far (batch sizing).
    pub(crate) busy: Duration,
}

impl<W> Batch<W> {
    pub(crate) fn new(id: u64, items: Vec<Sent>) -> Self {
        Batch {
            id,
            items,
            answered: 0,
            after: Vec::new(),
            sent: Instant::now(),
            out_bytes: 0,
            busy: Duration::ZERO,
        }
    }
}

/// What a worker holds.
pub(crate) struct Flight<W> {
    pub(crate) batches: VecDeque<Batch<W>>,
    /// Items taken off the queue and not yet answered.
    pub(crate) items: usize,
    /// Batches sent and not yet fully answered.
    pub(crate) open: usize,
    /// When the worker last answered (or was idle and got a batch).
    pub(crate) progress: Instant,
    pub(crate) sizer: BatchSizer,
    pub(crate) next_batch: u64,
}

/// One worker's shared state: its control, what it holds, and the credit signal. A slot
/// outlives its worker: a restarted worker takes over the slot and what it held.
pub(crate) struct Slot<W> {
    control: Mutex<Arc<dyn WorkerControl>>,
    flight: Mutex<Flight<W>>,
    credit: Condvar,
    /// The current worker has ended; its feeder stops and hands back what it took.
    dead: AtomicBool,
    /// Set by the watchdog when it stopped the worker over this item (restart mode).
    pub(crate) timed_out: Mutex<Option<u64>>,
    /// Items to try again, and when (failure policy).
    retries: Mutex<Vec<(Instant, Sent)>>,
}

impl<W> Slot<W> {
    pub(crate) fn new(control: Arc<dyn WorkerControl>, sizer: BatchSizer) -> Self {
        Slot {
            control: Mutex::new(control),
            dead: AtomicBool::new(false),
            timed_out: Mutex::new(None),
            retries: Mutex::new(Vec::new()),
            flight: Mutex::new(Flight {
                batches: VecDeque::new(),
                items: 0,
                open: 0,
                progress: Instant::now(),
                sizer,
                next_batch: 0,
            }),
            credit: Condvar::new(),
        }
    }

    /// Schedules an item for another attempt at `due`.
    pub(crate) fn retry_at(&self, due: Instant, sent: Sent) {
        self.retries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((due, sent));
    }

    /// Up to `n` items whose retry is due.
    pub(crate) fn due_retries(&self, n: usize) -> Vec<Sent> {
        let mut r = self.retries.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let mut due = Vec::new();
        let mut i = 0;
        while i < r.len() && due.len() < n {
            if r[i].0 <= now {
                due.push(r.remove(i).1);
            } else {
                i += 1;
            }
        }
        due
    }

    /// Whether items wait for a retry or are held by the worker.
    pub(crate) fn busy(&self) -> bool {
        !self
            .retries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
            || !self.lock().batches.is_empty()
    }

    /// The current worker's control.
    pub(crate) fn control(&self) -> Arc<dyn WorkerControl> {
        self.control
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A restarted worker takes over.
    pub(crate) fn replace(&self, control: Arc<dyn WorkerControl>) {
        *self.control.lock().unwrap_or_else(|e| e.into_inner()) = control;
        *self.timed_out.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.dead.store(false, Ordering::Release);
    }

    /// The worker ended; wakes a feeder waiting for credits.
    pub(crate) fn mark_dead(&self) {
        self.dead.store(true, Ordering::Release);
        let _f = self.lock();
        self.credit.notify_all();
    }

    pub(crate) fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    /// Takes every batch the dead worker held, keeping only the items it did not answer,
    /// and empties the slot for the next worker.
    pub(crate) fn take_unfinished(&self) -> Vec<Batch<W>> {
        let mut f = self.lock();
        f.items = 0;
        f.open = 0;
        f.batches
            .drain(..)
            .map(|mut b| {
                b.items.drain(..b.answered);
                b.answered = 0;
                b
            })
            .collect()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Flight<W>> {
        self.flight.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until the worker may take more items; returns how many (at most one batch).
    /// `None` when `stop()` says so (checked every `poll`).
    pub(crate) fn wait_credit(&self, poll: Duration, stop: impl Fn() -> bool) -> Option<usize> {
        let mut f = self.lock();
        loop {
            if stop() {
                return None;
            }
            let cap = f.sizer.cap();
            let window = f.sizer.window();
            if f.open < window && f.items < cap * window {
                return Some(cap.min(cap * window - f.items));
            }
            f = self
                .credit
                .wait_timeout(f, poll)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Gives back `n` credits (their outputs are emitted).
    pub(crate) fn release(&self, f: &mut Flight<W>, n: usize) {
        f.items = f.items.saturating_sub(n);
        self.credit.notify_all();
    }

    /// The item the worker is on and since when, if it holds any.
    pub(crate) fn current(&self) -> Option<(u64, Instant)> {
        let f = self.lock();
        let batch = f.batches.iter().find(|b| b.answered < b.items.len())?;
        let item = &batch.items[batch.answered];
        Some((item.seq, batch.sent.max(f.progress)))
    }

    /// Source seqs of every item the worker holds.
    pub(crate) fn held(&self) -> Vec<u64> {
        self.lock()
            .batches
            .iter()
            .flat_map(|b| b.items[b.answered..].iter().map(|s| s.seq))
            .collect()
    }
}
