//! The graph API and executors of skorche.
//!
//! Declare a pipeline by binding tasks to typed, bounded queues; nothing runs until
//! [`Pipeline::run`] (to completion, with a [`Report`]) or [`Pipeline::run_iter`] (an
//! iterator over an output queue while the pipeline runs).
//!
//! ```
//! use skorche_core::Pipeline;
//!
//! let p = Pipeline::new();
//! let numbers = p.source(0..1000u64);
//! let (even, odd) = numbers.split(|n| n % 2 == 0);
//! let halves = even.map(|n| n / 2).workers(2);
//! let tripled = odd.map(|n| n * 3).workers(2);
//! let all = p.merge([halves, tripled]);
//! let batches = all.batch(100);
//! let sums = batches.map(|b| b.iter().sum::<u64>());
//! let total: u64 = p.run_iter(sums)?.map(|r| r.unwrap()).sum();
//! assert_eq!(total, (0..1000u64).map(|n| if n % 2 == 0 { n / 2 } else { n * 3 }).sum());
//! # Ok::<(), skorche_core::PipelineError>(())
//! ```
//!
//! # Backpressure
//! Every queue holds at most its capacity ([`Queue::capacity`], default 64): a full queue
//! blocks its producer, so a slow stage slows everything upstream down to the source,
//! which is pulled only when there is room. [`Pipeline::max_in_flight`] is the bound.
//!
//! # Errors
//! A task error or panic stops the whole pipeline: every thread exits, and the run returns
//! one [`PipelineError`] naming every failed stage, the failing item's sequence number
//! (its index in its source) and the cause.
//!
//! A stage may instead retry, skip or dead-letter a failed item, within a failure budget:
//! declared on its input queue ([`Queue::retry`], [`Queue::skip_failures`],
//! [`Queue::dead_letter`], [`Queue::max_failures`], [`Pipeline::max_failures`]); the
//! delivery guarantee is documented with those methods (attempts at-least-once, emission
//! exactly-once per input).
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod autoscale;
pub mod cache;
mod chain;
mod channel;
#[cfg(feature = "process")]
mod coordinator;
mod error;
mod exec;
mod failure;
mod graph;
mod graph_ref;
mod hop;
mod launch;
mod mode;
mod order;
mod output;
#[cfg(feature = "stream")]
mod output_stream;
mod packet;
mod pipeline;
#[cfg(feature = "cache")]
mod pipeline_cache;
#[cfg(feature = "process")]
mod pipeline_process;
mod pipeline_stats;
#[cfg(feature = "stream")]
mod pipeline_stream;
#[cfg(feature = "process")]
mod process_options;
mod queue;
#[cfg(feature = "cache")]
mod queue_cache;
#[cfg(all(feature = "cache", feature = "process"))]
mod queue_cache_task;
mod queue_failure;
mod queue_order;
#[cfg(feature = "process")]
mod queue_process;
mod queue_scale;
mod queue_stream;
mod render;
mod reorder;
mod report;
mod stage;
mod stage_kind;
mod stage_shape;
mod stats;
mod stop;
mod wait_hook;

pub use autoscale::ScaleEvent;
pub use chain::Chain;
pub use error::{BoxError, FailureKind, Interrupted, PipelineError, StageFailure, StopOutcome};
pub use failure::{Backoff, Failed};
pub use graph::Mode;
pub use output::{Event, Output, Polled, Running, Until};
#[cfg(feature = "stream")]
pub use output_stream::OutputStream;
pub use packet::MarkerId;
pub use pipeline::{OutputPort, Pipeline};
pub use queue::Queue;
pub use queue_order::{OrderPoint, DEFAULT_ORDER_WINDOW};
pub use queue_scale::WorkerCount;
pub use report::{Report, StageReport};
#[cfg(feature = "process")]
pub use skorche_worker::registry::IntoTask;
pub use stage::marker::{Marker, Placement};
pub use stage::stateful::Emitter;
pub use stage_kind::StageKind;
pub use stage_shape::{AnyStage, TaskStage};
pub use stats::{StageStats, Stats, Verdict};
pub use stop::{StopHandle, DEFAULT_GRACE_PERIOD};
pub use wait_hook::set_wait_hook;
