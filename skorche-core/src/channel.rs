//! The bounded channels between stages, typed and erased.

use std::any::Any;

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::packet::Packet;

/// A channel of `Packet<T>` with its type erased, plus the typed helpers the supervisor
/// needs without knowing `T`.
pub(crate) struct ErasedChannel {
    pub(crate) chan: Box<dyn Any + Send>,
    /// Drops whatever is queued; returns `true` once the channel is empty and disconnected.
    pub(crate) drain: Box<dyn FnMut() -> bool + Send>,
    /// The number of packets queued now.
    pub(crate) depth: Box<dyn Fn() -> usize + Send>,
    /// A boxed `Receiver<Packet<T>>` for a declared output.
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
    pub(crate) tx: Option<Sender<Packet<T>>>,
    pub(crate) rx: Receiver<Packet<T>>,
}

pub(crate) fn make_channel<T: Send + 'static>(capacity: usize) -> ErasedChannel {
    let (tx, rx) = bounded::<Packet<T>>(capacity);
    let drain_rx = rx.clone();
    let depth_rx = rx.clone();
    ErasedChannel {
        chan: Box::new(Channel { tx: Some(tx), rx }),
        drain: Box::new(move || loop {
            match drain_rx.try_recv() {
                Ok(_) => continue,
                Err(crossbeam_channel::TryRecvError::Empty) => return false,
                Err(crossbeam_channel::TryRecvError::Disconnected) => return true,
            }
        }),
        depth: Box::new(move || depth_rx.len()),
        take_rx: |c| Box::new(typed::<T>(c).rx.clone()),
        discard: |c| {
            let rx = typed::<T>(c).rx.clone();
            Box::new(move || for _ in rx.iter() {})
        },
        close: |c| typed::<T>(c).tx = None,
    }
}
