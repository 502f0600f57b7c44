//! The runtime of a skorche worker process.
//!
//! A process-mode stage runs a **registered task** in worker processes. This crate holds:
//!
//! - [`registry`]: tasks declared with [`task!`] under stable names, runnable in-process
//!   ([`registry::BoundTask::instantiate`]) or looked up by name in a worker;
//! - [`protocol`]: the versioned wire messages ([`protocol::PROTOCOL_VERSION`]), whose
//!   batches carry their values in one buffer ([`values::Values`]);
//! - [`codec`]: the one serialization seam (postcard over serde, raw bytes for `Vec<u8>`,
//!   large values straight into a shared-memory ring);
//! - [`enter`]: the worker entry a driver calls first thing in `main`;
//! - [`transport`]: how a coordinator starts and reaches workers: [`transport::local`] (child
//!   processes over an inherited socket, shared-memory rings) and [`transport::inproc`]
//!   (threads, for tests); [`serve`] is the worker loop both run, [`handshake`] the check of a
//!   worker's greeting;
//! - [`zero_copy`]: values read in place from a ring ([`rings::ShmBytes`],
//!   [`rings::ShmSlice`]) and their raw wire form;
//! - `builtin` (feature `test-fixtures`, off by default): the tasks of skorche's own tests
//!   and benches, some failing, panicking or aborting on purpose; never registered in a
//!   user's binary.
//!
//! # Example
//!
//! ```no_run
//! use skorche_worker::protocol::{Outcome, Work};
//! use skorche_worker::transport::{local::LocalTransport, Transport, WorkerEvent, WorkerSpec};
//! use skorche_worker::values::Values;
//! use skorche_worker::{builtin, codec};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let task = builtin::IDENTITY_U64.bind();
//! let transport = LocalTransport::new("target/release/skorche-worker");
//! let mut link = transport.start_worker(&WorkerSpec::for_task("ids", &task))?;
//! let mut items = Values::default();
//! for x in 0..100u64 {
//!     items.push_with(|buf| codec::encode_into(&x, buf))?;
//! }
//! link.sender.send(Work { batch: 0, items }).map_err(|(_, e)| e)?;
//! link.sender.end()?;
//! let mut sum = 0;
//! while let WorkerEvent::Results(part) = link.receiver.recv() {
//!     part.validate()?;
//!     assert!(part.outcomes.iter().all(|o| *o == Outcome::Done(1)));
//!     for v in part.outputs.iter() {
//!         sum += codec::decode_value::<u64>(v, &[])?;
//!     }
//! }
//! assert_eq!(sum, 4950);
//! link.control.wait();
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

#[cfg(feature = "test-fixtures")]
pub mod builtin;
pub mod codec;
pub mod error;
mod exit;
pub mod handshake;
pub mod protocol;
pub mod registry;
pub mod serve;
mod shm;
pub mod transport;
pub mod values;
mod worker;
pub mod zero_copy;

pub use worker::{
    enter, exit_code, refuse_pipeline_in_worker, started_as_worker, ENV_FD, ENV_PARENT, ENV_STAGE,
    ENV_TASK,
};

#[doc(hidden)]
pub use inventory;

/// The shared-memory types used in this crate's API (re-exported from `skorche-shm`).
pub mod rings {
    pub use skorche_shm::*;
}
