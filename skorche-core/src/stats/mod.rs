//! Run statistics: what each worker measures, and what is made of it (the live
//! [`Stats`], the report's load figures and verdicts).
//!
//! Measuring must cost (almost) nothing per item: each worker owns a cache-padded
//! [`block`](block::WorkerBlock) it alone writes, with plain Relaxed stores; the clock is
//! read only where a queue operation blocks ([`wait`]) and on the task calls the worker
//! times anyway (one in 16 for fast tasks), whose times also feed a log2
//! [`histogram`]. Readers (the sampler, [`crate::Running::stats`], the report) sum the
//! blocks of a stage ([`stage`]).

pub(crate) mod block;
pub(crate) mod histogram;
pub(crate) mod stage;
pub(crate) mod verdict;
pub(crate) mod wait;

pub use verdict::Verdict;
pub(crate) mod live;
pub(crate) mod report;
pub use live::{StageStats, Stats};
pub(crate) mod progress;
