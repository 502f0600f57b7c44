//! `fold`, `scan`, `stateful`: one worker carrying a state along the whole stream, with
//! zero or more outputs per input and final outputs at its end.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::{BoxError, FailureKind, PipelineError, StageFailure};
use crate::exec::worker_cx::panic_message;
use crate::launch::{Launch, Runner};
use crate::order::Tag;
use crate::packet::Packet;
use crate::stage::flat_map::emit;
use crate::stage::send;

/// Where a stateful stage ([`Queue::stateful`](crate::Queue::stateful)) puts its outputs:
/// zero, one or several per input, and more at the end of the stream.
///
/// The outputs of one call go downstream, in order, when the call returns.
pub struct Emitter<U> {
    out: Vec<U>,
}

impl<U> Emitter<U> {
    pub(crate) fn new() -> Self {
        Emitter { out: Vec::new() }
    }

    /// Puts `value` downstream, after the values emitted before it.
    pub fn emit(&mut self, value: U) {
        self.out.push(value);
    }
}

impl<U> Extend<U> for Emitter<U> {
    fn extend<I: IntoIterator<Item = U>>(&mut self, iter: I) {
        self.out.extend(iter);
    }
}

impl<U> std::fmt::Debug for Emitter<U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emitter")
            .field("pending", &self.out.len())
            .finish()
    }
}

/// What a stateful stage does with each item and at the end of the stream.
pub(crate) trait StreamLogic<T, U>: Send {
    fn item(&mut self, x: T, out: &mut Emitter<U>) -> Result<(), BoxError>;
    fn end(self: Box<Self>, out: &mut Emitter<U>) -> Result<(), BoxError>;
}

/// A state and two closures: the general form behind `stateful` and `try_stateful`.
pub(crate) struct Closures<S, I, E> {
    pub(crate) state: S,
    pub(crate) on_item: I,
    pub(crate) on_end: E,
}

impl<T, U, S, I, E> StreamLogic<T, U> for Closures<S, I, E>
where
    S: Send,
    I: FnMut(&mut S, T, &mut Emitter<U>) -> Result<(), BoxError> + Send,
    E: FnOnce(S, &mut Emitter<U>) -> Result<(), BoxError> + Send,
{
    fn item(&mut self, x: T, out: &mut Emitter<U>) -> Result<(), BoxError> {
        (self.on_item)(&mut self.state, x, out)
    }

    fn end(self: Box<Self>, out: &mut Emitter<U>) -> Result<(), BoxError> {
        (self.on_end)(self.state, out)
    }
}

/// `fold` and `try_fold`: the accumulator moves through the task and out at the end.
pub(crate) struct Fold<S, F> {
    pub(crate) acc: Option<S>,
    pub(crate) f: F,
}

impl<T, S, F> StreamLogic<T, S> for Fold<S, F>
where
    S: Send,
    F: FnMut(S, T) -> Result<S, BoxError> + Send,
{
    fn item(&mut self, x: T, _: &mut Emitter<S>) -> Result<(), BoxError> {
        let acc = self
            .acc
            .take()
            .expect("the accumulator is back after every call");
        self.acc = Some((self.f)(acc, x)?);
        Ok(())
    }

    fn end(mut self: Box<Self>, out: &mut Emitter<S>) -> Result<(), BoxError> {
        out.extend(self.acc.take());
        Ok(())
    }
}

pub(crate) struct StatefulRunner<T, U> {
    pub(crate) logic: Box<dyn StreamLogic<T, U>>,
}

impl<T: Send + 'static, U: Send + 'static> Runner for StatefulRunner<T, U> {
    fn launch(self: Box<Self>, cx: &mut Launch<'_>) -> Result<(), PipelineError> {
        let mut rx = cx.input::<T>(0);
        let tx = cx.output::<U>(0);
        let mut logic = self.logic;
        cx.spawn(move |cx| {
            let tx = tx.open();
            let mut out = Emitter::new();
            let mut last_seq = 0u64;
            for packet in rx.iter() {
                if cx.aborted() {
                    return;
                }
                let (seq, tag, value) = match packet.into_control::<U>() {
                    // Markers and skips pass in place: after the outputs of the items
                    // before them, before those of the items after them.
                    Ok(control) => {
                        if !send(&tx, cx, control) {
                            return;
                        }
                        continue;
                    }
                    Err(item) => item,
                };
                cx.local.items_in += 1;
                last_seq = seq;
                if cx.call(seq, || logic.item(value, &mut out)).is_none() {
                    return;
                }
                let sent = if out.out.len() == 1 {
                    // One output takes its input's place, as after a map.
                    let value = out.out.pop().expect("one output");
                    send(&tx, cx, Packet::Item { seq, tag, value })
                } else {
                    // None or several: as after a flat_map (child positions, or an empty
                    // position in an ordered section).
                    emit(&tx, cx, seq, tag, out.out.drain(..))
                };
                if !sent {
                    return;
                }
            }
            // The input closed: its producers ended (or stopped gracefully). An aborted
            // run has no end of stream.
            if cx.aborted() {
                return;
            }
            let ended = cx.timed(|| catch_unwind(AssertUnwindSafe(|| logic.end(&mut out))));
            match ended {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    let name = cx.stats.name.clone();
                    return cx.fail_with(StageFailure::task_error(name, None, e));
                }
                Err(p) => return cx.fail(None, FailureKind::Panic, panic_message(&*p)),
            }
            // Final outputs have no input, so no position in an ordered section: they
            // come after every other output of the stage.
            for value in out.out.drain(..) {
                let item = Packet::Item {
                    seq: last_seq,
                    tag: Tag::NONE,
                    value,
                };
                if !send(&tx, cx, item) {
                    return;
                }
            }
        });
        Ok(())
    }
}
