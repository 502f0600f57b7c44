//! Timing waits: the only place a worker reads the clock for its load figures.
//!
//! A queue operation that would block (an empty input, a full output) is the slow path
//! already: a park and a wake-up cost microseconds, beside which two clock reads are
//! nothing. The fast path (an item ready, room to send) reads no clock at all. The block
//! to charge is found through a thread-local set by the worker when it starts, so the hops
//! need not know which stage they serve.

use std::cell::RefCell;
use std::time::Instant;

use super::block::{Block, Wait};

struct Current {
    block: Block,
    epoch: Instant,
}

thread_local! {
    static CURRENT: RefCell<Option<Current>> = const { RefCell::new(None) };
}

/// Makes `block` the one this thread's waits are charged to (`None`: stop timing waits).
pub(crate) fn install(block: Option<(Block, Instant)>) {
    let _ = CURRENT.try_with(|c| {
        *c.borrow_mut() = block.map(|(block, epoch)| Current { block, epoch });
    });
}

/// Runs `f`, a call that blocks, charging its duration to this thread's worker as `kind`.
#[inline]
pub(crate) fn waiting<R>(kind: Wait, f: impl FnOnce() -> R) -> R {
    crate::wait_hook::before_wait();
    let mut f = Some(f);
    let timed = CURRENT.try_with(|c| {
        // A shared borrow: the wait may ship other senders' chunks, which may wait too.
        let cur = c.borrow();
        let cur = cur.as_ref()?;
        let start = Instant::now();
        let since = start.saturating_duration_since(cur.epoch).as_nanos() as u64;
        cur.block.begin_wait(kind, since);
        let r = (f.take().expect("called once"))();
        cur.block.end_wait(kind, start.elapsed().as_nanos() as u64);
        Some(r)
    });
    match timed {
        Ok(Some(r)) => r,
        _ => (f.take().expect("not called yet"))(),
    }
}
