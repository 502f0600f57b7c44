//! Error types, one per operation.

use crate::shm::{HandleError, OpenError, ReserveError, RingId};
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// Encoding a value into a [`Payload`](crate::protocol::Payload) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// serde/postcard refused the value.
    #[error("cannot serialize value of type {type_name}: {message}")]
    Serialize {
        /// `type_name` of the value.
        type_name: &'static str,
        /// postcard's message.
        message: String,
    },
    /// The output ring stayed full (or is unusable) for the whole timeout.
    #[error("cannot reserve {len} bytes in ring {ring:?}: {source}")]
    Reserve {
        /// The ring.
        ring: RingId,
        /// Bytes asked for.
        len: usize,
        /// The ring's error.
        #[source]
        source: ReserveError,
    },
}

/// Decoding a [`Payload`](crate::protocol::Payload) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes are not a valid encoding of the type.
    #[error("cannot deserialize {type_name}: {message}")]
    Deserialize {
        /// `type_name` of the expected value.
        type_name: &'static str,
        /// postcard's message.
        message: String,
    },
    /// The bytes decode but leave bytes unread.
    #[error("cannot deserialize {type_name}: {extra} trailing bytes")]
    TrailingBytes {
        /// `type_name` of the expected value.
        type_name: &'static str,
        /// Unread bytes.
        extra: usize,
    },
    /// A handle names a ring this process has not attached.
    #[error("handle names unknown ring {ring:?}")]
    UnknownRing {
        /// The ring named.
        ring: RingId,
    },
    /// The ring rejected the handle (out of bounds, stale, not committed ...).
    #[error("invalid handle into ring {ring:?}: {source}")]
    Handle {
        /// The ring named.
        ring: RingId,
        /// The ring's error.
        #[source]
        source: HandleError,
    },
    /// A message's parts do not agree (lengths that do not add up, a count that is off).
    #[error("malformed message: {what}")]
    Malformed {
        /// What does not add up.
        what: String,
    },
    /// A typed array's bytes are not a whole number of its elements.
    #[error(transparent)]
    Slice(#[from] crate::shm::SliceError),
}

/// The worker's handshake did not match what the coordinator expects.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The worker speaks another protocol version.
    #[error("stage {stage}: worker speaks protocol version {found}, expected {expected}")]
    VersionMismatch {
        /// Stage name.
        stage: String,
        /// Our [`PROTOCOL_VERSION`](crate::protocol::PROTOCOL_VERSION).
        expected: u32,
        /// The worker's.
        found: u32,
    },
    /// The worker binary does not know the task (or announced another one).
    #[error("stage {stage}: worker does not run task {task:?} (known tasks: {known:?}): {reason}")]
    UnknownTask {
        /// Stage name.
        stage: String,
        /// The task asked for.
        task: String,
        /// Tasks the worker binary knows, if it said.
        known: Vec<String>,
        /// The worker's or our own explanation.
        reason: String,
    },
    /// The task's input or output type differs between coordinator and worker.
    #[error("stage {stage}: task {task:?} {which} type mismatch: expected {expected}, worker has {found}")]
    TypeMismatch {
        /// Stage name.
        stage: String,
        /// Task name.
        task: String,
        /// `"input"` or `"output"`.
        which: &'static str,
        /// The coordinator's type name.
        expected: String,
        /// The worker's type name.
        found: String,
    },
    /// The worker registers the task under the same name and types but as another kind
    /// (a map against a flat-map): its outputs would be misread.
    #[error("stage {stage}: task {task:?} is a {expected:?} task here but a {found:?} task in the worker")]
    KindMismatch {
        /// Stage name.
        stage: String,
        /// Task name.
        task: String,
        /// Kind the coordinator expects.
        expected: crate::protocol::TaskKind,
        /// Kind the worker has.
        found: crate::protocol::TaskKind,
    },
    /// The worker's binary declares the task with another version (`task!`'s `.version(..)`)
    /// than the coordinator's: its results would not be those the stage means (or has
    /// cached).
    #[error(
        "stage {stage}: task {task:?} has version {} here but {} in the worker",
        shown_version(.expected),
        shown_version(.found)
    )]
    TaskVersionMismatch {
        /// Stage name.
        stage: String,
        /// Task name.
        task: String,
        /// The coordinator's version.
        expected: Option<String>,
        /// The worker's version.
        found: Option<String>,
    },
    /// A remote worker refused to serve the run (its task registry differs from the
    /// driver's: another build of the program).
    #[error("stage {stage}: worker {worker} refused the run: {reason}")]
    Refused {
        /// Stage name.
        stage: String,
        /// The worker (`host:pid`).
        worker: String,
        /// Its explanation, naming the tasks that differ.
        reason: String,
    },
    /// The worker sent something other than the expected handshake message.
    #[error("stage {stage}: handshake protocol error: {detail}")]
    Protocol {
        /// Stage name.
        stage: String,
        /// What was wrong.
        detail: String,
    },
}

