//! The seam between a coordinator and its workers: how a worker is started and reached.
//!
//! A coordinator asks a [`Transport`] to start a worker for a [`WorkerSpec`] and gets back a
//! [`WorkerLink`]: a [`WorkSender`] (batches out), an [`EventReceiver`] (results, the end, a
//! death or a protocol fault in) and a [`WorkerControl`] (identity, stop, reap). The messages
//! are the transport-neutral ones of [`crate::protocol`]; what a transport does with them is
//! its own business:
//!
//! - [`local`]: a child process (the driver re-executed, or a worker binary) in its own
//!   process group, reached through a socket pair inherited at spawn and carrying
//!   length-checked frames; large payloads live in shared-memory rings whose descriptors the
//!   child inherits too. Nothing has a name, so nothing can be left behind.
//! - [`inproc`]: the worker loop on a thread of this process, over channels: coordinator tests
//!   without processes.
//!
//! The rules every transport keeps (and the coordinator relies on):
//! - events of one link come in the order the worker sent them;
//! - after [`WorkerControl::kill`], [`EventReceiver::recv`] returns promptly (the link ends
//!   with [`WorkerEvent::Exited`]);
//! - a worker that ends without `Bye` is reported once as [`WorkerEvent::Exited`] with its
//!   cause, after it was reaped.

pub mod inproc;
pub mod local;

use crate::protocol::{Results, TaskIdentity, Work};
use crate::rings::Ring;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use crate::error::{LinkError, SpawnError};

/// Default bound on starting a worker and completing its handshake.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Default size from which values go through a ring: 64 KiB. Below it, a copy through the
/// socket costs less than a ring round trip.
pub const DEFAULT_SHM_THRESHOLD: usize = 64 * 1024;

/// Everything a transport needs to start one worker of a stage.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    /// Stage name, for logs and errors.
    pub stage: String,
    /// The task the worker must run; the worker's own registration must match it exactly.
    pub task: TaskIdentity,
    /// Encoded params ([`BoundTask::params`](crate::registry::BoundTask::params)).
    pub params: Vec<u8>,
    /// Rings the worker attaches (its input ring, its output ring, rings it reads forwarded
    /// records from). A transport that cannot share memory sends everything inline.
    pub rings: Vec<Arc<Ring>>,
    /// Index into `rings` of the worker's output ring.
    pub output_ring: Option<usize>,
    /// Outputs of at least this many bytes go to the output ring.
    pub shm_threshold: usize,
    /// Bound on start + handshake.
    pub handshake_timeout: Duration,
    /// The worker leaves input records for the coordinator to release (see
    /// [`Welcome::keep_inputs`](crate::protocol::Welcome::keep_inputs)).
    pub keep_inputs: bool,
}

impl WorkerSpec {
    /// A spec for a bound task: its identity and params, no rings, the default threshold
    /// and handshake timeout.
    pub fn for_task<In: 'static, Out: 'static>(
        stage: impl Into<String>,
        task: &crate::registry::BoundTask<In, Out>,
    ) -> Self {
        WorkerSpec {
            stage: stage.into(),
            task: task.identity(),
            params: task.params().to_vec(),
            rings: Vec::new(),
            output_ring: None,
            shm_threshold: DEFAULT_SHM_THRESHOLD,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            keep_inputs: false,
        }
    }
}

/// Starts workers. Implemented by [`local::LocalTransport`] and [`inproc::InProcess`].
pub trait Transport: Send + Sync + fmt::Debug {
    /// Starts one worker and completes the handshake within `spec.handshake_timeout`.
    ///
    /// # Errors
    /// [`SpawnError`] naming the stage: the worker could not start, did not greet in time,
    /// refused the task, or runs another task identity. A worker that was started is stopped
    /// and reaped before this returns an error.
    fn start_worker(&self, spec: &WorkerSpec) -> Result<WorkerLink, SpawnError>;

    /// Whether its workers can read this process's shared-memory rings. When not (workers
    /// on other hosts), the coordinator sends every value inline, forwards nothing between
    /// stages through rings, and the transport carries large values its own way.
    fn shares_memory(&self) -> bool {
        true
    }
}

