//! `zip`: pairs the items of two queues one to one.

use std::marker::PhantomData;

use crate::error::{FailureKind, PipelineError};
use crate::launch::{Launch, Runner};
use crate::packet::Packet;
use crate::stage::send;

pub(crate) struct ZipRunner<A, B>(pub(crate) PhantomData<fn(A, B)>);

impl<A: Send + 'static, B: Send + 'static> Runner for ZipRunner<A, B> {
    fn launch(self: Box<Self>, cx: &mut Launch<'_>) -> Result<(), PipelineError> {
        let mut ra = cx.input::<A>(0);
        let mut rb = cx.input::<B>(1);
        let tx = cx.output::<(A, B)>(0);
        cx.spawn(move |cx| {
            let tx = tx.open();
            // Control packets of the right side are dropped: the pair keeps the left
            // side's position, so the left side's markers and skips describe the stream.
            let mut next_b = || loop {
                match rb.recv() {
                    Ok(Packet::Item { value, .. }) => return Some(value),
                    Ok(_) => continue,
                    Err(_) => return None,
                }
            };
            while let Ok(packet) = ra.recv() {
                if cx.aborted() {
                    return;
                }
                match packet.into_control::<(A, B)>() {
                    Ok(control) => {
                        if !send(&tx, cx, control) {
                            return;
                        }
                    }
                    Err((seq, tag, a)) => {
                        cx.local.items_in += 1;
                        let Some(b) = next_b() else {
                            if cx.shared.is_draining() {
                                // Stopped sources end unevenly: the unpaired rest is
                                // dropped, read to its end so its producers never block.
                                ra.iter().for_each(drop);
                                return;
                            }
                            return cx.fail(
                                Some(seq),
                                FailureKind::Invalid,
                                "zip: the right input ended before the left one".into(),
                            );
                        };
                        cx.local.items_in += 1;
                        if !send(
                            &tx,
                            cx,
                            Packet::Item {
                                seq,
                                tag,
                                value: (a, b),
                            },
                        ) {
                            return;
                        }
                    }
                }
            }
            if !cx.aborted() && next_b().is_some() {
                if cx.shared.is_draining() {
                    // As above, the other way round.
                    while next_b().is_some() {}
                    return;
                }
                cx.fail(
                    None,
                    FailureKind::Invalid,
                    "zip: the left input ended before the right one".into(),
                );
            }
        });
        Ok(())
    }
}
