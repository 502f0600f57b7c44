//! `Failed<T>`: an item that failed for good, as it reaches a dead-letter queue.

use crate::error::StageFailure;

/// An item whose every attempt failed, with the cause of its last failure: what a
/// dead-letter queue ([`Queue::dead_letter`](crate::Queue::dead_letter)) carries.
///
/// Read it like any other output, to log it, store it or feed it to another run.
///
/// ```
/// use skorche_core::{Failed, FailureKind, Pipeline};
///
/// let p = Pipeline::new();
/// let (numbers, failed) = p.source(vec!["1", "x", "3"]).retry(2).dead_letter();
/// let parsed = numbers.try_map(|s: &str| s.parse::<u32>()).name("parse");
/// // One output for both: parsed values and dead letters.
/// let all = p.merge([parsed.map(Ok), failed.map(Err)]);
/// let mut dead: Vec<Failed<&str>> = Vec::new();
/// for r in p.run_iter(all)? {
///     if let Err(f) = r? {
///         dead.push(f);
///     }
/// }
/// assert_eq!(dead.len(), 1);
/// assert_eq!(dead[0].item, "x");
/// assert_eq!(dead[0].attempts, 2);
/// assert_eq!(dead[0].error.stage, "parse");
/// assert_eq!(dead[0].error.seq, Some(1));
/// assert_eq!(dead[0].error.kind, FailureKind::Task);
/// # Ok::<(), skorche_core::PipelineError>(())
/// ```
///
/// Built by the run only (`#[non_exhaustive]`: what it records may grow). It serializes with
/// `serde` when `T` does (the error's source as its message), to keep a dead-letter log.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct Failed<T> {
    /// The input the task failed on (a copy taken before its last attempt).
    pub item: T,
    /// The stage, the item's sequence number and the cause of the last failure.
    pub error: StageFailure,
    /// How many times the task ran on this item (1 without retries).
    pub attempts: u32,
}

impl<T> Failed<T> {
    /// The item, without the failure.
    pub fn into_item(self) -> T {
        self.item
    }
}
