//! Files keyed by their content: a path alone would let an edited file hit its old results.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A file named by its path, with the digest of its content when it was read: as the input
/// of a cached stage, its key changes when the file's content changes (and only then).
///
/// Made by [`Queue::track_files`](crate::Queue::track_files), which hashes each file once
/// and keeps its digest in the store by path, size and modification time, so an unchanged
/// file is not read again on the next run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackedFile {
    path: PathBuf,
    digest: [u8; 32],
}

impl TrackedFile {
    pub(crate) fn new(path: PathBuf, digest: super::Key) -> TrackedFile {
        TrackedFile {
            path,
            digest: digest.0,
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The blake3 digest of the file's content.
    pub fn digest(&self) -> super::Key {
        super::Key(self.digest)
    }
}
