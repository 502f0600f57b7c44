//! The versioned, transport-neutral messages between a coordinator and one worker.
//!
//! Nothing here names a transport: the local transport (`transport::local`) carries these
//! messages as length-checked frames over a socket, the in-process transport over channels.
//! The worker speaks first:
//!
//! ```text
//! worker                                   coordinator
//!   | -- Hello{version,pid,task identity} --> |
//!   | <- Welcome{stage,params,rings,..} ----- |   (or Reject{reason})
//!   | -- Ready -----------------------------> |   (or Refuse{reason}: state/rings failed)
//!   | <- Work{batch,items} ------------------ |   (any number of batches)
//!   | -- Results{batch,first,outcomes,..} --> |   (one or more per batch, in order, the
//!   |                                          |    last one with `last: true`)
//!   | <- End -------------------------------- |
//!   | -- Bye -------------------------------> |   then the worker exits 0
//! ```
//!
//! Results are matched to their batch by `batch` id and position, and checked by the
//! coordinator against what it asked (the part's place in the batch, the counts, one output
//! per input for map kinds) before anything is emitted, so a confused or hostile worker can make a run fail, never produce a wrong result.
//! A worker whose binary does not know the task answers [`FromWorker::Refuse`] instead of
//! `Hello`.

use crate::shm::{Handle, RingDescriptor};
use crate::values::Values;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Version of this protocol; bumped on any change to a message's shape, meaning or encoding
/// (3: messages and payloads encoded with postcard instead of bincode, and a batch's values
/// packed into one buffer; 4: a task's identity carries its declared version).
///
/// Both sides compare it at handshake: a worker built from another version of this crate is
/// rejected with [`HandshakeError::VersionMismatch`](crate::error::HandshakeError), or with
/// `HandshakeError::Protocol` when its `Hello` is not even decodable (a worker of version 2
/// or older writes bincode).
pub const PROTOCOL_VERSION: u32 = 4;

/// How a task maps inputs to outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum TaskKind {
    /// `fn(In) -> Out`.
    Map,
    /// `fn(In) -> Result<Out, E: Display>`.
    TryMap,
    /// `fn(In) -> impl IntoIterator<Item = Out>`: zero or more outputs per input.
    FlatMap,
    /// State built once per instance from params: `init: fn(P) -> S`, `run: fn(&mut S, In) -> Out`.
    Stateful,
    /// As `Stateful`, with `run: fn(&mut S, In) -> Result<Out, E: Display>`.
    TryStateful,
    /// A `Vec<u8>` output of known size written in place: `size: fn(&In) -> usize`,
    /// `fill: fn(In, &mut [u8])`. In a worker, an output at or above the shm threshold is
    /// filled straight inside the output ring (no intermediate buffer, no copy).
    FillBytes,
}

/// What a task is, as both sides must agree on it before any item flows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskIdentity {
    /// Registered name.
    pub name: String,
    /// How it maps inputs to outputs (a map and a flat-map of the same name and types differ).
    pub kind: TaskKind,
    /// `std::any::type_name` of the input.
    pub input_type: String,
    /// `std::any::type_name` of the output.
    pub output_type: String,
    /// The version the task is declared with (`task!`'s `.version(..)`), if any; for a
    /// chain, its steps' versions joined by the chain separator.
    pub version: Option<String>,
}

impl fmt::Display for TaskIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} ({:?}: {} => {}",
            self.name, self.kind, self.input_type, self.output_type
        )?;
        match &self.version {
            Some(v) => write!(f, ", version {v:?})"),
            None => write!(f, ")"),
        }
    }
}

/// A message from a worker to its coordinator.
#[derive(Debug, Serialize, Deserialize)]
pub enum FromWorker {
    /// First message: who the worker is and what it runs.
    Hello(Hello),
    /// The worker cannot serve: the task is unknown in its binary (sent instead of `Hello`), or
    /// attaching rings or building the task state failed (sent instead of `Ready`).
    Refuse {
        /// Protocol version of the worker.
        version: u32,
        /// Process id of the worker.
        pid: u32,
        /// Human-readable cause, naming the task and, for an unknown task, the known ones.
        reason: String,
        /// Names of the tasks registered in the worker binary.
        known: Vec<String>,
    },
    /// Sent after `Welcome`: rings attached and task state built; work may flow.
    Ready,
    /// Results of a run of items of one `Work` batch.
    Results(Results),
    /// Sent after `End` once every result was sent; the worker then exits 0.
    Bye,
}

impl FromWorker {
    /// The message's name, for errors.
    pub fn name(&self) -> &'static str {
        match self {
            FromWorker::Hello(_) => "Hello",
            FromWorker::Refuse { .. } => "Refuse",
            FromWorker::Ready => "Ready",
            FromWorker::Results(_) => "Results",
            FromWorker::Bye => "Bye",
        }
    }
}

/// The worker's greeting.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`] of the worker.
    pub version: u32,
    /// Process id of the worker.
    pub pid: u32,
    /// The task the worker will run, as registered in its binary.
    pub task: TaskIdentity,
}

/// A message from the coordinator to one worker.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToWorker {
    /// Handshake accepted: what the worker needs to run.
    Welcome(Welcome),
    /// Handshake refused; the worker exits non-zero.
    Reject {
        /// Why, naming the stage.
        reason: String,
    },
    /// A batch of inputs.
    Work(Work),
    /// End of stream: finish, send the remaining results and `Bye`, exit 0.
    End,
}