/// Spawning a worker process and completing its handshake failed.
///
/// In every case the child (if one was started) has been killed and reaped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// The IPC server or channel could not be created.
    #[error("stage {stage}: cannot set up the worker's connection: {source}")]
    Setup {
        /// Stage name.
        stage: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The executable could not be started.
    #[error("stage {stage}: cannot start worker {exe:?}: {source}")]
    Exec {
        /// Stage name.
        stage: String,
        /// The executable.
        exe: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The child exited before greeting (it does not speak the protocol, or crashed).
    #[error("stage {stage}: worker {exe:?} (pid {pid}) exited with {status} before the handshake")]
    Exited {
        /// Stage name.
        stage: String,
        /// The executable.
        exe: PathBuf,
        /// Its pid.
        pid: u32,
        /// Its exit status.
        status: ExitStatus,
    },
    /// The child did not complete the handshake in time; it was killed.
    #[error("stage {stage}: worker {exe:?} (pid {pid}) did not complete the handshake within {timeout:?}")]
    Timeout {
        /// Stage name.
        stage: String,
        /// The executable.
        exe: PathBuf,
        /// Its pid.
        pid: u32,
        /// The handshake timeout.
        timeout: Duration,
    },
    /// The worker greeted but does not match.
    /// The worker program is the driver itself and its `main` started a pipeline instead of
    /// calling `skorche::worker::enter()` first.
    #[error("stage {stage}: worker {exe:?} (pid {pid}) ran the driver's main instead of serving: call skorche::worker::enter() as the first thing in main")]
    NoEnter {
        /// Stage name.
        stage: String,
        /// The worker program.
        exe: PathBuf,
        /// Its pid.
        pid: u32,
    },
    /// Remote workers could not be reached or set up (the broker is unreachable, or no
    /// worker answered in time).
    #[error("stage {stage}: remote workers through {endpoint}: {detail}")]
    Remote {
        /// Stage name.
        stage: String,
        /// The broker's address.
        endpoint: String,
        /// What went wrong.
        detail: String,
    },
    /// The worker refused the task or announced another identity.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// The worker accepted the handshake but could not attach rings or build the task state.
    #[error("stage {stage}: worker (pid {pid}) failed to start task: {reason}")]
    Init {
        /// Stage name.
        stage: String,
        /// Its pid.
        pid: u32,
        /// The worker's explanation.
        reason: String,
    },
}

/// Talking to a running worker failed.
/// A link to a worker failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The worker is gone (or its connection broke) while sending to it.
    #[error("stage {stage}: cannot send to {worker}: {detail}")]
    Send {
        /// Stage name.
        stage: String,
        /// The worker (`worker pid N`).
        worker: String,
        /// The transport's error.
        detail: String,
    },
}

/// A worker could not attach a ring named in `Welcome`.
#[derive(Debug, thiserror::Error)]
#[error("cannot attach ring {index}: {source}")]
pub struct AttachError {
    /// Index in `Welcome::rings`.
    pub index: usize,
    /// The ring's error.
    #[source]
    pub source: OpenError,
}

/// A task version as an error shows it: quoted, or `none` when undeclared.
fn shown_version(version: &Option<String>) -> String {
    version
        .as_ref()
        .map_or_else(|| "none".to_string(), |v| format!("{v:?}"))
}
