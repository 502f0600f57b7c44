//! The seam between a process stage and the result cache: the feeder asks it for an item's
//! key and stored outputs before sending the item to a worker (a hit never reaches one), the
//! collector gives it a missed item's outputs as the worker encoded them.

use crate::exec::worker_cx::StageStats;

/// An item's cache key (a blake3 digest).
pub(crate) type ItemKey = [u8; 32];

/// The result cache of one process stage whose inputs are `V`.
pub(crate) trait StageCache<V>: Send + Sync {
    /// The key of an input; `None`: this item is not cached.
    fn key(&self, value: &V) -> Option<ItemKey>;
    /// The stored outputs of `key`, each as a worker encodes an output; `None`: a miss.
    fn lookup(&self, key: &ItemKey, stats: &StageStats) -> Option<Vec<Vec<u8>>>;
    /// Stores the outputs of `key`, each as the worker encoded it.
    fn keep(&self, key: &ItemKey, outputs: &[&[u8]], stats: &StageStats);
}
