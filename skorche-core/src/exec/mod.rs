//! Executors: how a declared graph becomes running threads (and, for process stages,
//! worker processes).

// Used by stages that run a task returning several outputs: cached and registered ones.
#[cfg(any(feature = "cache", feature = "process"))]
pub(crate) mod emit;
pub(crate) mod run;
pub(crate) mod send;
pub(crate) mod shared;
pub(crate) mod start;
pub(crate) mod worker_cx;
