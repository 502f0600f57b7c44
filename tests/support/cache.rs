//! Helpers of the cache tests: a store directory removed at the end, call counters.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A fresh store directory, unique to this process and `name`, removed when dropped.
#[derive(Debug)]
pub struct StoreDir(pub PathBuf);

impl StoreDir {
    pub fn new(name: &str) -> StoreDir {
        let dir = std::env::temp_dir().join(format!("skorche-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        StoreDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for StoreDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How many times each stage's task ran.
#[derive(Debug, Clone, Default)]
pub struct Calls(Arc<[AtomicUsize; 3]>);

impl Calls {
    pub fn hit(&self, stage: usize) {
        self.0[stage].fetch_add(1, Ordering::Relaxed);
    }

    /// The counts so far, and back to zero.
    pub fn take(&self) -> [usize; 3] {
        [0, 1, 2].map(|i| self.0[i].swap(0, Ordering::Relaxed))
    }
}
