//! One switch between `std` and `loom` synchronisation types (tokio's `loom/mod.rs` idea).
//!
//! The ring's protocol code imports atomics and the mutex from here, so the loom model test
//! (`tests/loom_ring.rs`, built with `RUSTFLAGS="--cfg loom"`) runs the real code.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::Mutex;

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::Mutex;

/// Lets another thread run while we wait for space (a no-op scheduling point under loom).
pub(crate) fn yield_now() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::thread::yield_now();
}
