//! The graph API and executors of skorche.
#![warn(missing_docs)]
#![forbid(unsafe_code)]
