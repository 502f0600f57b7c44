//! Stopping a run on request: the sources stop pulling, what is already inside the pipeline
//! reaches the outputs within a grace period, and the run ends with
//! [`PipelineError::Interrupted`](crate::PipelineError::Interrupted), which still carries the
//! [`Report`](crate::Report). A second request, or the grace period running out, aborts the
//! run as an error does: every thread exits, every worker process is killed and reaped.
//!
//! A request comes from [`Running::stop`](crate::Running::stop), a [`StopHandle`] (any
//! thread), or a signal when [`Pipeline::stop_on_signals`](crate::Pipeline::stop_on_signals)
//! asked for it ([`signals`]).

pub(crate) mod signals;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::error::{Interrupted, PipelineError, StopOutcome};
use crate::exec::shared::RunShared;
use crate::report::Report;

/// How long a graceful stop may take unless [`Pipeline::grace_period`] says otherwise: the
/// items in flight have this long to reach the outputs before the run is aborted.
///
/// [`Pipeline::grace_period`]: crate::Pipeline::grace_period
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(10);

/// How a run may be stopped, as declared on its pipeline.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StopOptions {
    /// How long a graceful stop may take.
    pub(crate) grace: Duration,
    /// Whether SIGINT and SIGTERM start a graceful stop while the run lives.
    pub(crate) on_signals: bool,
}

impl Default for StopOptions {
    fn default() -> Self {
        StopOptions {
            grace: DEFAULT_GRACE_PERIOD,
            on_signals: false,
        }
    }
}

/// Stops a run from any thread: a signal handler's, a UI's, a timer's.
///
/// Made by [`Running::stop_handle`](crate::Running::stop_handle) or
/// [`Output::stop_handle`](crate::Output::stop_handle); cheap to clone, and it does not keep
/// the run alive: once the run is over, stopping it does nothing.
///
/// The first [`stop`](StopHandle::stop) is graceful: the sources stop pulling, the items
/// already inside the pipeline run to the outputs, and the run ends with
/// [`PipelineError::Interrupted`](crate::PipelineError::Interrupted). A second `stop`, or
/// [`stop_now`](StopHandle::stop_now), aborts at once.
#[derive(Debug, Clone)]
pub struct StopHandle {
    shared: Weak<RunShared>,
}

impl StopHandle {
    pub(crate) fn new(shared: &Arc<RunShared>) -> Self {
        StopHandle {
            shared: Arc::downgrade(shared),
        }
    }

    /// Starts a graceful stop: no source is pulled again, every item already taken from a
    /// source runs to the outputs, and the run ends with
    /// [`PipelineError::Interrupted`](crate::PipelineError::Interrupted) and its report. If
    /// that takes longer than the grace period ([`Pipeline::grace_period`], default
    /// [`DEFAULT_GRACE_PERIOD`]), the run is aborted. Calling it again while the run drains
    /// aborts at once. Returns at once; does nothing once the run is over.
    ///
    /// A source blocked inside its iterator's `next()` stops once that call returns, and a
    /// thread stage's task is never interrupted: an abort waits for the calls under way
    /// (process stages' workers are killed).
    ///
    /// [`Pipeline::grace_period`]: crate::Pipeline::grace_period
    pub fn stop(&self) {
        if let Some(shared) = self.shared.upgrade() {
            shared.request_stop(false);
        }
    }

    /// Aborts the run at once, as a second [`stop`](StopHandle::stop) does: every thread
    /// exits, every worker process is killed and reaped, and the run ends with
    /// [`PipelineError::Interrupted`](crate::PipelineError::Interrupted) whose report counts
    /// what finished. Does nothing once the run is over.
    pub fn stop_now(&self) {
        if let Some(shared) = self.shared.upgrade() {
            shared.request_stop(true);
        }
    }

    /// Whether a stop was requested and the run is not over yet.
    pub fn is_stopping(&self) -> bool {
        self.shared
            .upgrade()
            .is_some_and(|shared| shared.stop.is_stopping())
    }
}

/// What a stop request asks of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Request {
    /// Stop pulling the sources; let the rest flow.
    Drain,
    /// Abort now.
    Abort,
    /// Nothing more to do (already aborting).
    Nothing,
}

