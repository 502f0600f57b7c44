//! The pipeline's cache settings: where its cached stages keep their results.

use std::path::PathBuf;

use crate::pipeline::Pipeline;

impl Pipeline {
    /// The directory of the cache store used by this pipeline's cached stages
    /// ([`Queue::cached`](crate::Queue::cached)); default [`crate::cache::DEFAULT_DIR`]
    /// under the working directory. Created when a run starts, if needed.
    pub fn cache_dir(&self, dir: impl Into<PathBuf>) -> &Self {
        self.cache_settings(|s| s.dir = dir.into())
    }

    /// The size limit of the cache store, in bytes of stored results: past it, the least
    /// recently used entries are evicted. Default [`crate::cache::DEFAULT_LIMIT`].
    pub fn cache_limit(&self, bytes: u64) -> &Self {
        self.cache_settings(|s| s.limit = bytes)
    }

    /// Whether cached stages use the store (default `true`). With `false` every task runs
    /// and nothing is read or written, as with the command line's `run --no-cache`.
    pub fn use_cache(&self, enabled: bool) -> &Self {
        self.cache_settings(|s| s.enabled = enabled)
    }

    fn cache_settings(&self, f: impl FnOnce(&mut crate::cache::Settings)) -> &Self {
        let settings = self.graph().borrow().cache.clone();
        f(&mut settings.lock().unwrap_or_else(|e| e.into_inner()));
        self
    }
}
