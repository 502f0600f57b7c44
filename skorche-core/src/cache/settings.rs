//! Where a pipeline's cache lives, and what a cached stage counted.

#[cfg(feature = "cache")]
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
#[cfg(feature = "cache")]
use std::sync::{Arc, Mutex};

use serde::Serialize;

/// The default store directory, relative to the working directory.
pub const DEFAULT_DIR: &str = ".skorche/cache";

/// The default size limit of a store: 10 GiB of values.
pub const DEFAULT_LIMIT: u64 = 10 << 30;

/// A pipeline's cache settings, read by its cached stages when the run starts (so they may
/// be set after the stages are declared).
#[cfg(feature = "cache")]
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) dir: PathBuf,
    pub(crate) limit: u64,
    /// `false`: cached stages run every task and neither read nor write the store.
    pub(crate) enabled: bool,
}

#[cfg(feature = "cache")]
impl Default for Settings {
    fn default() -> Self {
        Settings {
            dir: PathBuf::from(DEFAULT_DIR),
            limit: DEFAULT_LIMIT,
            enabled: true,
        }
    }
}

#[cfg(feature = "cache")]
pub(crate) type SharedSettings = Arc<Mutex<Settings>>;

/// What one stage's cache did over a run (all zero for a stage that is not cached).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CacheCounts {
    /// Inputs whose result was read from the store (their task did not run).
    pub hits: u64,
    /// Inputs whose task ran (and whose result was stored).
    pub misses: u64,
    /// Bytes of results read from the store.
    pub bytes_read: u64,
    /// Bytes of results written to the store.
    pub bytes_written: u64,
}

/// [`CacheCounts`] while the run goes on, added to by every worker of the stage.
#[derive(Debug, Default)]
pub(crate) struct CacheCounters {
    hits: AtomicU64,
    misses: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
}

impl CacheCounters {
    /// Adds one worker's counts.
    #[cfg(feature = "cache")]
    pub(crate) fn add(&self, c: &CacheCounts) {
        self.hits.fetch_add(c.hits, Relaxed);
        self.misses.fetch_add(c.misses, Relaxed);
        self.bytes_read.fetch_add(c.bytes_read, Relaxed);
        self.bytes_written.fetch_add(c.bytes_written, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> CacheCounts {
        CacheCounts {
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            bytes_read: self.bytes_read.load(Relaxed),
            bytes_written: self.bytes_written.load(Relaxed),
        }
    }
}
