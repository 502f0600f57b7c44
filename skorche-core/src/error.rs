//! The one error type of a pipeline run.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

use serde::{Serialize, Serializer};

use crate::report::Report;

/// What went wrong inside one stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    /// A worker process could not be started (process mode): the worker program was not
    /// found or could not be executed, or what it needs (its socket, its shared-memory
    /// rings) could not be created, or it did not greet in time.
    Spawn,
    /// A worker process started but its greeting does not match what the stage expects
    /// (process mode): another protocol version (or a greeting that does not even decode,
    /// as from an older one), or a task under that name with another kind or other input or
    /// output types, or no such task at all. The worker program was built from other code
    /// than the driver: rebuild both, or name the right one with
    /// [`Pipeline::worker_program`](crate::Pipeline::worker_program).
    Handshake,
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
            FailureKind::Handshake => "handshake mismatch",
            FailureKind::Timeout => "timeout",
            FailureKind::BudgetExceeded => "failure budget exceeded",
        })
    }
}

/// The error a task returned, kept as it was: shared, so that [`StageFailure`] stays
/// `Clone`.
pub(crate) type SharedError = Arc<dyn Error + Send + Sync + 'static>;

/// One failure of one stage: which stage, which item, what happened.
///
/// It is an [`Error`]: `Display` names the stage, the item and the cause, and
/// [`source`](Error::source) is the error the task itself returned, so that a caller can
/// [downcast](https://doc.rust-lang.org/std/error/trait.Error.html#method.downcast_ref)
/// it to its own type:
///
/// ```
/// use std::error::Error;
/// use skorche_core::{FailureKind, Pipeline};
///
/// #[derive(Debug, PartialEq)]
/// struct TooBig(u32);
/// impl std::fmt::Display for TooBig {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         write!(f, "{} is too big", self.0)
///     }
/// }
/// impl Error for TooBig {}
///
/// let p = Pipeline::new();
/// let out = p.source([1u32, 2, 300]).try_map(|n| if n < 100 { Ok(n) } else { Err(TooBig(n)) });
/// let err = p.run_iter(out)?.collect::<Result<Vec<u32>, _>>().unwrap_err();
/// let failure = &err.failures()[0];
/// assert_eq!(failure.kind, FailureKind::Task);
/// assert_eq!(failure.message, "300 is too big"); // the text is kept too
/// let mine = failure.source().and_then(|e| e.downcast_ref::<TooBig>());
/// assert_eq!(mine, Some(&TooBig(300)));
/// # Ok::<(), skorche_core::PipelineError>(())
/// ```
///
/// The source is kept for errors returned by closures running on threads (`map`,
/// `try_map`, `map_with`, `chain`, `flat_map`, under a failure policy or not, and so in
/// [`Failed::error`](crate::Failed::error) too) and, for
/// [`FailureKind::BudgetExceeded`], the source of the last cause. It is `None` for a
/// panic (its payload is not an error), for every failure of a process stage (the error
/// crossed a process boundary as text: only [`message`](StageFailure::message) is left),
/// and for a registered task ([`Queue::map_task`](crate::Queue::map_task)) even on threads,
/// which behaves the same wherever it runs.
///
/// Two failures are equal when their stage, item, kind and message are; the sources are
/// not compared (errors have no equality; the message is the source's text). Serialized
/// (with `serde`), the source is its message, or `null`.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct StageFailure {
    /// Name of the failed stage.
    pub stage: String,
    /// Sequence number of the failing item: its index in the source it came from.
    pub seq: Option<u64>,
    /// What kind of failure this is.
    pub kind: FailureKind,
    /// The cause: the task's error message or the panic message.
    pub message: String,
    /// The task's own error, when it is known (see the type's documentation).
    #[serde(serialize_with = "source_text")]
    pub(crate) source: Option<SharedError>,
}

