//! Executors: how a declared graph becomes running threads (and, for process stages,
//! worker processes).

pub(crate) mod launch;
pub(crate) mod run;
pub(crate) mod worker_cx;
