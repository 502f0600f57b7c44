//! Hops between stages: bounded channels that carry packets in small chunks
//! (micro-batching).
//!
//! A channel operation per packet costs a synchronised handoff between two cores, and often
//! a wake-up of a parked thread; for small items that is most of a pipeline's time. A hop
//! moves a *chunk* of packets per operation instead:
//!
//! - a sender ([`Tx`]) collects packets and ships them as one chunk when the chunk is full,
//!   when its thread is about to block (an [`Rx`] finding its queue empty, a slow task call,
//!   a wait for order credits or a retry: see [`outbox`]), when the consumer asked for
//!   packets one at a time (see [`HopState::one_by_one`]), and when it is dropped. So
//!   nothing waits in a buffer while its thread sleeps: a lone item goes at once;
//! - a receiver ([`Rx`]) takes a whole chunk and hands its packets out one by one.
//!
//! Items, skips and markers travel in the same chunks, in the order they were sent, so
//! everything that relied on a FIFO per sender still holds.
//!
//! Capacity stays a true bound: the channel has `capacity / chunk` slots of at most
//! `chunk` packets. What senders and receivers hold outside the channel (at most one chunk
//! each) is counted by [`crate::Pipeline::max_in_flight`].

pub(crate) mod outbox;
mod rx;
mod tx;

use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering::Relaxed};
use std::sync::Arc;

pub(crate) use rx::Rx;
pub(crate) use tx::{Outlet, Tx};

use crate::packet::Packet;

/// The most packets per chunk. Measured on the 3-stage identity bench (benches/README.md):
/// past a few dozen packets the handoff is already amortised, and larger chunks only make
/// the bound looser.
pub(crate) const MAX_CHUNK: usize = 32;

/// Packets per chunk on a queue of `capacity`: at least two slots, so the producer can fill
/// one chunk while the consumer works through another.
pub(crate) fn chunk_size(capacity: usize) -> usize {
    (capacity / 2).clamp(1, MAX_CHUNK)
}

/// Holds back a worker the autoscaler has stopped: its receiver asks between chunks
/// (never with packets in hand), so a stopped worker holds no item.
pub(crate) trait Gate: Send + Sync {
    /// Whether worker `index` of the stage is stopped now.
    fn stopped(&self, index: usize) -> bool;
    /// Waits until worker `index` may go on (started again, or the stage's input ended).
    fn wait(&self, index: usize);
    /// The stage's input has ended: stopped workers go on, to see it end too.
    fn close(&self);
}

/// What one shipment carries. A lone packet travels without a `Vec`, so a slow trickle
/// allocates nothing.
pub(crate) enum Chunk<T> {
    One(Packet<T>),
    Many(Vec<Packet<T>>),
}

impl<T> Chunk<T> {
    fn len(&self) -> usize {
        match self {
            Chunk::One(_) => 1,
            Chunk::Many(v) => v.len(),
        }
    }
}

/// State of one hop shared by its senders and receivers.
#[derive(Debug)]
pub(crate) struct HopState {
    /// Packets in the channel: added after a chunk went in, subtracted when it comes out,
    /// so it may dip below zero for a moment (read through [`HopState::depth`]).
    queued: AtomicIsize,
    /// Senders ship every packet at once: the consumer's tasks are slow, or it has several
    /// workers and has not timed a task yet. A chunk taken by one worker of a slow stage
    /// would wait for it while the other workers idle.
    one_by_one: AtomicBool,
}

impl HopState {
    /// Packets queued now (never negative).
    pub(crate) fn depth(&self) -> usize {
        self.queued.load(Relaxed).max(0) as usize
    }
}

/// A hop holding at most `capacity` packets. `shared` says that the consumer runs several
/// workers: packets go one at a time until a worker has timed its task and found it fast.
pub(crate) fn hop<T>(capacity: usize, shared: bool) -> (Outlet<T>, Rx<T>) {
    let chunk = chunk_size(capacity.max(1));
    let slots = (capacity / chunk).max(1);
    let (tx, rx) = crossbeam_channel::bounded(slots);
    let state = Arc::new(HopState {
        queued: AtomicIsize::new(0),
        one_by_one: AtomicBool::new(shared),
    });
    (Outlet::new(tx, chunk, state.clone()), Rx::new(rx, state))
}
