//! The sending side of a hop: [`Outlet`], the handle a stage is launched with, and [`Tx`],
//! the buffering sender a worker opens in its own thread.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use crossbeam_channel::{Sender, TrySendError};

use super::outbox::{self, Flush};
use super::{Chunk, HopState};
use crate::packet::Packet;
use crate::stats::block::Wait;
use crate::stats::wait::waiting;

/// A handle on a hop's sending side, to be moved into the thread that sends: it opens a
/// [`Tx`] there, or sends single packets directly.
pub(crate) struct Outlet<T> {
    tx: Sender<Chunk<T>>,
    chunk: usize,
    state: Arc<HopState>,
}

impl<T> Clone for Outlet<T> {
    fn clone(&self) -> Self {
        Outlet {
            tx: self.tx.clone(),
            chunk: self.chunk,
            state: self.state.clone(),
        }
    }
}

impl<T: Send + 'static> Outlet<T> {
    /// The buffering sender of the calling thread. It must stay in this thread: that is
    /// where its buffer is flushed before the thread blocks.
    pub(crate) fn open(self) -> Tx<T> {
        let inner = Rc::new(Buffered {
            buf: RefCell::new(Vec::new()),
            closed: std::cell::Cell::new(false),
            out: self,
        });
        let weak = Rc::downgrade(&inner);
        outbox::register(weak);
        Tx { inner }
    }

    /// Sends one packet on its own, now (for rare packets such as dead letters, sent from
    /// a thread that may not have opened this hop). `false`: the hop is closed.
    pub(crate) fn send_now(&self, packet: Packet<T>) -> bool {
        self.put(Chunk::One(packet))
    }
}

impl<T> Outlet<T> {
    pub(super) fn new(tx: Sender<Chunk<T>>, chunk: usize, state: Arc<HopState>) -> Self {
        Outlet { tx, chunk, state }
    }

    /// Puts a chunk in the channel; if that has to wait, everything else this thread holds
    /// is shipped first (as a thread sending packet by packet would have done).
    fn put(&self, chunk: Chunk<T>) -> bool {
        let n = chunk.len() as isize;
        match self.tx.try_send(chunk) {
            Ok(()) => {}
            Err(TrySendError::Full(chunk)) => {
                outbox::flush_pending();
                if waiting(Wait::Blocked, || self.tx.send(chunk)).is_err() {
                    return false;
                }
            }
            Err(TrySendError::Disconnected(_)) => return false,
        }
        self.state.queued.fetch_add(n, Relaxed);
        true
    }
}

/// A buffering sender, opened by [`Outlet::open`] in the thread that uses it.
pub(crate) struct Tx<T> {
    inner: Rc<Buffered<T>>,
}

struct Buffered<T> {
    buf: RefCell<Vec<Packet<T>>>,
    /// The consumer is gone: every later packet is dropped.
    closed: std::cell::Cell<bool>,
    out: Outlet<T>,
}

impl<T: Send + 'static> Tx<T> {
    /// Adds a packet to the chunk being built, shipping it when it is full or when the
    /// consumer takes packets one at a time. `false`: the consumer is gone.
    #[inline]
    pub(crate) fn send(&self, packet: Packet<T>) -> bool {
        let inner = &*self.inner;
        if inner.closed.get() {
            return false;
        }
        let mut buf = inner.buf.borrow_mut();
        buf.push(packet);
        if buf.len() < inner.out.chunk && !inner.out.state.one_by_one.load(Relaxed) {
            return true;
        }
        inner.ship(&mut buf)
    }

    /// Ships what is buffered now. `false`: the consumer is gone.
    pub(crate) fn flush(&self) -> bool {
        let inner = &*self.inner;
        let mut buf = inner.buf.borrow_mut();
        if !buf.is_empty() {
            inner.ship(&mut buf);
        }
        !inner.closed.get()
    }
}

impl<T> Buffered<T> {
    fn ship(&self, buf: &mut Vec<Packet<T>>) -> bool {
        let chunk = if buf.len() == 1 {
            // The buffer is kept for the next chunk: a trickle allocates nothing.
            Chunk::One(buf.pop().expect("one packet"))
        } else {
            Chunk::Many(std::mem::replace(buf, Vec::with_capacity(self.out.chunk)))
        };
        if !self.out.put(chunk) {
            self.closed.set(true);
            buf.clear();
            return false;
        }
        true
    }
}

impl<T: Send + 'static> Flush for Buffered<T> {
    fn flush_if_free(&self) {
        if let Ok(mut buf) = self.buf.try_borrow_mut() {
            if !buf.is_empty() {
                self.ship(&mut buf);
            }
        }
    }
}

impl<T> Drop for Buffered<T> {
    /// A worker that ends ships what it holds: the end of a stream, a graceful stop, and
    /// an aborted run (the supervisor drains the queues then) all end here.
    fn drop(&mut self) {
        let mut buf = std::mem::take(self.buf.get_mut());
        if !buf.is_empty() && !self.closed.get() {
            self.ship(&mut buf);
        }
    }
}
