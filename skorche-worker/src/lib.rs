//! The runtime of a skorche worker process.
#![warn(missing_docs)]