impl ToWorker {
    /// The message's name, for errors.
    pub fn name(&self) -> &'static str {
        match self {
            ToWorker::Welcome(_) => "Welcome",
            ToWorker::Reject { .. } => "Reject",
            ToWorker::Work(_) => "Work",
            ToWorker::End => "End",
        }
    }
}

/// Handshake reply: per-worker configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Welcome {
    /// Name of the stage, for logs and errors.
    pub stage: String,
    /// Per-worker constants, serialized with [`codec::encode`](crate::codec::encode); the
    /// task's state is built from them once.
    pub params: Vec<u8>,
    /// Shared-memory rings the worker attaches (inputs it reads, and its output ring).
    pub rings: Vec<RingDescriptor>,
    /// Index into `rings` of the ring the worker writes large outputs to; `None`: all inline.
    pub output_ring: Option<usize>,
    /// Outputs whose encoded size is at least this many bytes go to the output ring.
    pub shm_threshold: usize,
    /// Leave input records in the rings after reading them: the coordinator releases them
    /// once the item is answered, so that a worker dying mid-item leaves the input intact for
    /// the worker that takes the item over.
    pub keep_inputs: bool,
}

/// A batch of inputs, answered by one or more [`Results`] carrying the same `batch` id.
///
/// The inputs are encoded into one buffer ([`Values`]): a batch of small items costs one
/// allocation and one copy, not one per item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Work {
    /// Chosen by the coordinator, unique per worker link; echoed in every answer.
    pub batch: u64,
    /// The inputs, processed in this order.
    pub items: Values,
}

/// Results of the items `first..first + outcomes.len()` of a batch.
///
/// A worker may answer a batch in several parts (so that the coordinator sees progress on a
/// long batch, and so that outputs stored in the output ring are handed over before the ring
/// could fill up); parts come in order and the last has `last: true`. Results are matched to
/// inputs by position: the coordinator checks the batch id, the position and the counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Results {
    /// The batch answered.
    pub batch: u64,
    /// Index in the batch of the first result.
    pub first: u32,
    /// One outcome per input, in the batch's order.
    pub outcomes: Vec<Outcome>,
    /// The outputs of the inputs that succeeded, in order: [`Outcome::Done`] says how many
    /// belong to each.
    pub outputs: Values,
    /// Whether this part ends the batch.
    pub last: bool,
    /// Nanoseconds the worker spent on these items (decoding, the task, encoding).
    pub busy_ns: u64,
}

impl Results {
    /// Checks that the outputs are the ones the outcomes announce.
    ///
    /// # Errors
    /// [`DecodeError::Malformed`](crate::error::DecodeError) naming the mismatch.
    pub fn validate(&self) -> Result<(), crate::error::DecodeError> {
        self.outputs.validate()?;
        let announced: u64 = self
            .outcomes
            .iter()
            .map(|o| match o {
                Outcome::Done(n) => u64::from(*n),
                Outcome::Failed(_) => 0,
            })
            .sum();
        if announced != self.outputs.len() as u64 {
            return Err(crate::error::DecodeError::Malformed {
                what: format!(
                    "outcomes announce {announced} outputs, the message holds {}",
                    self.outputs.len()
                ),
            });
        }
        Ok(())
    }
}

/// What became of one input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The task ran; this many of the part's outputs are its own (one for map kinds).
    Done(u32),
    /// The task failed on this input.
    Failed(TaskFailure),
}

/// An encoded value: inline bytes, or a record in a shared-memory ring.
///
/// A payload can be forwarded untouched: a worker's output `Payload` put into another
/// worker's [`Work`] moves a ring record without the coordinator copying it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload {
    /// The encoded bytes themselves (small values).
    Inline(#[serde(with = "serde_bytes")] Vec<u8>),
    /// A committed record in a ring; the reader releases it after decoding.
    Shm(Handle),
}

impl Payload {
    /// Length in bytes of the encoded value.
    pub fn len(&self) -> usize {
        match self {
            Payload::Inline(b) => b.len(),
            Payload::Shm(h) => h.len as usize,
        }
    }

    /// Whether the encoded value is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The payload as one value of a batch, borrowed.
    pub fn as_value(&self) -> crate::values::ValueRef<'_> {
        match self {
            Payload::Inline(b) => crate::values::ValueRef::Inline(b),
            Payload::Shm(h) => crate::values::ValueRef::Shm(h),
        }
    }

    /// The ring handle, if the payload lives in shared memory.
    pub fn handle(&self) -> Option<&Handle> {
        match self {
            Payload::Inline(_) => None,
            Payload::Shm(h) => Some(h),
        }
    }
}

/// Why a task failed on one input (or while building its state).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskFailure {
    /// Error, panic, or payload that could not be decoded/encoded.
    pub kind: FailureKind,
    /// The error's `Display`, or the panic message.
    pub message: String,
}

impl TaskFailure {
    /// A failure of the given kind.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        TaskFailure {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            FailureKind::Error => "task error",
            FailureKind::Panic => "task panicked",
            FailureKind::Codec => "payload codec error",
        };
        write!(f, "{what}: {}", self.message)
    }
}

impl std::error::Error for TaskFailure {}

/// The kind of a [`TaskFailure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum FailureKind {
    /// The task returned `Err`.
    Error,
    /// The task panicked.
    Panic,
    /// The input could not be decoded, or an output could not be encoded or stored.
    Codec,
}