/// The stop state of one run, in its [`RunShared`].
#[derive(Debug)]
pub(crate) struct StopState {
    /// Set by the first request; read by every source before each pull.
    draining: AtomicBool,
    /// Set by a source that stopped because of the request, leaving items unread.
    cut: AtomicBool,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    grace: Duration,
    /// When the first request came.
    requested: Option<Instant>,
    /// How the stop went so far (`Drained` until an abort).
    outcome: StopOutcome,
    /// The run is over: a watcher handed in now is closed at once.
    ended: bool,
    /// The signal watcher of a run with `stop_on_signals`; closed when the run ends.
    watcher: Option<signals::SignalWatcher>,
}

impl Default for StopState {
    fn default() -> Self {
        StopState {
            draining: AtomicBool::new(false),
            cut: AtomicBool::new(false),
            inner: Mutex::new(Inner {
                grace: DEFAULT_GRACE_PERIOD,
                requested: None,
                outcome: StopOutcome::Drained,
                ended: false,
                watcher: None,
            }),
        }
    }
}

impl StopState {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn set_grace(&self, grace: Duration) {
        self.inner().grace = grace;
    }

    /// Whether a stop was requested: sources must not pull again.
    #[inline]
    pub(crate) fn is_draining(&self) -> bool {
        // Relaxed: the flag only decides whether a source pulls once more; what a source
        // sent travels on channels.
        self.draining.load(Ordering::Relaxed)
    }

    /// Whether a stop was requested and the run is not over yet.
    pub(crate) fn is_stopping(&self) -> bool {
        let inner = self.inner();
        inner.requested.is_some() && !inner.ended
    }

    /// A source stopped pulling because of the request, leaving items unread.
    pub(crate) fn source_cut(&self) {
        self.cut.store(true, Ordering::Relaxed);
    }

    /// Records a request; says what the run must do.
    pub(crate) fn request(&self, at_once: bool) -> Request {
        let mut inner = self.inner();
        if inner.ended {
            return Request::Nothing;
        }
        let first = inner.requested.is_none();
        if first {
            inner.requested = Some(Instant::now());
            self.draining.store(true, Ordering::Relaxed);
        }
        if (at_once || !first) && inner.outcome == StopOutcome::Drained {
            inner.outcome = StopOutcome::Forced;
            return Request::Abort;
        }
        if first {
            Request::Drain
        } else {
            Request::Nothing
        }
    }

    /// Whether the grace period has run out, reported once: the run must abort now.
    pub(crate) fn grace_ran_out(&self) -> bool {
        if !self.is_draining() {
            return false;
        }
        let mut inner = self.inner();
        let expired = inner.outcome == StopOutcome::Drained
            && inner
                .requested
                .is_some_and(|at| at.elapsed() >= inner.grace);
        if expired {
            inner.outcome = StopOutcome::GraceExpired;
        }
        expired
    }

    /// Keeps the run's signal watcher until the run ends (or closes it at once if the run
    /// is already over).
    pub(crate) fn keep_watcher(&self, watcher: signals::SignalWatcher) {
        let mut inner = self.inner();
        if inner.ended {
            drop(inner);
            drop(watcher);
        } else {
            inner.watcher = Some(watcher);
        }
    }

    /// The run is over (every thread has exited): closes the signal watcher, and turns the
    /// report of a stopped run into [`PipelineError::Interrupted`]. A run whose sources had
    /// all been read to their end when the stop came lost nothing: it ends as usual.
    pub(crate) fn finish(
        &self,
        result: Result<Report, PipelineError>,
    ) -> Result<Report, PipelineError> {
        let (watcher, requested, outcome) = {
            let mut inner = self.inner();
            inner.ended = true;
            (
                inner.watcher.take(),
                inner.requested.is_some(),
                inner.outcome,
            )
        };
        // Joins the watcher thread and gives SIGINT/SIGTERM back to what they did before.
        drop(watcher);
        let report = result?;
        let cut = self.cut.load(Ordering::Relaxed);
        if requested && (outcome != StopOutcome::Drained || cut) {
            Err(PipelineError::Interrupted(Box::new(Interrupted {
                report,
                outcome,
            })))
        } else {
            Ok(report)
        }
    }
}
