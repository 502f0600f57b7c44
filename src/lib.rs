//! skorche: declarative, typed data-processing pipelines.
#![warn(missing_docs)]
#![forbid(unsafe_code)]
pub use skorche_core as core;
pub use skorche_shm as shm;
pub use skorche_worker as worker;
