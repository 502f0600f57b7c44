//! One runner per operation. Each file holds the runner of one operation and its worker
//! loop; all of them pass control packets (skips, markers) through untouched.

pub(crate) mod batch;
pub(crate) mod batch_timeout;
#[cfg(feature = "cache")]
pub(crate) mod cached;
pub(crate) mod filter;
pub(crate) mod flat_map;
pub(crate) mod inspect;
pub(crate) mod map;
pub(crate) mod marker;
pub(crate) mod order;
pub(crate) mod source;
#[cfg(feature = "stream")]
pub(crate) mod source_stream;
pub(crate) mod split;
pub(crate) mod stateful;
#[cfg(feature = "process")]
pub(crate) mod task;
pub(crate) mod tee;
pub(crate) mod window;
pub(crate) mod zip;

pub(crate) use crate::exec::send::send;
