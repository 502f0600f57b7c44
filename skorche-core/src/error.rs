//! The one error type of a pipeline run.

use std::fmt;

use crate::report::Report;

/// What went wrong inside one stage.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// The task returned an error.
    Task,
    /// The task panicked; the message is the panic payload.
    Panic,
    /// The stage was declared in a way that cannot run (e.g. a split key out of range).
    Invalid,
    /// A worker process died (process mode).
    WorkerDied,
    /// A wire-protocol or shared-memory handle fault (process mode).
    Protocol,
    /// A worker could not be spawned or refused the handshake (process mode).
    Spawn,
    /// A per-item timeout expired.
    Timeout,
    /// More items failed than a failure budget allows (a stage's `max_failures` or
    /// `max_failure_rate`, or the run's `Pipeline::max_failures`); the message names the
    /// budget and the last cause.
    BudgetExceeded,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureKind::Task => "task error",
            FailureKind::Panic => "panic",
            FailureKind::Invalid => "invalid stage",
            FailureKind::WorkerDied => "worker died",
            FailureKind::Protocol => "protocol fault",
            FailureKind::Spawn => "spawn failed",
            FailureKind::Timeout => "timeout",
            FailureKind::BudgetExceeded => "failure budget exceeded",
        })
    }
}

/// One failure of one stage: which stage, which item, what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageFailure {
    /// Name of the failed stage.
    pub stage: String,
    /// Sequence number of the failing item: its index in the source it came from.
    pub seq: Option<u64>,
    /// What kind of failure this is.
    pub kind: FailureKind,
    /// The cause: the task's error message or the panic message.
    pub message: String,
}

impl fmt::Display for StageFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stage '{}'", self.stage)?;
        if let Some(seq) = self.seq {
            write!(f, ", item #{seq}")?;
        }
        write!(f, ": {}: {}", self.kind, self.message)
    }
}

/// The error of a pipeline run.
///
/// Every failed stage is listed; [`PipelineError::failures`] gives them one by one.
///
/// Not `Eq`: [`PipelineError::Interrupted`] carries a [`Report`], which holds an `f64`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// One or more stages failed; the run was stopped.
    #[error("pipeline failed: {}", join(.0))]
    Failed(Vec<StageFailure>),
    /// The declared graph cannot run (nothing was started).
    #[error("invalid pipeline: {0}")]
    Invalid(String),
    /// The run was stopped before its end without a stage failing (for example another
    /// output of it was dropped before its end): the items read may be incomplete.
    #[error("the run was stopped before its end: {0}")]
    Cancelled(String),
    /// The run was stopped on request ([`Running::stop`](crate::Running::stop), a
    /// [`StopHandle`](crate::StopHandle), or a signal with
    /// [`Pipeline::stop_on_signals`](crate::Pipeline::stop_on_signals)): the sources were
    /// not read to their end. Every item yielded before this error was finished by every
    /// stage; the report counts what each stage did.
    #[error("{0}")]
    Interrupted(Box<Interrupted>),
}

impl PipelineError {
    /// The failures of every failed stage (empty for [`PipelineError::Invalid`]).
    pub fn failures(&self) -> &[StageFailure] {
        match self {
            PipelineError::Failed(f) => f,
            PipelineError::Invalid(_)
            | PipelineError::Cancelled(_)
            | PipelineError::Interrupted(_) => &[],
        }
    }

    /// The report of an interrupted run ([`PipelineError::Interrupted`]); `None` otherwise.
    pub fn report(&self) -> Option<&Report> {
        match self {
            PipelineError::Interrupted(i) => Some(&i.report),
            _ => None,
        }
    }
}

/// How a run stopped on request ended: the payload of [`PipelineError::Interrupted`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Interrupted {
    /// What every stage did until the run ended (items in and out, busy and wall time).
    pub report: Report,
    /// Whether everything in flight finished, or the run was aborted.
    pub outcome: StopOutcome,
}

impl PartialEq for Interrupted {
    fn eq(&self, other: &Self) -> bool {
        // `Report` has no `PartialEq`; its derived `Debug` shows every field, exactly.
        self.outcome == other.outcome
            && format!("{:?}", self.report) == format!("{:?}", other.report)
    }
}

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the run was interrupted: {}", self.outcome)
    }
}

/// How a graceful stop went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopOutcome {
    /// The sources stopped and every item already taken from them reached the outputs
    /// (or was filtered, or batched into a partial batch) within the grace period.
    Drained,
    /// The grace period ran out: the run was aborted, and the items still in flight were
    /// dropped (worker processes killed and reaped).
    GraceExpired,
    /// A second stop (or signal), or [`StopHandle::stop_now`](crate::StopHandle::stop_now),
    /// aborted the run at once: the items still in flight were dropped.
    Forced,
}

impl fmt::Display for StopOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StopOutcome::Drained => "every item in flight finished",
            StopOutcome::GraceExpired => "the grace period ran out; items in flight were dropped",
            StopOutcome::Forced => "stopped at once; items in flight were dropped",
        })
    }
}

fn join(failures: &[StageFailure]) -> String {
    failures
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A boxed error a fallible task may return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
