//! Executors: how a declared graph becomes running threads (and, for process stages,
//! worker processes).

pub(crate) mod emit;
pub(crate) mod run;
pub(crate) mod send;
pub(crate) mod shared;
pub(crate) mod start;
pub(crate) mod worker_cx;
