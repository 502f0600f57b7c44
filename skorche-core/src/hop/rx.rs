//! The receiving side of a hop: takes a whole chunk, hands its packets out one by one.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvError, RecvTimeoutError, TryRecvError};

use super::outbox;
use super::{Chunk, Gate, HopState};
use crate::packet::Packet;
use crate::stats::block::Wait;
use crate::stats::wait::waiting;

/// A receiver of packets. Each clone has its own chunk in hand: clones are for different
/// workers, and a packet goes to exactly one of them.
pub(crate) struct Rx<T> {
    rx: Receiver<Chunk<T>>,
    /// The rest of the chunk taken last.
    local: VecDeque<Packet<T>>,
    state: Arc<HopState>,
    /// The pace this receiver last told the senders (see [`HopState::one_by_one`]).
    told: Option<bool>,
    /// The autoscaler's gate and this worker's index, for a stage it sizes.
    gate: Option<(Arc<dyn Gate>, usize)>,
    /// Whether the gate holds this receiver back; if not, its owner retires on its own
    /// and the gate only learns here that the input ended.
    parks: bool,
}

impl<T> Clone for Rx<T> {
    fn clone(&self) -> Self {
        Rx::new(self.rx.clone(), self.state.clone())
    }
}

impl<T> Rx<T> {
    pub(super) fn new(rx: Receiver<Chunk<T>>, state: Arc<HopState>) -> Self {
        Rx {
            rx,
            local: VecDeque::new(),
            state,
            told: None,
            gate: None,
            parks: true,
        }
    }

    /// Makes this receiver, worker `index`'s, stop whenever `gate` says so.
    pub(crate) fn set_gate(&mut self, gate: Arc<dyn Gate>, index: usize) {
        self.gate = Some((gate, index));
    }

    /// Makes the gate set by [`Rx::set_gate`] never hold this receiver back: its owner
    /// stops by itself between chunks (a process stage's feeder, which then stops its
    /// worker process), and the gate still learns when the input ends.
    #[cfg(feature = "process")]
    pub(crate) fn never_park(&mut self) {
        self.parks = false;
    }

    /// Whether packets of the chunk taken last are still in hand.
    #[cfg(feature = "process")]
    pub(crate) fn holds(&self) -> bool {
        !self.local.is_empty()
    }

    /// Between chunks: waits while the autoscaler has stopped this worker, after shipping
    /// what its senders hold.
    #[inline]
    fn hold(&self) {
        if let Some((gate, index)) = self.gate.as_ref().filter(|_| self.parks) {
            if gate.stopped(*index) {
                outbox::flush_pending();
                waiting(Wait::Parked, || gate.wait(*index));
            }
        }
    }

    fn ended(&self) {
        if let Some((gate, _)) = &self.gate {
            gate.close();
        }
    }

    /// The next packet; blocks (after shipping what this thread's senders hold) until one
    /// comes. `Err`: every sender is gone and nothing is left.
    pub(crate) fn recv(&mut self) -> Result<Packet<T>, RecvError> {
        if let Some(p) = self.local.pop_front() {
            return Ok(p);
        }
        self.hold();
        match self.rx.try_recv() {
            Ok(chunk) => return Ok(self.unpack(chunk)),
            Err(TryRecvError::Disconnected) => {
                self.ended();
                return Err(RecvError);
            }
            Err(TryRecvError::Empty) => {}
        }
        outbox::flush_pending();
        match waiting(Wait::Idle, || self.rx.recv()) {
            Ok(chunk) => Ok(self.unpack(chunk)),
            Err(e) => {
                self.ended();
                Err(e)
            }
        }
    }

    /// The next packet if one is ready now.
    pub(crate) fn try_recv(&mut self) -> Result<Packet<T>, TryRecvError> {
        if let Some(p) = self.local.pop_front() {
            return Ok(p);
        }
        let chunk = self.rx.try_recv()?;
        Ok(self.unpack(chunk))
    }

    /// Like [`Rx::recv`], waiting at most `timeout`.
    pub(crate) fn recv_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<Packet<T>, RecvTimeoutError> {
        if self.local.is_empty() {
            self.hold();
        }
        match self.try_recv() {
            Ok(p) => return Ok(p),
            Err(TryRecvError::Disconnected) => {
                self.ended();
                return Err(RecvTimeoutError::Disconnected);
            }
            Err(TryRecvError::Empty) => {}
        }
        outbox::flush_pending();
        let chunk = waiting(Wait::Idle, || self.rx.recv_timeout(timeout))?;
        Ok(self.unpack(chunk))
    }

    /// Packets until every sender is gone.
    pub(crate) fn iter(&mut self) -> impl Iterator<Item = Packet<T>> + '_ {
        std::iter::from_fn(move || self.recv().ok())
    }

    /// Drops everything queued now; `true` once the hop is empty and every sender is gone.
    pub(crate) fn drain(&mut self) -> bool {
        self.local.clear();
        loop {
            match self.rx.try_recv() {
                Ok(chunk) => {
                    self.state.queued.fetch_sub(chunk.len() as isize, Relaxed);
                }
                Err(TryRecvError::Empty) => return false,
                Err(TryRecvError::Disconnected) => return true,
            }
        }
    }

    /// The hop's shared state (for its queue depth).
    pub(crate) fn state(&self) -> Arc<HopState> {
        self.state.clone()
    }

    fn unpack(&mut self, chunk: Chunk<T>) -> Packet<T> {
        self.state.queued.fetch_sub(chunk.len() as isize, Relaxed);
        self.tell_pace();
        match chunk {
            Chunk::One(p) => p,
            Chunk::Many(packets) => {
                // `VecDeque::from(Vec)` reuses the allocation: no copy.
                self.local = VecDeque::from(packets);
                self.local.pop_front().expect("a chunk is never empty")
            }
        }
    }

    /// Once per chunk: if this thread's tasks turned slow (or fast), the senders start (or
    /// stop) shipping packets one at a time.
    fn tell_pace(&mut self) {
        let pace = outbox::pace();
        if pace.is_some() && pace != self.told {
            self.told = pace;
            self.state.one_by_one.store(pace == Some(true), Relaxed);
        }
    }
}
