//! Pulling results while the pipeline runs.

use std::any::Any;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::error::PipelineError;
use crate::exec::run::Started;
use crate::exec::shared::RunShared;
use crate::hop::Rx;
use crate::packet::{MarkerId, Packet};
use crate::pipeline::OutputPort;
use crate::report::Report;
use crate::stage::marker::{Marker, SeenMarkers};
use crate::stop::StopHandle;

/// The end of a run, shared by every output of it.
struct Finish {
    shared: Arc<RunShared>,
    supervisor: Mutex<Option<JoinHandle<Result<Report, PipelineError>>>>,
    result: Mutex<Option<Result<Report, PipelineError>>>,
    live_outputs: Mutex<usize>,
    /// Drains of outputs never taken, left running when `Running` was dropped.
    discarding: Mutex<Vec<JoinHandle<()>>>,
}

impl Finish {
    fn wait(&self) -> Result<Report, PipelineError> {
        let handle = self
            .supervisor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let mut result = self.result.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = handle {
            *result =
                Some(h.join().unwrap_or_else(|_| {
                    Err(PipelineError::Runtime("the supervisor panicked".into()))
                }));
        }
        let drains =
            std::mem::take(&mut *self.discarding.lock().unwrap_or_else(|e| e.into_inner()));
        for t in drains {
            let _ = t.join();
        }
        result
            .clone()
            .unwrap_or_else(|| Err(PipelineError::Runtime("the run was already joined".into())))
    }
}

/// A running pipeline. Take its outputs with [`Running::take`], then read them
/// (concurrently if there are several: every queue is bounded), or [`Running::wait`].
/// [`Running::stop`] (or a [`StopHandle`] from [`Running::stop_handle`], from any thread)
/// ends it early and gracefully.
pub struct Running {
    finish: Arc<Finish>,
    /// Live figures of the run ([`Running::stats`]).
    pub(crate) probe: Arc<crate::stats::live::Probe>,
    /// The live view's thread, if one was started; joined when the run is waited for.
    pub(crate) progress: Option<JoinHandle<()>>,
    outputs: Vec<Option<Box<dyn Any + Send>>>,
    /// Drains of the outputs, run for those never taken.
    discards: Vec<Option<Box<dyn FnOnce() + Send>>>,
    /// Threads draining untaken outputs; joined before the run is reported over.
    discarding: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("outputs", &self.outputs.len())
            .finish()
    }
}

impl Running {
    pub(crate) fn new(started: Started) -> Self {
        let n = started.outputs.len();
        Running {
            finish: Arc::new(Finish {
                shared: started.shared,
                supervisor: Mutex::new(Some(started.supervisor)),
                result: Mutex::new(None),
                live_outputs: Mutex::new(n),
                discarding: Mutex::new(Vec::new()),
            }),
            probe: started.probe,
            progress: None,
            outputs: started.outputs,
            discards: started.discards,
            discarding: Vec::new(),
        }
    }

