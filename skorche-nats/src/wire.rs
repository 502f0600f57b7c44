//! The messages a run puts on NATS: its manifest, workers' greetings, batches and results.
//!
//! They wrap the transport-neutral protocol of `skorche_worker::protocol` (a batch id, the
//! results' outcomes, the task identity) and replace its ring handles by what a network can
//! carry: a value is inline bytes or a reference to an object in the run's object store.
//! Encoded with the worker protocol's codec (postcard).

use serde::{Deserialize, Serialize};
use skorche_worker::protocol::{Hello, Outcome, TaskIdentity};

use crate::error::NatsError;

/// Version of these envelopes; a worker built from another version refuses the run.
pub const WIRE_VERSION: u32 = 1;

/// What a worker needs to serve one run of one stage, written by the driver to the job's
/// key-value bucket under `run.<run>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// [`WIRE_VERSION`] of the driver.
    pub wire: u32,
    /// Unique id of this run of this stage.
    pub run: String,
    /// The stage's name, for logs and errors.
    pub stage: String,
    /// The task the stage runs.
    pub task: TaskIdentity,
    /// Its encoded params.
    #[serde(with = "serde_bytes")]
    pub params: Vec<u8>,
    /// Every task registered in the driver's binary, sorted: a worker serves only a driver
    /// whose registry is its own.
    pub registry: Vec<TaskIdentity>,
    /// Stream and durable consumer the worker pulls batches from.
    pub work_stream: String,
    /// Durable consumer of `work_stream`.
    pub work_consumer: String,
    /// Results are published to `<results_prefix>.<link>`.
    pub results_prefix: String,
    /// Workers greet the driver here.
    pub hello_subject: String,
    /// Object store bucket of large values.
    pub objects: String,
    /// Values of at least this many bytes go to the object store.
    pub inline_limit: usize,
    /// Redelivery delay after a worker stops acknowledging; workers tell the server they are
    /// still on a batch every third of it.
    pub ack_wait_ms: u64,
}

/// A worker's answer to a manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Greeting {
    /// `host:pid` of the worker.
    pub worker: String,
    /// Its `Hello` for the stage's task, when it accepts the run.
    pub hello: Option<Hello>,
    /// Why it refuses, when it does.
    pub refused: Option<String>,
}

/// One value on the wire.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum WireValue {
    /// The encoded bytes.
    Inline(#[serde(with = "serde_bytes")] Vec<u8>),
    /// An object in the run's object store, of this many bytes.
    Object {
        /// The object's name.
        name: String,
        /// Its length.
        len: u64,
    },
}

/// A batch of inputs for the run's workers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireWork {
    /// The driver-side link (slot) that sent it: results go back to it.
    pub link: u32,
    /// The batch id, unique per link.
    pub batch: u64,
    /// The inputs, in order.
    pub items: Vec<WireValue>,
}

/// The results of a whole batch, from one worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireResults {
    /// The link the batch came from.
    pub link: u32,
    /// The batch answered.
    pub batch: u64,
    /// `host:pid` of the worker that ran it.
    pub worker: String,
    /// One outcome per input.
    pub outcomes: Vec<Outcome>,
    /// The outputs of the inputs that succeeded, in order.
    pub outputs: Vec<WireValue>,
    /// Nanoseconds the worker spent on the batch.
    pub busy_ns: u64,
}

pub(crate) fn encode<T: Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>, NatsError> {
    skorche_worker::codec::encode(value).map_err(|e| NatsError::Malformed {
        what,
        detail: e.to_string(),
    })
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, NatsError> {
    skorche_worker::codec::decode(bytes).map_err(|e| NatsError::Malformed {
        what,
        detail: e.to_string(),
    })
}
