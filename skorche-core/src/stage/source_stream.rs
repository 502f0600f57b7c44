//! A source fed by an async `Stream` (feature `stream`): polled on the source's own thread,
//! which parks between wake-ups, so it needs no async runtime and blocks none.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::Duration;

use futures_core::Stream;

use crate::error::{FailureKind, PipelineError};
use crate::exec::worker_cx::{panic_message, WorkerCx};
use crate::launch::{Launch, Runner};
use crate::order::Tag;
use crate::packet::Packet;
use crate::stage::send;

/// How long a waiting source sleeps before it looks again at the run's stop and abort
/// flags, which no waker announces.
const STOP_CHECK: Duration = Duration::from_millis(20);

pub(crate) struct StreamSourceRunner<S> {
    pub(crate) stream: Pin<Box<S>>,
}

/// Wakes the source thread.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// What the source does next.
enum Next<T> {
    Item(T),
    End,
    /// A stop or an abort came while the stream had nothing ready.
    Stopped,
}

impl<S> Runner for StreamSourceRunner<S>
where
    S: Stream + Send + 'static,
    S::Item: Send + 'static,
{
    fn launch(self: Box<Self>, cx: &mut Launch<'_>) -> Result<(), PipelineError> {
        let tx = cx.output::<S::Item>(0);
        let mut stream = self.stream;
        cx.spawn(move |cx| {
            let tx = tx.open();
            let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
            let mut seq = 0u64;
            loop {
                let value = match next(&mut stream, &waker, cx, seq) {
                    Next::Item(v) => v,
                    Next::End | Next::Stopped => break,
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

/// Polls `stream` until it yields, ends, panics, or the run stops or aborts.
fn next<S: Stream>(
    stream: &mut Pin<Box<S>>,
    waker: &Waker,
    cx: &mut WorkerCx,
    seq: u64,
) -> Next<S::Item> {
    let mut poll_cx = Context::from_waker(waker);
    loop {
        if cx.aborted() {
            return Next::Stopped;
        }
        if cx.shared.is_draining() {
            // A graceful stop: pull nothing more; what was sent runs to the end.
            cx.shared.stop.source_cut();
            return Next::Stopped;
        }
        let polled = cx.timed(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                stream.as_mut().poll_next(&mut poll_cx)
            }))
        });
        match polled {
            Ok(Poll::Ready(Some(v))) => return Next::Item(v),
            Ok(Poll::Ready(None)) => return Next::End,
            Ok(Poll::Pending) => std::thread::park_timeout(STOP_CHECK),
            Err(p) => {
                cx.fail(Some(seq), FailureKind::Panic, panic_message(&*p));
                return Next::End;
            }
        }
    }
}
