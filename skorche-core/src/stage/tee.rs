//! `tee`: every item (and every control packet) goes to each of N output queues.

use crate::error::PipelineError;
use crate::launch::{Launch, Runner};
use crate::packet::Packet;
use crate::stage::send;

pub(crate) struct TeeRunner<T> {
    pub(crate) ways: usize,
    pub(crate) _t: std::marker::PhantomData<fn(T)>,
}

impl<T: Clone + Send + 'static> Runner for TeeRunner<T> {
    fn launch(self: Box<Self>, cx: &mut Launch<'_>) -> Result<(), PipelineError> {
        let ways = self.ways;
        let mut rx = cx.input::<T>(0);
        let txs: Vec<_> = (0..ways).map(|i| cx.output::<T>(i)).collect();
        cx.spawn(move |cx| {
            let txs: Vec<_> = txs.into_iter().map(|tx| tx.open()).collect();
            for packet in rx.iter() {
                if cx.aborted() {
                    return;
                }
                let (seq, tag, value) = match packet.into_control::<T>() {
                    // A marker or a skip belongs to every branch, as after a split.
                    Ok(control) => {
                        for tx in &txs {
                            if !send(tx, cx, control.shared_control(ways)) {
                                return;
                            }
                        }
                        continue;
                    }
                    Err(item) => item,
                };
                cx.local.items_in += 1;
                // One branch after the other: a full branch holds the others back (bounded),
                // and every branch sees the items in the same order.
                let mut value = Some(value);
                for (i, tx) in txs.iter().enumerate() {
                    let copy = if i + 1 == ways {
                        value.take().expect("the last branch takes the item itself")
                    } else {
                        let original = value.as_ref().expect("kept for the last branch");
                        // A clone is user code: its time is busy time, a panic fails the stage.
                        match cx.call(seq, || Ok(original.clone())) {
                            Some(c) => c,
                            None => return,
                        }
                    };
                    let out = Packet::Item {
                        seq,
                        tag: tag.lane(ways, i),
                        value: copy,
                    };
                    if !send(tx, cx, out) {
                        return;
                    }
                }
            }
        });
        Ok(())
    }
}
