//! The result cache of a process stage (see `coordinator::cached`): outputs are stored as
//! the workers encoded them, so a hit is decoded exactly like a worker's answer.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::cache::settings::Settings;
use crate::cache::{item_key, CacheCounts, Key, Store};
use crate::coordinator::cached::{ItemKey, StageCache};
use crate::exec::worker_cx::StageStats;

pub(crate) struct ProcessCache {
    /// The stage's identity digest.
    pub(crate) stage: Key,
    pub(crate) settings: Settings,
}

thread_local! {
    /// One connection per thread and store (a connection is not `Sync`; a process stage's
    /// feeder and collector threads each use their own).
    static STORES: RefCell<HashMap<PathBuf, Store>> = RefCell::new(HashMap::new());
}

impl ProcessCache {
    fn with_store<R>(&self, f: impl FnOnce(&mut Store) -> R) -> Option<R> {
        STORES.with(|stores| {
            let mut stores = stores.borrow_mut();
            let store = match stores.entry(self.settings.dir.clone()) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    match Store::open_with_limit(&self.settings.dir, self.settings.limit) {
                        Ok(s) => e.insert(s),
                        Err(err) => {
                            tracing::warn!("cache store unavailable, computing instead: {err}");
                            return None;
                        }
                    }
                }
            };
            Some(f(store))
        })
    }
}

impl<T: Serialize> StageCache<T> for ProcessCache {
    fn key(&self, value: &T) -> Option<ItemKey> {
        match crate::cache::encode(value) {
            Ok(bytes) => Some(item_key(&self.stage, &bytes).0),
            Err(e) => {
                tracing::warn!("cache: an input does not encode ({e}): computed, not cached");
                None
            }
        }
    }

    fn lookup(&self, key: &ItemKey, stats: &StageStats) -> Option<Vec<Vec<u8>>> {
        let bytes = self
            .with_store(|s| s.get(&Key(*key)))?
            .map_err(|e| tracing::warn!("cache lookup failed, computing instead: {e}"))
            .ok()??;
        match crate::cache::decode::<Vec<Vec<u8>>>(&bytes) {
            Ok(outputs) => {
                stats.cache.add(&CacheCounts {
                    hits: 1,
                    bytes_read: bytes.len() as u64,
                    ..CacheCounts::default()
                });
                Some(outputs)
            }
            Err(e) => {
                tracing::warn!("cache entry does not decode ({e}): recomputed");
                None
            }
        }
    }

    fn keep(&self, key: &ItemKey, outputs: &[&[u8]], stats: &StageStats) {
        let bytes = match crate::cache::encode(outputs) {
            Ok(b) => b,
            Err(e) => return tracing::warn!("cache: outputs do not encode ({e}): not stored"),
        };
        let written = match self.with_store(|s| s.put(&Key(*key), &bytes)) {
            Some(Ok(())) => bytes.len() as u64,
            Some(Err(e)) => {
                tracing::warn!("cache write failed: {e}");
                0
            }
            None => 0,
        };
        stats.cache.add(&CacheCounts {
            misses: 1,
            bytes_written: written,
            ..CacheCounts::default()
        });
    }
}
