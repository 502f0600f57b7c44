//! `inspect`: shows each item to a callback and passes it on unchanged.

use std::sync::Arc;

use crate::error::PipelineError;
use crate::launch::{Launch, Runner};
use crate::packet::Packet;
use crate::stage::send;

pub(crate) type Look<T> = Arc<dyn Fn(&T) + Send + Sync>;

pub(crate) struct InspectRunner<T> {
    pub(crate) f: Look<T>,
}

impl<T: Send + 'static> Runner for InspectRunner<T> {
    fn launch(self: Box<Self>, cx: &mut Launch<'_>) -> Result<(), PipelineError> {
        cx.spawn_each(|cx| {
            let mut rx = cx.input::<T>(0);
            let tx = cx.output::<T>(0);
            let f = self.f.clone();
            move |cx| {
                let tx = tx.open();
                for packet in rx.iter() {
                    if cx.aborted() {
                        return;
                    }
                    if let Packet::Item { seq, value, .. } = &packet {
                        cx.local.items_in += 1;
                        let seq = *seq;
                        let look = || {
                            f(value);
                            Ok(())
                        };
                        if cx.call(seq, look).is_none() {
                            return;
                        }
                    }
                    if !send(&tx, cx, packet) {
                        return;
                    }
                }
            }
        });
        Ok(())
    }
}
