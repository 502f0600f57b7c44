//! Errors of the cache store.

use std::path::PathBuf;

/// A cache store could not be opened, read or written.
///
/// Inside a run these never fail the pipeline: a lookup that fails is a miss and a write
/// that fails is logged (`tracing::warn!`), since the result is still correct without the
/// cache. They are returned by the store's own operations ([`crate::cache::Store`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The index database failed.
    #[error("cache index {path}: {source}")]
    Index {
        /// The index file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// A file or directory of the store could not be read or written.
    #[error("cache store {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
}
