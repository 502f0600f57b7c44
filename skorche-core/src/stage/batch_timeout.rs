//! `batch_timeout(n, d)`: groups consecutive items into `Vec`s of up to `n`, emitting a
//! partial batch once its oldest item has waited `d`.

use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;

use crate::error::PipelineError;
use crate::launch::{Launch, Runner};
use crate::order::Tag;
use crate::packet::Packet;
use crate::stage::send;

/// How long a partial batch of ordered items waits for more input before it is emitted
/// (as `batch` does: the reorder window may be waiting for one of its items).
const ORDERED_LINGER: Duration = Duration::from_millis(10);

pub(crate) struct BatchTimeoutRunner<T> {
    pub(crate) size: usize,
    pub(crate) timeout: Duration,
    pub(crate) _t: std::marker::PhantomData<fn(T)>,
}

impl<T: Send + 'static> Runner for BatchTimeoutRunner<T> {
    fn launch(self: Box<Self>, cx: &mut Launch<'_>) -> Result<(), PipelineError> {
        let (size, timeout) = (self.size.max(1), self.timeout);
        let mut rx = cx.input::<T>(0);
        let tx = cx.output::<Vec<T>>(0);
        cx.spawn(move |cx| {
            let tx = tx.open();
            let mut values: Vec<T> = Vec::with_capacity(size);
            let mut tags: Vec<Tag> = Vec::new();
            let mut first_seq = 0u64;
            // When the oldest item of the current batch arrived.
            let mut oldest = Instant::now();
            let flush = |values: &mut Vec<T>, tags: &mut Vec<Tag>, seq: u64, cx: &mut _| {
                if values.is_empty() {
                    return true;
                }
                let value = std::mem::replace(values, Vec::with_capacity(size));
                let tag = Tag::group(std::mem::take(tags));
                send(&tx, cx, Packet::Item { seq, tag, value })
            };
            loop {
                let packet = if values.is_empty() {
                    match rx.recv() {
                        Ok(p) => p,
                        Err(_) => break,
                    }
                } else {
                    let mut wait = (oldest + timeout).saturating_duration_since(Instant::now());
                    if tags.iter().any(Tag::is_ordered) {
                        wait = wait.min(ORDERED_LINGER);
                    }
                    // Blocks on the channel until an item comes or the time is up: no spin.
                    let next = if wait.is_zero() {
                        Err(RecvTimeoutError::Timeout)
                    } else {
                        rx.recv_timeout(wait)
                    };
                    match next {
                        Ok(p) => p,
                        Err(RecvTimeoutError::Timeout) => {
                            if cx.aborted() {
                                return;
                            }
                            // The input is slow: this batch goes now, not when the next
                            // chunk of output fills.
                            if !flush(&mut values, &mut tags, first_seq, cx) || !tx.flush() {
                                return;
                            }
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => break,
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
                            oldest = Instant::now();
                        }
                        values.push(value);
                        tags.push(tag);
                        if values.len() == size && !flush(&mut values, &mut tags, first_seq, cx) {
                            return;
                        }
                    }
                }
            }
            if !cx.aborted() {
                flush(&mut values, &mut tags, first_seq, cx);
            }
        });
        Ok(())
    }
}
