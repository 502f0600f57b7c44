//! The runtime of a skorche worker process.
//!
//! A process-mode stage runs a **registered task** in worker processes. This crate holds:
//!
//! - [`registry`]: tasks declared with [`task!`] under stable names, runnable in-process
//!   ([`registry::BoundTask::instantiate`]) or looked up by name in a worker;
//! - [`protocol`]: the versioned wire messages ([`protocol::PROTOCOL_VERSION`]);
//! - [`codec`]: the one serialization seam (bincode 2 over serde, raw bytes for `Vec<u8>`,
//!   large values straight into a shared-memory ring);
//! - [`enter`]: the worker entry a driver calls first thing in `main`;
//! - [`client`]: the coordinator's side of one worker process (spawn, handshake, send work,
//!   receive results, detect death, reap);
//! - [`builtin`]: tasks used by tests and benches, hosted by the `skorche-worker` binary.
//!
//! # Example
//!
//! ```no_run
//! use skorche_worker::client::{SpawnSpec, WorkerEvent, WorkerProcess};
//! use skorche_worker::protocol::{ItemResult, WorkItem};
//! use skorche_worker::{builtin, codec};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let task = builtin::IDENTITY_U64.bind();
//! let spec = SpawnSpec::for_task("target/release/skorche-worker", "ids", &task);
//! let (tx, mut rx, proc_) = WorkerProcess::spawn(&spec)?.split();
//! tx.send(vec![WorkItem { seq: 0, payload: codec::encode_payload(7u64, None, 0, Default::default())? }])?;
//! tx.end()?;
//! while let WorkerEvent::Results(results) = rx.recv()? {
//!     for r in results {
//!         if let ItemResult::Done { outputs, .. } = r {
//!             let x: u64 = codec::decode_payload(&outputs[0], &[])?;
//!             assert_eq!(x, 7);
//!         }
//!     }
//! }
//! proc_.wait();
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod builtin;
pub mod client;
pub mod codec;
pub mod error;
pub mod protocol;
pub mod registry;
mod shm;
mod worker;

pub use worker::{
    enter, exit_code, ENV_PARENT, ENV_SERVER, ENV_STAGE, ENV_TASK, OUTPUT_RESERVE_TIMEOUT,
};

#[doc(hidden)]
pub use inventory;

/// The shared-memory types used in this crate's API (re-exported from `skorche-shm`).
pub mod rings {
    pub use skorche_shm::*;
}