/// One started, handshaken worker.
#[derive(Debug)]
pub struct WorkerLink {
    /// Sends batches and the end of stream.
    pub sender: Box<dyn WorkSender>,
    /// Receives what the worker answers.
    pub receiver: Box<dyn EventReceiver>,
    /// Identity, stop and reap.
    pub control: Arc<dyn WorkerControl>,
}

/// The sending half of a link.
pub trait WorkSender: Send + fmt::Debug {
    /// Sends one batch.
    ///
    /// # Errors
    /// The batch comes back with the error when the worker is gone, so it can be dispatched
    /// again elsewhere.
    // The error hands the batch back by value: it happens once per dead worker, so its size
    // costs nothing, and boxing it would cost an allocation for nothing.
    #[allow(clippy::result_large_err)]
    fn send(&mut self, work: Work) -> Result<(), (Work, LinkError)>;

    /// Signals end of stream: the worker answers what it has, says `Bye` and exits.
    ///
    /// # Errors
    /// When the worker is gone.
    fn end(&mut self) -> Result<(), LinkError>;
}

/// The receiving half of a link.
pub trait EventReceiver: Send + fmt::Debug {
    /// Blocks for the next event. After [`WorkerEvent::Finished`] or
    /// [`WorkerEvent::Exited`] the link is over and every later call returns `Exited` again.
    fn recv(&mut self) -> WorkerEvent;
}

/// What a worker said or did.
#[derive(Debug)]
#[non_exhaustive]
pub enum WorkerEvent {
    /// Results of part of a batch.
    Results(Results),
    /// The worker said `Bye` after `End` and ended cleanly; it is reaped.
    Finished,
    /// The worker ended without `Bye` (killed, crashed, exited); it is reaped.
    Exited(ExitCause),
    /// The worker sent something that is not the protocol (a truncated or oversized frame,
    /// an undecodable or unexpected message). The worker has been stopped.
    Protocol(String),
}

/// How a worker ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExitCause {
    /// It exited with this code.
    Code(i32),
    /// It was killed by this signal.
    Signal(i32),
    /// Its end could not be observed (a thread worker that panicked out of its loop).
    Unknown,
}

impl fmt::Display for ExitCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitCause::Code(c) => write!(f, "exited with code {c}"),
            ExitCause::Signal(s) => write!(f, "was killed by signal {s} ({})", signal_name(*s)),
            ExitCause::Unknown => write!(f, "ended"),
        }
    }
}

/// The conventional name of a signal number.
pub fn signal_name(sig: i32) -> &'static str {
    nix::sys::signal::Signal::try_from(sig)
        .map(|s| s.as_str())
        .unwrap_or("unknown signal")
}

/// Where a worker runs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WorkerId {
    /// A child process of this one.
    Local {
        /// Its process id (also its process group id).
        pid: u32,
    },
    /// A slot of a stage whose workers run elsewhere (other hosts, through a broker): the
    /// batches it sends go to whichever remote worker takes them.
    Remote {
        /// The broker's address.
        endpoint: String,
        /// The slot's number in its stage.
        link: u32,
    },
    /// A thread of this process.
    InProcess {
        /// A number unique in this process.
        index: u64,
    },
}

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkerId::Local { pid } => write!(f, "worker pid {pid}"),
            WorkerId::InProcess { index } => write!(f, "in-process worker #{index}"),
            WorkerId::Remote { endpoint, link } => write!(f, "remote slot #{link} via {endpoint}"),
        }
    }
}

/// Control of one worker.
pub trait WorkerControl: Send + Sync + fmt::Debug {
    /// Where it runs.
    fn id(&self) -> WorkerId;
    /// Stops it at once (for a process: SIGKILL to its whole process group), so that its
    /// receiver returns promptly. Does not wait.
    fn kill(&self);
    /// Waits until it has ended, reaps it, and returns how it ended.
    fn wait(&self) -> ExitCause;
}