    /// The iterator over a declared output.
    ///
    /// # Panics
    /// If the port belongs to another pipeline or was already taken.
    pub fn take<T: Send + 'static>(&mut self, port: OutputPort<T>) -> Output<T> {
        if let Some(d) = self.discards.get_mut(port.index) {
            *d = None;
        }
        let rx = self
            .outputs
            .get_mut(port.index)
            .and_then(Option::take)
            .expect("an output port is taken once, from its own pipeline")
            .downcast::<Rx<T>>()
            .expect("the port's type is the queue's type");
        Output {
            rx: Some(*rx),
            finish: self.finish.clone(),
            report: None,
            done: false,
            seen: SeenMarkers::default(),
            #[cfg(feature = "stream")]
            bridge: None,
        }
    }

    /// Stops the run gracefully: the sources are not pulled again, the items already inside
    /// the pipeline run to the outputs, and the run ends with
    /// [`PipelineError::Interrupted`] carrying the [`Report`]. If that takes longer than
    /// the [grace period](crate::Pipeline::grace_period) (default 10 s), or `stop` is called
    /// again, the run is aborted: every thread exits, every worker process is killed and
    /// reaped, and the run still ends with `Interrupted` and the report of what finished.
    /// Returns at once; read the outputs (or [`Running::wait`]) to see the end.
    ///
    /// A run whose sources had all been read to their end when the stop came lost nothing:
    /// it ends as usual. See [`StopHandle::stop`] for what cannot be interrupted.
    ///
    /// ```
    /// use skorche_core::{Pipeline, PipelineError, StopOutcome};
    ///
    /// let p = Pipeline::new();
    /// let out = p.output(p.source(0u64..).map(|n| n * 2)); // an endless source
    /// let mut running = p.start()?;
    /// let mut out = running.take(out);
    /// let first: Vec<u64> = out.by_ref().take(10).collect::<Result<_, _>>()?;
    /// running.stop();
    /// let mut read = first.len();
    /// let err = loop {
    ///     match out.next() {
    ///         Some(Ok(_)) => read += 1, // finished before the stop: every one is yielded
    ///         Some(Err(e)) => break e,
    ///         None => unreachable!("a stopped run ends with Interrupted"),
    ///     }
    /// };
    /// let PipelineError::Interrupted(stop) = err else { panic!("{err}") };
    /// assert_eq!(stop.outcome, StopOutcome::Drained);
    /// assert_eq!(stop.report.stages[1].items_out as usize, read);
    /// assert!(out.next().is_none());
    /// # Ok::<(), PipelineError>(())
    /// ```
    pub fn stop(&self) {
        self.finish.shared.request_stop(false);
    }

    /// A handle that stops this run from another thread (a signal handler's, a UI's), even
    /// after `Running` was consumed by [`Running::wait`] or dropped.
    ///
    /// ```
    /// use std::time::Duration;
    /// use skorche_core::{Pipeline, PipelineError};
    ///
    /// let p = Pipeline::new();
    /// let ticks = p.source(0u64..).map(|n| {
    ///     std::thread::sleep(Duration::from_millis(1));
    ///     n
    /// });
    /// p.grace_period(Duration::from_secs(5));
    /// let ticks = p.output(ticks);
    /// let mut running = p.start()?;
    /// let ticks = running.take(ticks);
    /// let stop = running.stop_handle();
    /// let timer = std::thread::spawn(move || {
    ///     std::thread::sleep(Duration::from_millis(50));
    ///     stop.stop(); // from another thread
    /// });
    /// let mut count = 0u64;
    /// for tick in ticks {
    ///     match tick {
    ///         Ok(n) => assert_eq!(n, count), // in order, none missing
    ///         Err(PipelineError::Interrupted(stop)) => {
    ///             println!("stopped after {count} items:\n{}", stop.report);
    ///             break;
    ///         }
    ///         Err(e) => return Err(e),
    ///     }
    ///     count += 1;
    /// }
    /// timer.join().unwrap();
    /// assert!(count > 0);
    /// # Ok::<(), PipelineError>(())
    /// ```
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle::new(&self.finish.shared)
    }

    /// Waits for the end of the run: items of outputs not taken are dropped.
    ///
    /// # Errors
    /// The run's error; [`PipelineError::Interrupted`], with the report, if it was stopped.
    pub fn wait(mut self) -> Result<Report, PipelineError> {
        self.discard_untaken();
        let result = self.finish.wait();
        self.join_discards();
        if let Some(view) = self.progress.take() {
            let _ = view.join();
        }
        result
    }

    fn join_discards(&mut self) {
        for t in self.discarding.drain(..) {
            let _ = t.join();
        }
    }

    fn discard_untaken(&mut self) {
        // An output nobody reads must not block the stages feeding it.
        for (i, slot) in self.outputs.iter_mut().enumerate() {
            if slot.take().is_some() {
                // Consume its items (dropping them) until its producers have exited:
                // dropping the receiver alone would leave the queue to fill and block.
                if let Some(discard) = self.discards.get_mut(i).and_then(Option::take) {
                    self.discarding.push(
                        std::thread::Builder::new()
                            .name("skorche:discard".into())
                            .spawn(discard)
                            .expect("spawning a discard thread"),
                    );
                }
                let mut live = self
                    .finish
                    .live_outputs
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                *live -= 1;
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Outputs declared but never taken are drained, as `wait` does, so the outputs that
        // were taken still get every item. The drains end with the run; whoever reads a
        // taken output to its end joins them.
        self.discard_untaken();
        let mut later = self
            .finish
            .discarding
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        later.append(&mut self.discarding);
    }
}

/// Items of one output queue, yielded while the pipeline runs.
///
/// Yields `Ok(item)`s; if the run fails, yields one `Err` naming every failed stage and
/// then ends. Dropping it before the end stops the pipeline (every thread exits).
///
/// A run stopped on request ([`Running::stop`], [`Output::stop_handle`]) yields every item
/// finished before the stop, then one [`PipelineError::Interrupted`] carrying the report,
/// then ends. With several outputs, the one read to its end last carries it (the others
/// just end), unless the run was aborted.
pub struct Output<T> {
    rx: Option<Rx<T>>,
    finish: Arc<Finish>,
    report: Option<Report>,
    pub(crate) done: bool,
    seen: SeenMarkers,
    /// The thread reading for an output polled as a `Stream`.
    #[cfg(feature = "stream")]
    pub(crate) bridge: Option<crate::output_stream::Bridge<T>>,
}

impl<T> std::fmt::Debug for Output<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output").field("done", &self.done).finish()
    }
}

