//! A source: pulls an iterator lazily, one item per free slot downstream, until it ends,
//! the run aborts, or a graceful stop is requested (then it pulls nothing more, and what it
//! sent runs to the outputs). `try_source` pulls `Result`s: an `Err` fails the run there.

use crate::error::{BoxError, FailureKind, PipelineError, StageFailure};
use crate::exec::worker_cx::{panic_message, WorkerCx};
use crate::hop::Outlet;
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
        let iter = self.iter;
        cx.spawn(move |cx| pull(cx, tx, iter, Ok));
        Ok(())
    }
}

/// A source of `Result<T, E>`: `Ok` values go downstream, the first `Err` fails the run.
pub(crate) struct TrySourceRunner<I> {
    pub(crate) iter: I,
}

impl<I, T, E> Runner for TrySourceRunner<I>
where
    I: Iterator<Item = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<BoxError>,
{
    fn launch(self: Box<Self>, cx: &mut Launch<'_>) -> Result<(), PipelineError> {
        let tx = cx.output::<T>(0);
        let iter = self.iter;
        cx.spawn(move |cx| pull(cx, tx, iter, |r| r.map_err(Into::into)));
        Ok(())
    }
}

/// The source loop: `value` turns a pulled element into an item or an error.
fn pull<I: Iterator, T: Send + 'static>(
    cx: &mut WorkerCx,
    tx: Outlet<T>,
    mut iter: I,
    value: impl Fn(I::Item) -> Result<T, BoxError>,
) {
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
        let next =
            cx.timed(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| iter.next())));
        let value = match next.map(|v| v.map(&value)) {
            Ok(Some(Ok(v))) => v,
            Ok(Some(Err(e))) => {
                // Like a task's error: the message, and the error itself as the source.
                let name = cx.stats.name.clone();
                cx.fail_with(StageFailure::task_error(name, Some(seq), e));
                break;
            }
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
}
