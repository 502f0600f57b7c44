//! `filter`: keeps the items a predicate accepts.

use std::sync::Arc;

use crate::error::PipelineError;
use crate::launch::{Launch, Runner};
use crate::packet::Packet;
use crate::stage::send;

pub(crate) type Predicate<T> = Arc<dyn Fn(&T) -> bool + Send + Sync>;

pub(crate) struct FilterRunner<T> {
    pub(crate) pred: Predicate<T>,
}

impl<T: Send + 'static> Runner for FilterRunner<T> {
    fn launch(self: Box<Self>, cx: &mut Launch<'_>) -> Result<(), PipelineError> {
        cx.spawn_each(|cx| {
            let mut rx = cx.input::<T>(0);
            let tx = cx.output::<T>(0);
            let pred = self.pred.clone();
            move |cx| {
                let tx = tx.open();
                for packet in rx.iter() {
                    if cx.aborted() {
                        return;
                    }
                    let out = match packet.into_control::<T>() {
                        Ok(control) => control,
                        Err((seq, tag, value)) => {
                            cx.local.items_in += 1;
                            let Some(keep) = cx.call(seq, || Ok(pred(&value))) else {
                                return;
                            };
                            if keep {
                                Packet::Item { seq, tag, value }
                            } else if tag.is_ordered() {
                                // `order load` must learn that this position stays empty.
                                Packet::Skip(tag)
                            } else {
                                continue;
                            }
                        }
                    };
                    if !send(&tx, cx, out) {
                        return;
                    }
                }
            }
        });
        Ok(())
    }
}