impl StageFailure {
    /// A failure of stage `stage` on item `seq`, with no source error. With
    /// [`StageFailure::with_source`], to build failures in tests of code that handles them.
    ///
    /// ```
    /// use skorche_core::{FailureKind, StageFailure};
    ///
    /// let f = StageFailure::new("parse", Some(3), FailureKind::Task, "bad digit");
    /// assert_eq!(f.to_string(), "stage 'parse', item #3: task error: bad digit");
    /// ```
    pub fn new(
        stage: impl Into<String>,
        seq: Option<u64>,
        kind: FailureKind,
        message: impl Into<String>,
    ) -> Self {
        StageFailure {
            stage: stage.into(),
            seq,
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// This failure with `source` as its [`Error::source`]; the message is unchanged.
    ///
    /// ```
    /// use std::error::Error;
    /// use skorche_core::{FailureKind, StageFailure};
    ///
    /// let io = std::io::Error::other("disk full");
    /// let f = StageFailure::new("save", None, FailureKind::Task, io.to_string()).with_source(io);
    /// assert!(f.source().unwrap().downcast_ref::<std::io::Error>().is_some());
    /// ```
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(Arc::from(source.into()));
        self
    }

    /// The failure of a task that returned `error`: its text is the message, and the error
    /// itself is kept as the source.
    pub(crate) fn task_error(stage: String, seq: Option<u64>, error: BoxError) -> Self {
        StageFailure {
            stage,
            seq,
            kind: FailureKind::Task,
            message: error.to_string(),
            source: Some(Arc::from(error)),
        }
    }
}

impl PartialEq for StageFailure {
    fn eq(&self, other: &Self) -> bool {
        self.stage == other.stage
            && self.seq == other.seq
            && self.kind == other.kind
            && self.message == other.message
    }
}

impl Eq for StageFailure {}

impl fmt::Display for StageFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stage '{}'", self.stage)?;
        if let Some(seq) = self.seq {
            write!(f, ", item #{seq}")?;
        }
        write!(f, ": {}: {}", self.kind, self.message)
    }
}

impl Error for StageFailure {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

/// Serializes a kept source as its message.
fn source_text<S: Serializer>(source: &Option<SharedError>, s: S) -> Result<S::Ok, S::Error> {
    match source {
        Some(e) => s.serialize_some(&e.to_string()),
        None => s.serialize_none(),
    }
}

/// The error of a pipeline run.
///
/// Every failed stage is listed; [`PipelineError::failures`] gives them one by one.
///
/// Not `Eq`: [`PipelineError::Interrupted`] carries a [`Report`], which holds an `f64`.
///
/// [`Invalid`](PipelineError::Invalid) is kept for mistakes in the declaration; a fault at
/// run time is a stage's failure ([`Failed`](PipelineError::Failed), with its
/// [`FailureKind`]) or, when no stage is to blame, [`Runtime`](PipelineError::Runtime).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// One or more stages failed; the run was stopped.
    #[error("pipeline failed: {}", join(.0))]
    Failed(Vec<StageFailure>),
    /// The declared graph cannot run (nothing was started): a mistake in the declaration,
    /// which the same code makes every time.
    #[error("invalid pipeline: {0}")]
    Invalid(String),
    /// The run could not start, or could not go on, for a reason that is neither the
    /// declaration nor a stage's items: the operating system refused something the run
    /// needs (such as the thread that watches signals for
    /// [`Pipeline::stop_on_signals`](crate::Pipeline::stop_on_signals)), or skorche's own
    /// supervisor failed. Another run of the same pipeline may succeed. (A process stage
    /// whose workers cannot be started fails with [`FailureKind::Spawn`] instead, naming
    /// the stage.)
    #[error("the run failed: {0}")]
    Runtime(String),
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
    /// The failures of every failed stage (empty for the other variants).
    pub fn failures(&self) -> &[StageFailure] {
        match self {
            PipelineError::Failed(f) => f,
            PipelineError::Invalid(_)
            | PipelineError::Runtime(_)
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
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Interrupted {
    /// What every stage did until the run ended (items in and out, busy and wall time).
    pub report: Report,
    /// Whether everything in flight finished, or the run was aborted.
    pub outcome: StopOutcome,
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
