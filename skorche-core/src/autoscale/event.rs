//! What the autoscaler did (or, passive, would have done).

use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// One step of the autoscaler: a stage's worker count changed (or, in passive mode, a
/// change it recommends). In [`Report::scaling`](crate::Report::scaling).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ScaleEvent {
    /// Time since the run started.
    pub at: Duration,
    /// The stage.
    pub stage: String,
    /// Workers before.
    pub from: usize,
    /// Workers after.
    pub to: usize,
    /// Why, in plain words.
    pub reason: String,
    /// Whether it was applied (`false`: passive mode, a recommendation).
    pub applied: bool,
}

impl fmt::Display for ScaleEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>7.2}s {} {} -> {}{}: {}",
            self.at.as_secs_f64(),
            self.stage,
            self.from,
            self.to,
            if self.applied { "" } else { " (recommended)" },
            self.reason
        )
    }
}
