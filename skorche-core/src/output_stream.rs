//! `Output` as a `futures_core::Stream` (feature `stream`).
//!
//! The pipeline's queues are blocking channels, and a runtime thread must never block on
//! one. So the first poll hands the reading to a thread of its own (a *bridge*): it reads
//! events as the iterator would and passes them through a small bounded slot, waking the
//! task that polled. The slot is bounded, so a slow async reader still slows the pipeline
//! (backpressure), as a slow iterator does.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use futures_core::Stream;

use crate::error::PipelineError;
use crate::output::{Event, Output};
use crate::report::Report;

/// Events the bridge thread may read ahead of the async reader.
const AHEAD: usize = 16;

/// What the bridge passes to the reader.
pub(crate) enum Msg<T> {
    Event(Result<Event<T>, PipelineError>),
    /// The stream ended; the report, if the run gave one.
    End(Option<Report>),
}

struct Slot<T> {
    queue: VecDeque<Msg<T>>,
    waker: Option<Waker>,
    /// The reader is gone: the bridge stops reading and drops its output.
    reader_gone: bool,
}

/// The reader's end of a bridge.
pub(crate) struct Bridge<T> {
    shared: Arc<(Mutex<Slot<T>>, Condvar)>,
}

fn lock<T>(m: &Mutex<Slot<T>>) -> MutexGuard<'_, Slot<T>> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<T: Send + 'static> Bridge<T> {
    /// Moves the reading of `output` to a thread of its own.
    pub(crate) fn start(output: Output<T>) -> Self {
        let shared = Arc::new((
            Mutex::new(Slot {
                queue: VecDeque::new(),
                waker: None,
                reader_gone: false,
            }),
            Condvar::new(),
        ));
        let theirs = shared.clone();
        std::thread::Builder::new()
            .name("skorche-output-stream".into())
            .spawn(move || forward(output, &theirs))
            .expect("spawning the thread of an async output");
        Bridge { shared }
    }
}

impl<T> Bridge<T> {
    /// The next message, without blocking; `None` (after storing `waker`) if there is none
    /// yet.
    pub(crate) fn poll(&self, waker: &Waker) -> Option<Msg<T>> {
        let (slot, ready) = &*self.shared;
        let mut s = lock(slot);
        match s.queue.pop_front() {
            Some(msg) => {
                ready.notify_all();
                Some(msg)
            }
            None => {
                s.waker = Some(waker.clone());
                None
            }
        }
    }

    /// The next message, waiting for it (a bridged output read as an iterator).
    pub(crate) fn recv(&self) -> Msg<T> {
        let (slot, ready) = &*self.shared;
        let mut s = lock(slot);
        loop {
            if let Some(msg) = s.queue.pop_front() {
                ready.notify_all();
                return msg;
            }
            s = ready.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl<T> Drop for Bridge<T> {
    fn drop(&mut self) {
        let (slot, ready) = &*self.shared;
        lock(slot).reader_gone = true;
        ready.notify_all();
    }
}

/// The bridge thread: reads `output` to its end (or until the reader is gone).
fn forward<T>(mut output: Output<T>, shared: &(Mutex<Slot<T>>, Condvar)) {
    let (slot, ready) = shared;
    loop {
        let msg = match output.next_event() {
            Some(event) => Msg::Event(event),
            None => Msg::End(output.report().cloned()),
        };
        let end = matches!(msg, Msg::End(_));
        let mut s = lock(slot);
        while s.queue.len() >= AHEAD && !s.reader_gone {
            s = ready.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        if s.reader_gone {
            // Dropping `output` unread stops the run, as dropping any output does.
            return;
        }
        s.queue.push_back(msg);
        ready.notify_all();
        if let Some(w) = s.waker.take() {
            w.wake();
        }
        if end {
            return;
        }
    }
}

/// With the feature `stream`, an output is also a [`Stream`] of the same items, for async
/// code: a tokio application can await results without blocking a runtime thread. The
/// first poll moves the blocking reads to a thread of the output's own; the stream still
/// reads at most a few items ahead, so a slow async reader slows the pipeline just as a
/// slow iterator does. An output may be polled as a stream and then read as an iterator
/// (or the reverse); it yields each item once either way.
///
/// Because an `Output` is an [`Iterator`] too, `out.next()` is ambiguous where a
/// `StreamExt` trait is in scope; [`Output::into_stream`] gives a value that is only a
/// stream, or call the trait's method by path (`StreamExt::next(&mut out)`).
///
/// ```
/// use futures_util::StreamExt;
/// use skorche_core::Pipeline;
///
/// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// rt.block_on(async {
///     let p = Pipeline::new();
///     let out = p.source(1..=3u32).map(|x| x * 2);
///     let mut results = p.run_iter(out)?.into_stream();
///     let mut got = Vec::new();
///     while let Some(item) = results.next().await {
///         got.push(item?);
///     }
///     assert_eq!(got, [2, 4, 6]);
///     Ok::<(), skorche_core::PipelineError>(())
/// })?;
/// # Ok::<(), skorche_core::PipelineError>(())
/// ```
impl<T: Send + 'static> Stream for Output<T> {
    type Item = Result<T, PipelineError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match this.poll_event(cx) {
                Poll::Ready(Some(Ok(Event::Item(v)))) => return Poll::Ready(Some(Ok(v))),
                Poll::Ready(Some(Ok(Event::Marker(_)))) => continue,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, None)
    }
}

/// No field of an output is ever pinned (its items are moved out as they come), so an
/// output may move between polls whatever its item type.
impl<T> Unpin for Output<T> {}

impl<T: Send + 'static> Output<T> {
    /// The next event without blocking: registers `cx`'s waker when none is ready.
    fn poll_event(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Event<T>, PipelineError>>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self.bridge.is_none() {
            let reader = self.detach_reader();
            self.bridge = Some(Bridge::start(reader));
        }
        let bridge = self.bridge.as_ref().expect("bridged above");
        match bridge.poll(cx.waker()) {
            Some(msg) => Poll::Ready(self.take_msg(msg)),
            None => Poll::Pending,
        }
    }
}

/// An [`Output`] that is only a [`Stream`] (so `StreamExt`'s methods need no
/// disambiguation); made by [`Output::into_stream`]. Dropping it before the end stops the
/// run, as dropping the output does.
#[derive(Debug)]
pub struct OutputStream<T> {
    output: Output<T>,
}

impl<T> Output<T> {
    /// This output as a value that is only a [`Stream`] (feature `stream`): see the
    /// [`Stream`] implementation of `Output` for how it reads.
    pub fn into_stream(self) -> OutputStream<T> {
        OutputStream { output: self }
    }
}

impl<T> OutputStream<T> {
    /// The run's report, once the stream has ended without error (or with
    /// [`PipelineError::Interrupted`]).
    pub fn report(&self) -> Option<&Report> {
        self.output.report()
    }

    /// The output again, to read the rest as an iterator.
    pub fn into_inner(self) -> Output<T> {
        self.output
    }
}

impl<T: Send + 'static> Stream for OutputStream<T> {
    type Item = Result<T, PipelineError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.output).poll_next(cx)
    }
}
