//! The senders open in this thread, so that anything about to block can ship what they
//! hold first; and the pace of this thread's tasks, which its receivers tell their
//! producers.
//!
//! A [`Tx`](super::Tx) lives in one worker thread and its buffer is reachable from there
//! only; the receiver that is about to block is in the same thread, so a thread-local list
//! of weak handles is all it needs. No lock is taken per packet.

use std::cell::{Cell, RefCell};
use std::rc::Weak;

/// A sender whose buffer can be shipped from elsewhere in its thread.
pub(crate) trait Flush {
    /// Ships what the sender holds, unless the sender is in the middle of a send itself
    /// (then it is the one about to block, holding its own chunk).
    fn flush_if_free(&self);
}

thread_local! {
    static OPEN: RefCell<Vec<Weak<dyn Flush>>> = const { RefCell::new(Vec::new()) };
    /// Whether this thread's last timed task call was slow; `None` until one was timed.
    static PACE: Cell<Option<bool>> = const { Cell::new(None) };
}

/// Adds a sender of this thread to the list.
pub(crate) fn register(tx: Weak<dyn Flush>) {
    let _ = OPEN.try_with(|open| {
        let mut open = open.borrow_mut();
        open.retain(|w| w.strong_count() > 0);
        open.push(tx);
    });
}

/// Ships everything the senders of this thread hold. Called before this thread blocks, so
/// that no packet waits in a buffer while its thread sleeps.
pub(crate) fn flush_pending() {
    let _ = OPEN.try_with(|open| {
        // A shared borrow: shipping may block on a full queue and flush the others again.
        for tx in open.borrow().iter().filter_map(Weak::upgrade) {
            tx.flush_if_free();
        }
    });
}

/// Records how long this thread's last timed task call took (see `WorkerCx::timed`).
pub(crate) fn set_pace(slow: bool) {
    let _ = PACE.try_with(|p| p.set(Some(slow)));
}

/// Whether this thread's tasks are slow, if it has timed one.
pub(crate) fn pace() -> Option<bool> {
    PACE.try_with(Cell::get).ok().flatten()
}
