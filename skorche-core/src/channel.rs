//! The hops between stages, typed and erased.

use std::any::Any;

use crate::hop::{hop, Outlet, Rx};

/// A hop of `Packet<T>` with its type erased, plus the typed helpers the supervisor needs
/// without knowing `T`.
pub(crate) struct ErasedChannel {
    pub(crate) chan: Box<dyn Any + Send>,
    /// Drops whatever is queued; returns `true` once the channel is empty and disconnected.
    pub(crate) drain: Box<dyn FnMut() -> bool + Send>,
    /// The number of packets queued now.
    pub(crate) depth: crate::stats::live::Depth,
    /// A boxed `Rx<T>` for a declared output.
    pub(crate) take_rx: fn(&mut ErasedChannel) -> Box<dyn Any + Send>,
    /// A body that consumes and drops every packet until the queue ends.
    pub(crate) discard: fn(&mut ErasedChannel) -> Box<dyn FnOnce() + Send>,
    /// Drops the channel's own sender, so the queue ends when its producers exit.
    pub(crate) close: fn(&mut ErasedChannel),
}

fn typed<T: Send + 'static>(c: &mut ErasedChannel) -> &mut Channel<T> {
    c.chan
        .downcast_mut::<Channel<T>>()
        .expect("an erased channel keeps the type it was made with")
}

pub(crate) struct Channel<T> {
    pub(crate) tx: Option<Outlet<T>>,
    pub(crate) rx: Rx<T>,
}

/// A channel of at most `capacity` packets; `shared`: its consumer runs several workers.
pub(crate) fn make_channel<T: Send + 'static>(capacity: usize, shared: bool) -> ErasedChannel {
    let (tx, rx) = hop::<T>(capacity, shared);
    let mut drain_rx = rx.clone();
    let state = rx.state();
    ErasedChannel {
        chan: Box::new(Channel { tx: Some(tx), rx }),
        drain: Box::new(move || drain_rx.drain()),
        depth: std::sync::Arc::new(move || state.depth()),
        take_rx: |c| Box::new(typed::<T>(c).rx.clone()),
        discard: |c| {
            let mut rx = typed::<T>(c).rx.clone();
            Box::new(move || for _ in rx.iter() {})
        },
        close: |c| typed::<T>(c).tx = None,
    }
}
