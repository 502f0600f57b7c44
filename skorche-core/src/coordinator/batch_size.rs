//! How many items a worker gets per batch, and how many batches it may hold.
//!
//! Batching amortizes the per-message cost, but a batch is answered only as fast as its
//! slowest item, and items a worker holds cannot go to an idle one. So a worker starts
//! with one batch of one item, and batches grow (doubling) only while its tasks are short;
//! once an item takes long, the worker is back to one item at a time, so slow items spread
//! over every worker and none waits behind another.

use std::time::Duration;

/// Items faster than this (mean over a batch) let batches grow.
pub(crate) const SHORT_TASK: Duration = Duration::from_micros(100);

#[derive(Debug, Clone)]
pub(crate) struct BatchSizer {
    /// Items in the next batch.
    cap: usize,
    /// Batches the worker may hold.
    window: usize,
    max_batch: usize,
    max_window: usize,
    /// Output bytes the batches in flight may fill in the worker's output ring.
    ring_budget: usize,
}

impl BatchSizer {
    pub(crate) fn new(max_batch: usize, max_window: usize, ring_capacity: usize) -> Self {
        BatchSizer {
            cap: 1,
            window: 1,
            max_batch: max_batch.max(1),
            max_window: max_window.max(1),
            ring_budget: (ring_capacity / 2 / max_window.max(1)).max(1),
        }
    }

    /// Items allowed in the next batch.
    pub(crate) fn cap(&self) -> usize {
        self.cap
    }

    /// Batches the worker may hold.
    pub(crate) fn window(&self) -> usize {
        self.window
    }

    /// Learns from a finished batch of `items` items that took `busy` in the worker and
    /// produced `out_bytes` of encoded outputs.
    pub(crate) fn observe(&mut self, items: usize, busy: Duration, out_bytes: usize) {
        let items = items.max(1);
        let per_item = busy / items as u32;
        if per_item >= SHORT_TASK {
            self.cap = 1;
            self.window = 1;
            return;
        }
        let per_item_bytes = out_bytes.div_ceil(items).max(1);
        let fits = (self.ring_budget / per_item_bytes).max(1);
        self.cap = self
            .cap
            .saturating_mul(2)
            .min(fits)
            .clamp(1, self.max_batch);
        self.window = self.max_window;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_only_while_tasks_are_short() {
        let mut s = BatchSizer::new(256, 2, 64 << 20);
        assert_eq!((s.cap(), s.window()), (1, 1));
        for _ in 0..10 {
            s.observe(s.cap(), Duration::from_micros(s.cap() as u64), 8 * s.cap());
        }
        assert_eq!((s.cap(), s.window()), (256, 2));
        s.observe(256, Duration::from_millis(300), 8);
        assert_eq!((s.cap(), s.window()), (1, 1));
    }

    #[test]
    fn large_outputs_keep_batches_within_the_ring() {
        let mut s = BatchSizer::new(256, 2, 64 << 20);
        for _ in 0..10 {
            s.observe(s.cap(), Duration::from_micros(1), (8 << 20) * s.cap());
        }
        // 64 MiB / 2 / 2 windows = 16 MiB per batch: two 8 MiB outputs.
        assert_eq!(s.cap(), 2);
    }
}
