//! `window(size, stride)`: the last `size` items, every `stride` items (sliding windows when
//! `stride < size`, tumbling ones when they are equal, hopping ones with gaps when larger).

use std::collections::VecDeque;

use crate::error::PipelineError;
use crate::launch::{Launch, Runner};
use crate::packet::Packet;
use crate::stage::send;

pub(crate) struct WindowRunner<T> {
    pub(crate) size: usize,
    pub(crate) stride: usize,
    pub(crate) _t: std::marker::PhantomData<fn(T)>,
}

impl<T: Clone + Send + 'static> Runner for WindowRunner<T> {
    fn launch(self: Box<Self>, cx: &mut Launch<'_>) -> Result<(), PipelineError> {
        let (size, stride) = (self.size.max(1), self.stride.max(1));
        let mut rx = cx.input::<T>(0);
        let tx = cx.output::<Vec<T>>(0);
        cx.spawn(move |cx| {
            let tx = tx.open();
            // The items of the window being filled, with the seq of the first one.
            let mut held: VecDeque<(u64, T)> = VecDeque::with_capacity(size);
            // Items to drop before the next window starts (when `stride > size`).
            let mut gap = 0usize;
            for packet in rx.iter() {
                if cx.aborted() {
                    return;
                }
                let (seq, tag, value) = match packet.into_control::<Vec<T>>() {
                    // A marker passes where it comes: after every window that ended before it.
                    Ok(control) => {
                        if !send(&tx, cx, control) {
                            return;
                        }
                        continue;
                    }
                    Err(item) => item,
                };
                cx.local.items_in += 1;
                let out = if gap > 0 {
                    gap -= 1;
                    None
                } else {
                    held.push_back((seq, value));
                    (held.len() == size).then(|| {
                        // The first `stride` items leave the window: moved, not cloned.
                        let first_seq = held[0].0;
                        let leaving = stride.min(size);
                        let mut window = Vec::with_capacity(size);
                        window.extend(held.drain(..leaving).map(|(_, v)| v));
                        window.extend(held.iter().map(|(_, v)| v.clone()));
                        gap = stride.saturating_sub(size);
                        (first_seq, window)
                    })
                };
                // A window takes the place of the item that completed it; inside an ordered
                // section every other item leaves an empty position.
                let packet = match out {
                    Some((seq, value)) => Packet::Item { seq, tag, value },
                    None if tag.is_ordered() => Packet::Skip(tag),
                    None => continue,
                };
                if !send(&tx, cx, packet) {
                    return;
                }
            }
        });
        Ok(())
    }
}
