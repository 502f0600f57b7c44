//! `order save` and `order load`: tag packets with positions, and restore their order.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, SendTimeoutError, Sender, TrySendError};

use crate::error::PipelineError;
use crate::launch::{Launch, Runner};
use crate::order::Tag;
use crate::packet::Packet;
use crate::reorder::Reorder;
use crate::stage::send;

/// How long a blocked save point waits before it checks whether the run was stopped.
const ABORT_POLL: Duration = Duration::from_millis(20);

/// Tags every packet with the next root position, admitting at most `window` packets
/// ahead of the matching load.
pub(crate) struct SaveRunner<T> {
    pub(crate) credits: Sender<()>,
    pub(crate) _t: std::marker::PhantomData<fn(T)>,
}

impl<T: Send + 'static> Runner for SaveRunner<T> {
    fn launch(self: Box<Self>, cx: &mut Launch<'_>) -> Result<(), PipelineError> {
        let mut rx = cx.input::<T>(0);
        let tx = cx.output::<T>(0);
        let credits = self.credits;
        cx.spawn(move |cx| {
            let tx = tx.open();
            let mut index = 0u64;
            for packet in rx.iter() {
                let packet = match packet {
                    Packet::Item { seq, value, .. } => {
                        cx.local.items_in += 1;
                        Packet::Item {
                            seq,
                            tag: Tag::root(index),
                            value,
                        }
                    }
                    Packet::Marker { id, .. } => Packet::Marker {
                        tag: Tag::root(index),
                        id,
                    },
                    // A skip of an enclosing section has no position in this one.
                    Packet::Skip(_) => continue,
                };
                // One credit per position: the load gives it back when the position
                // leaves its reorder buffer, so at most `window` are ever in between.
                match credits.try_send(()) {
                    Ok(()) => {}
                    Err(TrySendError::Disconnected(())) => return,
                    Err(TrySendError::Full(())) => {
                        // The window is full: the positions sent so far must reach the
                        // load before this thread waits for it to give credits back.
                        crate::hop::outbox::flush_pending();
                        let mut credit = ();
                        loop {
                            match credits.send_timeout(credit, ABORT_POLL) {
                                Ok(()) => break,
                                Err(SendTimeoutError::Timeout(c)) if !cx.aborted() => credit = c,
                                Err(_) => return,
                            }
                        }
                    }
                }
                if !send(&tx, cx, packet) {
                    return;
                }
                index += 1;
            }
        });
        Ok(())
    }
}

/// How a load gives the save point's credits back.
pub(crate) struct Credits {
    pub(crate) rx: Receiver<()>,
    /// For a point forked into several loads ([`crate::OrderPoint::fork`]): the positions
    /// each load completed, shared by them, and which one this load is.
    pub(crate) fork: Option<(Arc<Mutex<Forked>>, usize)>,
}

/// What the loads of a forked point completed.
#[derive(Debug, Default)]
pub(crate) struct Forked {
    /// Positions completed, per load.
    pub(crate) completed: Vec<u64>,
    /// Credits given back: the positions every load has completed.
    pub(crate) returned: u64,
}

impl Credits {
    /// This load completed `n` more positions. A position's credit goes back once every
    /// load of the point completed it: the slowest branch holds the window.
    fn complete(&self, n: usize) {
        if n == 0 {
            return;
        }
        let Some((forked, me)) = &self.fork else {
            for _ in 0..n {
                let _ = self.rx.try_recv();
            }
            return;
        };
        let mut f = forked.lock().unwrap_or_else(|e| e.into_inner());
        f.completed[*me] += n as u64;
        let all = f.completed.iter().copied().min().unwrap_or(0);
        while f.returned < all {
            let _ = self.rx.try_recv();
            f.returned += 1;
        }
    }
}

/// Holds early packets back until every earlier position has passed.
pub(crate) struct LoadRunner<T> {
    pub(crate) credits: Credits,
    pub(crate) target: crate::order::Share,
    /// Largest number of items the reorder buffer held, for tests and the report.
    pub(crate) high_water: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    pub(crate) _t: std::marker::PhantomData<fn(T)>,
}

impl<T: Send + 'static> Runner for LoadRunner<T> {
    fn launch(self: Box<Self>, cx: &mut Launch<'_>) -> Result<(), PipelineError> {
        let mut rx = cx.input::<T>(0);
        let tx = cx.output::<T>(0);
        let credits = self.credits;
        let high_water = self.high_water;
        let target = self.target;
        cx.spawn(move |cx| {
            let tx = tx.open();
            let mut buffer = Reorder::<T>::new(target);
            for packet in rx.iter() {
                if cx.aborted() {
                    return;
                }
                cx.local.items_in += u64::from(matches!(packet, Packet::Item { .. }));
                let completed = buffer.push(packet);
                high_water.fetch_max(buffer.held_items(), std::sync::atomic::Ordering::Relaxed);
                credits.complete(completed);
                while let Some(p) = buffer.pop() {
                    let Some(p) = untag(p) else { continue };
                    if !send(&tx, cx, p) {
                        return;
                    }
                }
            }
            let rest = buffer.finish();
            if !rest.is_empty() && !cx.aborted() {
                tracing::warn!(
                    stage = %cx.stats.name,
                    packets = rest.len(),
                    "ordered section ended with incomplete positions; passing them on in position order"
                );
            }
            for p in rest.into_iter().filter_map(untag) {
                if !send(&tx, cx, p) {
                    return;
                }
            }
        });
        Ok(())
    }
}

/// After `order load` the packets are outside the section again; skips have done their job.
fn untag<T>(p: Packet<T>) -> Option<Packet<T>> {
    match p {
        Packet::Item { seq, value, .. } => Some(Packet::Item {
            seq,
            tag: Tag::NONE,
            value,
        }),
        Packet::Marker { id, .. } => Some(Packet::Marker { tag: Tag::NONE, id }),
        Packet::Skip(_) => None,
    }
}
