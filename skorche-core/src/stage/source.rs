//! A source: pulls an iterator lazily, one item per free slot downstream, until it ends,
//! the run aborts, or a graceful stop is requested (then it pulls nothing more, and what it
//! sent runs to the outputs).

use crate::error::{FailureKind, PipelineError};
use crate::exec::worker_cx::panic_message;
use crate::launch::{Launch, Runner};
use crate::order::Tag;
use crate::packet::Packet;
use crate::stage::send;

pub(crate) struct SourceRunner<I> {
    pub(crate) iter: I,
}

impl<I> Runner for SourceRunner<I>
where
    I: Iterator + Send + 'static,
    I::Item: Send + 'static,
{
    fn launch(self: Box<Self>, cx: &mut Launch<'_>) -> Result<(), PipelineError> {
        let tx = cx.output::<I::Item>(0);
        let mut iter = self.iter;
        cx.spawn(move |cx| {
            let tx = tx.open();
            let mut seq = 0u64;
            while !cx.aborted() {
                if cx.shared.is_draining() {
                    // A graceful stop: pull nothing more; what was sent runs to the end.
                    // An iterator known to be exhausted lost nothing.
                    if iter.size_hint().1 != Some(0) {
                        cx.shared.stop.source_cut();
                    }
                    break;
                }
                let next = cx.timed(|| {
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| iter.next()))
                });
                let value = match next {
                    Ok(Some(v)) => v,
                    Ok(None) => break,
                    Err(p) => {
                        cx.fail(Some(seq), FailureKind::Panic, panic_message(&*p));
                        break;
                    }
                };
                cx.local.items_in += 1;
                let packet = Packet::Item {
                    seq,
                    tag: Tag::NONE,
                    value,
                };
                if !send(&tx, cx, packet) {
                    break;
                }
                seq += 1;
            }
        });
        Ok(())
    }
}
