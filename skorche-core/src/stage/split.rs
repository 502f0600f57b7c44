//! `split` and `split_by`: each item goes to exactly one of N output queues.

use std::sync::Arc;

use crate::error::{FailureKind, PipelineError};
use crate::launch::{Launch, Runner};
use crate::packet::Packet;
use crate::stage::send;

pub(crate) type KeyFn<T> = Arc<dyn Fn(&T) -> usize + Send + Sync>;

pub(crate) struct SplitRunner<T> {
    pub(crate) key: KeyFn<T>,
    pub(crate) ways: usize,
}

impl<T: Send + 'static> Runner for SplitRunner<T> {
    fn launch(self: Box<Self>, cx: &mut Launch<'_>) -> Result<(), PipelineError> {
        let ways = self.ways;
        cx.spawn_each(|cx| {
            let mut rx = cx.input::<T>(0);
            let txs: Vec<_> = (0..ways).map(|i| cx.output::<T>(i)).collect();
            let key = self.key.clone();
            move |cx| {
                let txs: Vec<_> = txs.into_iter().map(|tx| tx.open()).collect();
                for packet in rx.iter() {
                    if cx.aborted() {
                        return;
                    }
                    let (seq, tag, value) = match packet.into_control::<T>() {
                        // A marker or a skip belongs to every branch, each copy carrying
                        // its share of the position.
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
                    let Some(branch) = cx.call(seq, || Ok(key(&value))) else {
                        return;
                    };
                    if branch >= ways {
                        return cx.fail(
                            Some(seq),
                            FailureKind::Task,
                            format!(
                                "split key {branch} is out of range: the split has {ways} outputs"
                            ),
                        );
                    }
                    for (i, tx) in txs.iter().enumerate() {
                        if i != branch && tag.is_ordered() {
                            // The other branches learn that this position is not theirs.
                            if !send(tx, cx, Packet::Skip(tag.share(ways))) {
                                return;
                            }
                        }
                    }
                    let out = Packet::Item {
                        seq,
                        tag: tag.share(ways),
                        value,
                    };
                    if !send(&txs[branch], cx, out) {
                        return;
                    }
                }
            }
        });
        Ok(())
    }
}
