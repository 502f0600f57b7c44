//! A bounded, crash-safe, zero-copy byte ring between processes.
#![warn(missing_docs)]