impl<T> Output<T> {
    /// The run's report, once this iterator has ended without error (or with
    /// [`PipelineError::Interrupted`], whose report this is too).
    pub fn report(&self) -> Option<&Report> {
        self.report.as_ref()
    }

    /// A handle that stops the run from any thread: see [`Running::stop`] and
    /// [`Running::stop_handle`] (whose example reads an output while a timer stops it).
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle::new(&self.finish.shared)
    }

    /// Reads to the end and returns the items and the report.
    ///
    /// # Errors
    /// The run's error. A run stopped on request gives [`PipelineError::Interrupted`] (with
    /// the report) and the items read are dropped: iterate instead to keep them.
    pub fn collect_report(mut self) -> Result<(Vec<T>, Report), PipelineError> {
        let mut items = Vec::new();
        for item in self.by_ref() {
            items.push(item?);
        }
        let report = self
            .report
            .take()
            .ok_or_else(|| PipelineError::Runtime("the run ended without a report".into()))?;
        Ok((items, report))
    }

    fn end(&mut self) -> Option<Result<T, PipelineError>> {
        self.done = true;
        self.rx = None;
        let last = {
            let mut live = self
                .finish
                .live_outputs
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            *live -= 1;
            *live == 0
        };
        // Joining while another output is still being read could deadlock on a full
        // queue; an aborted run drains every queue itself, so joining it is safe.
        if last || self.finish.shared.is_aborted() {
            match self.finish.wait() {
                Ok(report) => self.report = Some(report),
                Err(e) => {
                    self.report = e.report().cloned();
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

#[cfg(feature = "stream")]
impl<T> Output<T> {
    /// A reader of this output's queue, for a bridge thread; this output then reads
    /// through the bridge.
    pub(crate) fn detach_reader(&mut self) -> Output<T> {
        Output {
            rx: self.rx.take(),
            finish: self.finish.clone(),
            report: None,
            done: false,
            seen: std::mem::take(&mut self.seen),
            bridge: None,
        }
    }

    /// Takes one message of the bridge: an event, or the end and its report.
    pub(crate) fn take_msg(
        &mut self,
        msg: crate::output_stream::Msg<T>,
    ) -> Option<Result<Event<T>, PipelineError>> {
        match msg {
            crate::output_stream::Msg::Event(event) => Some(event),
            crate::output_stream::Msg::End(report) => {
                self.done = true;
                self.report = report;
                self.bridge = None;
                None
            }
        }
    }
}

/// What [`Output::next_event_within`] found.
#[derive(Debug)]
pub enum Polled<T> {
    /// An event, the end of the stream (`None`) or the run's error, as
    /// [`Output::next_event`] gives them.
    Ready(Option<Result<Event<T>, PipelineError>>),
    /// Nothing came in the time allowed; ask again.
    Pending,
}

/// One event of an output stream: an item, or a marker passing.
#[derive(Debug)]
pub enum Event<T> {
    /// An item.
    Item(T),
    /// A marker (each occurrence once, even if copies of it were merged).
    Marker(MarkerId),
}

impl<T> Output<T> {
    /// The next item or marker; `None` at the end of the stream.
    pub fn next_event(&mut self) -> Option<Result<Event<T>, PipelineError>> {
        if self.done {
            return None;
        }
        #[cfg(feature = "stream")]
        if let Some(bridge) = &self.bridge {
            let msg = bridge.recv();
            return self.take_msg(msg);
        }
        loop {
            let received = self.rx.as_mut()?.recv();
            match received {
                Ok(Packet::Item { value, .. }) => return Some(Ok(Event::Item(value))),
                Ok(Packet::Marker { id, .. }) if self.seen.first_time(id) => {
                    return Some(Ok(Event::Marker(id)))
                }
                Ok(_) => continue,
                Err(_) => return self.end().map(|r| r.map(Event::Item)),
            }
        }
    }

    /// Like [`Output::next_event`], waiting at most `wait` (`Duration::ZERO`: only what is
    /// ready now). A reader that must stay responsive polls with it: an interpreter checking
    /// for Ctrl-C between waits, or a binding that drains what is ready in one go.
    ///
    /// ```
    /// # use skorche_core::{Event, Pipeline, Polled};
    /// # use std::time::Duration;
    /// let p = Pipeline::new();
    /// let numbers = p.source(0..3u32);
    /// let mut out = p.run_iter(numbers)?;
    /// let mut got = Vec::new();
    /// loop {
    ///     match out.next_event_within(Duration::from_millis(50)) {
    ///         Polled::Pending => continue, // nothing yet: do something else, then ask again
    ///         Polled::Ready(Some(Ok(Event::Item(x)))) => got.push(x),
    ///         Polled::Ready(Some(Ok(Event::Marker(_)))) => {}
    ///         Polled::Ready(Some(Err(e))) => return Err(e),
    ///         Polled::Ready(None) => break,
    ///     }
    /// }
    /// assert_eq!(got, [0, 1, 2]);
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    pub fn next_event_within(&mut self, wait: std::time::Duration) -> Polled<T> {
        if self.done {
            return Polled::Ready(None);
        }
        #[cfg(feature = "stream")]
        if self.bridge.is_some() {
            return Polled::Ready(self.next_event());
        }
        loop {
            let Some(rx) = self.rx.as_mut() else {
                return Polled::Ready(None);
            };
            let received = if wait.is_zero() {
                rx.try_recv().map_err(|e| e.is_disconnected())
            } else {
                rx.recv_timeout(wait).map_err(|e| e.is_disconnected())
            };
            match received {
                Ok(Packet::Item { value, .. }) => {
                    return Polled::Ready(Some(Ok(Event::Item(value))))
                }
                Ok(Packet::Marker { id, .. }) if self.seen.first_time(id) => {
                    return Polled::Ready(Some(Ok(Event::Marker(id))))
                }
                Ok(_) => continue,
                Err(false) => return Polled::Pending,
                Err(true) => return Polled::Ready(self.end().map(|r| r.map(Event::Item))),
            }
        }
    }

    /// The items up to the next occurrence of `marker` (which is consumed), or to the end
    /// of the stream: read a stream one segment (an epoch, a file) at a time.
    ///
    /// ```
    /// # use skorche_core::{Pipeline, Placement};
    /// let p = Pipeline::new();
    /// let (q, every_3) = p.source(0..7u32).insert_periodic(3, Placement::After);
    /// let mut out = p.run_iter(q)?;
    /// let first: Vec<u32> = out.until(every_3).collect::<Result<_, _>>()?;
    /// let second: Vec<u32> = out.until(every_3).collect::<Result<_, _>>()?;
    /// let rest: Vec<u32> = out.until(every_3).collect::<Result<_, _>>()?;
    /// assert_eq!((first, second, rest), (vec![0, 1, 2], vec![3, 4, 5], vec![6]));
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    pub fn until(&mut self, marker: Marker) -> Until<'_, T> {
        Until {
            output: self,
            marker,
            ended: false,
        }
    }
}

/// Items of an [`Output`] up to a marker; created by [`Output::until`].
#[derive(Debug)]
pub struct Until<'a, T> {
    output: &'a mut Output<T>,
    marker: Marker,
    ended: bool,
}

impl<T> Iterator for Until<'_, T> {
    type Item = Result<T, PipelineError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.ended {
            match self.output.next_event()? {
                Ok(Event::Item(v)) => return Some(Ok(v)),
                Ok(Event::Marker(id)) if self.marker.matches(id) => self.ended = true,
                Ok(Event::Marker(_)) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
        None
    }
}

impl<T> Iterator for Output<T> {
    type Item = Result<T, PipelineError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.next_event()? {
                Ok(Event::Item(v)) => return Some(Ok(v)),
                Ok(Event::Marker(_)) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// Once it has returned `None` (or the run's error), an output returns `None` for ever.
impl<T> std::iter::FusedIterator for Output<T> {}

/// Once it has returned `None` (its marker passed, or the stream ended) it returns `None`
/// for ever; the next segment is read with another [`Output::until`].
impl<T> std::iter::FusedIterator for Until<'_, T> {}

impl<T> Drop for Output<T> {
    fn drop(&mut self) {
        if !self.done {
            // Nobody will read the rest: stop the run and wait until it is down.
            self.finish
                .shared
                .cancel("an output was dropped before its end");
            self.rx = None;
            #[cfg(feature = "stream")]
            {
                self.bridge = None;
            }
            let _ = self.finish.wait();
        }
    }
}
