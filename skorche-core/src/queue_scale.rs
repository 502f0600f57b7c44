//! Worker counts of a thread stage: a fixed number, or a range the autoscaler moves in.

use std::ops::RangeInclusive;

use crate::graph::Mode;
use crate::queue::Queue;

/// What [`Queue::workers`] and [`Queue::processes`] accept: a fixed count (`4`) or a range
/// (`1..=8`) within which the autoscaler sizes the stage while it runs.
pub trait WorkerCount {
    /// The least and the most workers.
    fn bounds(&self) -> (usize, usize);
}

impl WorkerCount for usize {
    fn bounds(&self) -> (usize, usize) {
        (*self, *self)
    }
}

impl WorkerCount for RangeInclusive<usize> {
    fn bounds(&self) -> (usize, usize) {
        (*self.start(), *self.end())
    }
}

/// A stage the autoscaler sizes: its node and its bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scaled {
    pub(crate) node: usize,
    pub(crate) min: usize,
    pub(crate) max: usize,
}

impl<T: Send + 'static, K> Queue<T, K> {
    /// Sets the stage's worker threads from `n`: fixed, or a range for the autoscaler.
    #[track_caller]
    pub(crate) fn set_workers(&self, n: impl WorkerCount) {
        self.set_scaled(n, Mode::Threads, "workers");
    }

    /// Sets the stage's worker processes from `n`: fixed, or a range for the autoscaler.
    #[cfg(feature = "process")]
    #[track_caller]
    pub(crate) fn set_processes(&self, n: impl WorkerCount) {
        self.set_scaled(n, Mode::Processes, "processes");
    }

    #[track_caller]
    fn set_scaled(&self, n: impl WorkerCount, mode: fn(usize) -> Mode, setting: &str) {
        let (min, max) = n.bounds();
        if min > max {
            self.refuse(&format!("{setting}({min}..={max})"), "the range is empty");
        }
        if min == 0 && max > 0 {
            self.refuse(
                &format!("{setting}({min}..={max})"),
                "a stage needs at least one worker",
            );
        }
        self.set_mode(mode(max));
        if min < max {
            let mut g = self.graph.borrow_mut();
            let node = g.queues[self.id].producer;
            g.scaled.push(Scaled { node, min, max });
        }
    }
}
