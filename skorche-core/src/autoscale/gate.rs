//! The gate of a stage the autoscaler sizes: workers whose index is at or past the target
//! stop between chunks.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use crate::exec::shared::RunShared;
use crate::hop::Gate;

/// How often a stopped worker looks whether it may go on: a stopped thread costs a
/// wake-up this often, and a started one begins at most this late.
const LOOK_EVERY: Duration = Duration::from_millis(2);

/// The number of workers of one stage that may run.
#[derive(Debug)]
pub(crate) struct ScaleGate {
    target: AtomicUsize,
    /// The stage's input has ended.
    closed: AtomicBool,
    shared: Arc<RunShared>,
}

impl ScaleGate {
    pub(crate) fn new(target: usize, shared: Arc<RunShared>) -> Self {
        ScaleGate {
            target: AtomicUsize::new(target),
            closed: AtomicBool::new(false),
            shared,
        }
    }

    pub(crate) fn target(&self) -> usize {
        self.target.load(Relaxed)
    }

    pub(crate) fn set_target(&self, n: usize) {
        self.target.store(n, Relaxed);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Relaxed)
    }
}

impl Gate for ScaleGate {
    #[inline]
    fn stopped(&self, index: usize) -> bool {
        index >= self.target.load(Relaxed) && !self.closed.load(Relaxed)
    }

    fn wait(&self, index: usize) {
        while self.stopped(index) && !self.shared.is_aborted() {
            std::thread::sleep(LOOK_EVERY);
        }
    }

    fn close(&self) {
        self.closed.store(true, Relaxed);
    }
}
