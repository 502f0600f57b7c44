//! `flat_map` and `unbatch`: zero or more outputs per input, kept together and in order.

use std::sync::Arc;

use crate::error::{BoxError, FailureKind, PipelineError};
use crate::exec::worker_cx::{panic_message, WorkerCx};
use crate::failure::attempt::{dropped, task_fault, Attempt, StageGuard};
use crate::failure::policy::StagePolicy;
use crate::hop::Tx;
use crate::launch::{Launch, Runner};
use crate::order::Tag;
use crate::packet::Packet;
use crate::stage::send;

pub(crate) type FlatFn<T, I> = Arc<dyn Fn(T) -> Result<I, BoxError> + Send + Sync>;

pub(crate) struct FlatMapRunner<T, I> {
    pub(crate) f: FlatFn<T, I>,
    /// The failure policy declared on the input; `None`: fail fast.
    pub(crate) failure: Option<StagePolicy>,
}

impl<T, I> Runner for FlatMapRunner<T, I>
where
    T: Send + 'static,
    I: IntoIterator + 'static,
    I::Item: Send + 'static,
{
    fn launch(self: Box<Self>, cx: &mut Launch<'_>) -> Result<(), PipelineError> {
        let guard = self.failure.as_ref().map(|p| StageGuard::<T>::new(p, cx));
        cx.spawn_each(|cx| {
            let mut rx = cx.input::<T>(0);
            let tx = cx.output::<I::Item>(0);
            let f = self.f.clone();
            let mut guard = guard.as_ref().map(|g| g.worker(cx));
            move |cx| {
                let tx = tx.open();
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
                    let sent = match &mut guard {
                        None => {
                            let Some(iter) = cx.call(seq, || f(value)) else {
                                return;
                            };
                            emit(&tx, cx, seq, tag, iter.into_iter())
                        }
                        // Under a policy an attempt includes running the iterator: its
                        // outputs are collected first, so a failed attempt sends none.
                        Some(g) => {
                            let attempt = |x| {
                                f(x).map(|i| i.into_iter().collect::<Vec<_>>())
                                    .map_err(task_fault)
                            };
                            match g.run(cx, seq, value, attempt) {
                                Attempt::Done(outputs) => {
                                    emit(&tx, cx, seq, tag, outputs.into_iter())
                                }
                                Attempt::Dropped => match dropped(tag) {
                                    Some(skip) => send(&tx, cx, skip),
                                    None => true,
                                },
                                Attempt::Stop => return,
                            }
                        }
                    };
                    if !sent {
                        return;
                    }
                }
                if let Some(g) = &guard {
                    g.finish(cx);
                }
            }
        });
        Ok(())
    }

    fn with_failure(self: Box<Self>, policy: StagePolicy) -> Option<Box<dyn Runner>> {
        Some(Box::new(FlatMapRunner {
            f: self.f,
            failure: Some(policy),
        }))
    }
}

/// Sends the outputs of one input, in order, at child positions of its own; `false` means
/// the run is over for this worker (a send failed, or the iterator panicked, which fails
/// the stage).
pub(crate) fn emit<X: Send + 'static>(
    tx: &Tx<X>,
    cx: &mut WorkerCx,
    seq: u64,
    tag: Tag,
    iter: impl Iterator<Item = X>,
) -> bool {
    let mut iter = iter.peekable();
    let mut index = 0u64;
    loop {
        // The iterator may be lazy: its work counts as busy time, and a panic inside it is
        // the task's panic.
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
                cx.fail(Some(seq), FailureKind::Panic, panic_message(&*p));
                return false;
            }
        };
        let out = Packet::Item {
            seq,
            tag: tag.child(index, last),
            value,
        };
        if !send(tx, cx, out) {
            return false;
        }
        index += 1;
    }
    if let Some(members) = tag.members() {
        // A batch that came back shorter: the missing members' positions stay empty, so
        // `order load` does not wait for them.
        for m in members.iter().skip(index as usize) {
            if !send(tx, cx, Packet::Skip(m.clone())) {
                return false;
            }
        }
        true
    } else if index == 0 && tag.is_ordered() {
        send(tx, cx, Packet::Skip(tag))
    } else {
        true
    }
}
