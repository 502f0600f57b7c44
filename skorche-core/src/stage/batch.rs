//! `batch(n)`: groups consecutive items into `Vec`s of `n` (the last one may be shorter).
//! `unbatch` is a `flat_map` over the `Vec`.

use crate::error::PipelineError;
use crate::launch::{Launch, Runner};
use crate::order::Tag;
use crate::packet::Packet;
use crate::stage::send;

/// How long a partial batch of ordered items waits for more input before it is emitted.
const ORDERED_LINGER: std::time::Duration = std::time::Duration::from_millis(10);

pub(crate) struct BatchRunner {
    pub(crate) size: usize,
}

impl BatchRunner {
    pub(crate) fn launch_typed<T: Send + 'static>(
        self,
        cx: &mut Launch<'_>,
    ) -> Result<(), PipelineError> {
        let size = self.size.max(1);
        let mut rx = cx.input::<T>(0);
        let tx = cx.output::<Vec<T>>(0);
        cx.spawn(move |cx| {
            let tx = tx.open();
            let mut values: Vec<T> = Vec::with_capacity(size);
            let mut tags: Vec<Tag> = Vec::new();
            let mut first_seq = 0u64;
            let flush = |values: &mut Vec<T>, tags: &mut Vec<Tag>, seq: u64, cx: &mut _| {
                if values.is_empty() {
                    return true;
                }
                let value = std::mem::replace(values, Vec::with_capacity(size));
                let tag = Tag::group(std::mem::take(tags));
                send(&tx, cx, Packet::Item { seq, tag, value })
            };
            loop {
                // Inside an ordered section a partial batch may hold the very item the
                // reorder window waits for: flush it when the input goes quiet, so a
                // bounded window can never stall the run.
                let holding_ordered = tags.iter().any(Tag::is_ordered);
                let packet = if holding_ordered {
                    match rx.recv_timeout(ORDERED_LINGER) {
                        Ok(p) => p,
                        Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                            if !flush(&mut values, &mut tags, first_seq, cx) {
                                return;
                            }
                            continue;
                        }
                        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
                    }
                } else {
                    match rx.recv() {
                        Ok(p) => p,
                        Err(_) => break,
                    }
                };
                if cx.aborted() {
                    return;
                }
                match packet.into_control::<Vec<T>>() {
                    Ok(Packet::Marker { tag, id }) => {
                        // A marker is never put inside a batch: the batch before it ends here.
                        if !flush(&mut values, &mut tags, first_seq, cx)
                            || !send(&tx, cx, Packet::Marker { tag, id })
                        {
                            return;
                        }
                    }
                    Ok(control) => {
                        if !send(&tx, cx, control) {
                            return;
                        }
                    }
                    Err((seq, tag, value)) => {
                        cx.local.items_in += 1;
                        if values.is_empty() {
                            first_seq = seq;
                        }
                        values.push(value);
                        tags.push(tag);
                        if values.len() == size && !flush(&mut values, &mut tags, first_seq, cx) {
                            return;
                        }
                    }
                }
            }
            flush(&mut values, &mut tags, first_seq, cx);
        });
        Ok(())
    }
}

pub(crate) struct TypedBatch<T> {
    pub(crate) inner: BatchRunner,
    pub(crate) _t: std::marker::PhantomData<fn(T)>,
}

impl<T: Send + 'static> Runner for TypedBatch<T> {
    fn launch(self: Box<Self>, cx: &mut Launch<'_>) -> Result<(), PipelineError> {
        self.inner.launch_typed::<T>(cx)
    }
}
