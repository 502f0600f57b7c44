//! `flat_map` and `unbatch`: zero or more outputs per input, kept together and in order.

use std::sync::Arc;

use crate::error::{BoxError, FailureKind, PipelineError};
use crate::exec::worker_cx::panic_message;
use crate::launch::{Launch, Runner};
use crate::packet::Packet;
use crate::stage::send;

pub(crate) type FlatFn<T, I> = Arc<dyn Fn(T) -> Result<I, BoxError> + Send + Sync>;

pub(crate) struct FlatMapRunner<T, I> {
    pub(crate) f: FlatFn<T, I>,
}

impl<T, I> Runner for FlatMapRunner<T, I>
where
    T: Send + 'static,
    I: IntoIterator + 'static,
    I::Item: Send + 'static,
{
    fn launch(self: Box<Self>, cx: &mut Launch<'_>) -> Result<(), PipelineError> {
        cx.spawn_each(|cx| {
            let rx = cx.input::<T>(0);
            let tx = cx.output::<I::Item>(0);
            let f = self.f.clone();
            move |cx| {
                for packet in rx.iter() {
                    if cx.aborted() {
                        return;
                    }
                    let (seq, tag, value) = match packet.into_control::<I::Item>() {
                        Ok(control) => {
                            if !send(&tx, cx, control) {
                                return;
                            }
                            continue;
                        }
                        Err(item) => item,
                    };
                    cx.local.items_in += 1;
                    let Some(iter) = cx.call(seq, || f(value)) else {
                        return;
                    };
                    let mut iter = iter.into_iter().peekable();
                    let mut index = 0u64;
                    loop {
                        // The iterator may be lazy: its work counts as busy time, and a
                        // panic inside it is the task's panic.
                        let next = cx.timed(|| {
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                let v = iter.next();
                                let last = v.is_some() && tag.is_ordered() && iter.peek().is_none();
                                (v, last)
                            }))
                        });
                        let (value, last) = match next {
                            Ok((Some(v), last)) => (v, last),
                            Ok((None, _)) => break,
                            Err(p) => {
                                return cx.fail(Some(seq), FailureKind::Panic, panic_message(&*p))
                            }
                        };
                        let out = Packet::Item {
                            seq,
                            tag: tag.child(index, last),
                            value,
                        };
                        if !send(&tx, cx, out) {
                            return;
                        }
                        index += 1;
                    }
                    if let Some(members) = tag.members() {
                        // A batch that came back shorter: the missing members' positions
                        // stay empty, so `order load` does not wait for them.
                        for m in members.iter().skip(index as usize) {
                            if !send(&tx, cx, Packet::Skip(m.clone())) {
                                return;
                            }
                        }
                    } else if index == 0 && tag.is_ordered() && !send(&tx, cx, Packet::Skip(tag)) {
                        return;
                    }
                }
            }
        });
        Ok(())
    }
}
