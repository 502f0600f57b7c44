//! Workers of skorche pipelines on other hosts, through NATS JetStream.
//!
//! A stage declared [`.remote(&nats, n)`](Remote::remote) sends its batches to a JetStream
//! work queue instead of to child processes; worker processes on any host that reaches the
//! same server pull them, run the registered task, publish the results and acknowledge. The
//! driver needs no open port, and nothing of the pipeline's declaration changes: ordering,
//! markers, failure policies and the report work as for a process stage.
//!
//! - **Who serves:** any program that calls [`enter`] first in `main` (usually the driver's
//!   own binary), started with `--skorche-nats-worker nats://host:4222`. A worker serves a
//!   run only when its task registry is the driver's (same tasks, kinds, types, versions);
//!   otherwise it refuses, and the driver's run fails with the reason if no worker accepts.
//! - **Backpressure:** a stage has `n` slots, each with the coordinator's credits: that
//!   bounds the batches in flight; the run's stream is bounded too (discard new, so a
//!   publish waits). A slow consumer in the driver slows the remote workers.
//! - **Large values** (from [`NatsOptions::inline_limit`], default 256 KiB) go to the run's
//!   object store; only a reference crosses the stream.
//! - **Losing a host loses nothing:** a batch is acknowledged only after its results are
//!   stored, so a dead worker's batches go to other workers after the ack wait; results are
//!   de-duplicated by batch, so nothing is emitted twice.
//! - **No async code for users:** the client runs on a one-thread tokio runtime owned by the
//!   transport.
//!
//! ```no_run
//! use skorche_core::Pipeline;
//! use skorche_nats::{NatsTransport, Remote};
//!
//! fn slow_double(x: u64) -> u64 {
//!     std::thread::sleep(std::time::Duration::from_millis(10));
//!     x * 2
//! }
//! skorche_worker::task! {
//!     static DOUBLE: u64 => u64 = map("slow_double", slow_double);
//! }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     skorche_nats::enter(); // `--skorche-nats-worker URL`: serve, then exit
//!     let nats = NatsTransport::builder("nats://127.0.0.1:4222").job("demo").connect()?;
//!     let p = Pipeline::new();
//!     let doubled = p.source(0..1000u64).map_task(&DOUBLE).remote(&nats, 16);
//!     let (values, report) = p.run_iter(doubled)?.collect_report()?;
//!     assert_eq!(values.iter().sum::<u64>(), 999 * 1000);
//!     println!("{report}");
//!     Ok(())
//! }
//! ```
#![warn(missing_docs)]

mod connection;
mod enter;
mod error;
mod job;
mod link;
mod objects;
mod registry_check;
mod router;
mod run;
mod serve;
mod transport;
pub mod wire;

pub use enter::{enter, parse, EXIT_REFUSED, EXIT_SERVER, EXIT_USAGE, WORKER_FLAG};
pub use error::NatsError;
pub use registry_check::{compare as compare_registries, local_registry};
pub use serve::{serve, ServeOptions, Served};
pub use transport::{
    NatsOptions, NatsTransport, DEFAULT_ACK_WAIT, DEFAULT_INLINE_LIMIT, DEFAULT_JOB,
    DEFAULT_MAX_QUEUED, DEFAULT_WAIT_FOR_WORKERS,
};

use std::sync::Arc;

use skorche_core::{Queue, TaskStage};

/// Runs a registered task's stage on remote workers.
pub trait Remote {
    /// Runs this stage through `nats` with `slots` slots: each slot keeps a window of
    /// batches in flight, so `slots` should be about the number of remote worker threads
    /// (hosts × `--threads`). Same as `.transport(nats.clone()).processes(slots)`.
    fn remote(self, nats: &Arc<NatsTransport>, slots: usize) -> Self;
}

impl<T: Send + 'static> Remote for Queue<T, TaskStage> {
    fn remote(self, nats: &Arc<NatsTransport>, slots: usize) -> Self {
        let transport: Arc<dyn skorche_worker::transport::Transport> = nats.clone();
        self.transport(transport).processes(slots)
    }
}
