//! What every thread of one run shares: the abort flag, the stop request, the failures,
//! the wake-up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crossbeam_channel::Sender;

use crate::error::StageFailure;
use crate::stop::{Request, StopState};

/// State shared by every thread of one run.
#[derive(Debug)]
pub(crate) struct RunShared {
    pub(crate) aborted: AtomicBool,
    pub(crate) failures: Mutex<Vec<StageFailure>>,
    /// Why the run was stopped without a failure, if it was.
    pub(crate) cancelled: Mutex<Option<String>>,
    pub(crate) wake: Sender<()>,
    pub(crate) started: Instant,
    /// Graceful stop: whether the sources must stop pulling, the grace period, how it went.
    pub(crate) stop: StopState,
}

impl RunShared {
    #[inline]
    pub(crate) fn is_aborted(&self) -> bool {
        // Relaxed: the flag only hastens shutdown; the data itself travels on channels.
        self.aborted.load(Ordering::Relaxed)
    }

    /// Stops the run without a stage failing (a consumer went away); outputs still being
    /// read end with [`PipelineError::Cancelled`] and `reason`.
    pub(crate) fn cancel(&self, reason: &str) {
        self.cancelled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(|| reason.to_string());
        self.stop();
    }

    fn stop(&self) {
        self.aborted.store(true, Ordering::Relaxed);
        let _ = self.wake.send(());
    }

    /// A stop request ([`crate::StopHandle`]): the first drains (the sources stop pulling),
    /// a second one, or `at_once`, aborts.
    pub(crate) fn request_stop(&self, at_once: bool) {
        match self.stop.request(at_once) {
            Request::Abort => self.stop(),
            Request::Drain => tracing::debug!("graceful stop: the sources stop pulling"),
            Request::Nothing => {}
        }
    }

    /// Whether the sources must stop pulling (a stop was requested).
    #[inline]
    pub(crate) fn is_draining(&self) -> bool {
        self.stop.is_draining()
    }

    /// Aborts the run if a graceful stop has outlived its grace period (the supervisor
    /// calls it every few ms).
    pub(crate) fn check_grace(&self) {
        if self.stop.grace_ran_out() {
            tracing::debug!("graceful stop: the grace period ran out; aborting");
            self.stop();
        }
    }

    pub(crate) fn fail(&self, failure: StageFailure) {
        tracing::debug!(%failure, "stage failed");
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(failure);
        self.stop();
    }

    pub(crate) fn thread_exited(&self) {
        let _ = self.wake.send(());
    }

    pub(crate) fn elapsed_ns(&self) -> u64 {
        self.started.elapsed().as_nanos() as u64
    }

    pub(crate) fn take_failures(&self) -> Vec<StageFailure> {
        std::mem::take(&mut *self.failures.lock().unwrap_or_else(|e| e.into_inner()))
    }
}
