//! What every thread of one run shares: the stop flag, the failures, the wake-up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crossbeam_channel::Sender;

use crate::error::StageFailure;

/// State shared by every thread of one run.
#[derive(Debug)]
pub(crate) struct RunShared {
    pub(crate) aborted: AtomicBool,
    pub(crate) failures: Mutex<Vec<StageFailure>>,
    /// Why the run was stopped without a failure, if it was.
    pub(crate) cancelled: Mutex<Option<String>>,
    pub(crate) wake: Sender<()>,
    pub(crate) started: Instant,
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
