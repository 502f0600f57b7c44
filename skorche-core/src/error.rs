//! The one error type of a pipeline run.

use std::fmt;

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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
}

impl PipelineError {
    /// The failures of every failed stage (empty for [`PipelineError::Invalid`]).
    pub fn failures(&self) -> &[StageFailure] {
        match self {
            PipelineError::Failed(f) => f,
            PipelineError::Invalid(_) | PipelineError::Cancelled(_) => &[],
        }
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
