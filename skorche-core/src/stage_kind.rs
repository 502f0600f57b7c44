//! What operation a stage runs, as a closed set the compiler checks.

use std::fmt;

/// The operation a stage runs: shown in [`StageReport::kind`](crate::StageReport::kind), in
/// [`Report`](crate::Report)'s table and in renderings of the graph.
///
/// `Display` and `serde` both give the lowercase name of the operation that declared the
/// stage (`map`, `flat_map`, `order_save`, ...). Operations will be added, so a `match`
/// needs a wildcard arm.
///
/// ```
/// use skorche_core::{Pipeline, StageKind};
///
/// let p = Pipeline::new();
/// let _evens = p.source(0..3u8).map(|x| x + 1).filter(|x| x % 2 == 0);
/// let report = p.run()?;
/// let kinds: Vec<StageKind> = report.stages.iter().map(|s| s.kind).collect();
/// assert_eq!(kinds, [StageKind::Source, StageKind::Map, StageKind::Filter]);
/// assert_eq!(StageKind::FlatMap.to_string(), "flat_map");
/// # Ok::<(), skorche_core::PipelineError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StageKind {
    /// [`Pipeline::source`](crate::Pipeline::source): items pulled from an iterator.
    Source,
    /// A closure applied to each item ([`Queue::map`](crate::Queue::map) and its variants).
    Map,
    /// Several closures fused into one stage ([`Queue::chain`](crate::Queue::chain)).
    Chain,
    /// A registered task ([`Queue::map_task`](crate::Queue::map_task)), on threads or in
    /// worker processes.
    Task,
    /// [`Queue::filter`](crate::Queue::filter).
    Filter,
    /// [`Queue::flat_map`](crate::Queue::flat_map).
    FlatMap,
    /// [`Queue::unbatch`](crate::Queue::unbatch).
    Unbatch,
    /// [`Queue::split`](crate::Queue::split) and [`Queue::split_by`](crate::Queue::split_by).
    Split,
    /// [`Pipeline::merge`](crate::Pipeline::merge) (no thread of its own).
    Merge,
    /// [`Pipeline::zip`](crate::Pipeline::zip).
    Zip,
    /// [`Queue::batch`](crate::Queue::batch).
    Batch,
    /// The start of an ordered section ([`Queue::order_save`](crate::Queue::order_save)).
    OrderSave,
    /// The end of an ordered section ([`Queue::order_load`](crate::Queue::order_load)).
    OrderLoad,
    /// [`Queue::insert_periodic`](crate::Queue::insert_periodic): inserts markers.
    Marker,
    /// [`Queue::on`](crate::Queue::on): calls back when a marker passes.
    OnMarker,
    /// The dead-letter queue of a failure policy, until the stage it belongs to is declared
    /// ([`Queue::dead_letter`](crate::Queue::dead_letter)).
    DeadLetter,
    /// [`Queue::tee`](crate::Queue::tee): every item to each of several queues.
    Tee,
    /// [`Queue::inspect`](crate::Queue::inspect): sees each item, passes it on.
    Inspect,
    /// [`Queue::fold`](crate::Queue::fold): one result at the end of the stream.
    Fold,
    /// [`Queue::scan`](crate::Queue::scan): a running state, an output per input.
    Scan,
    /// [`Queue::stateful`](crate::Queue::stateful): a state over the whole stream.
    Stateful,
    /// [`Queue::batch_timeout`](crate::Queue::batch_timeout): batches bounded in time.
    BatchTimeout,
    /// [`Queue::window`](crate::Queue::window): windows of items by count.
    Window,
    /// A cached closure map ([`Queue::cached`](crate::Queue::cached)).
    CachedMap,
    /// A cached closure flat_map ([`Queue::cached`](crate::Queue::cached)).
    CachedFlatMap,
    /// A cached registered task ([`Queue::cached`](crate::Queue::cached)).
    CachedTask,
}

impl StageKind {
    /// The lowercase name, as `Display` and `serde` give it.
    pub fn as_str(self) -> &'static str {
        match self {
            StageKind::Source => "source",
            StageKind::Map => "map",
            StageKind::Chain => "chain",
            StageKind::Task => "task",
            StageKind::Filter => "filter",
            StageKind::FlatMap => "flat_map",
            StageKind::Unbatch => "unbatch",
            StageKind::Split => "split",
            StageKind::Merge => "merge",
            StageKind::Zip => "zip",
            StageKind::Batch => "batch",
            StageKind::OrderSave => "order_save",
            StageKind::OrderLoad => "order_load",
            StageKind::Marker => "marker",
            StageKind::OnMarker => "on_marker",
            StageKind::DeadLetter => "dead_letter",
            StageKind::Tee => "tee",
            StageKind::Inspect => "inspect",
            StageKind::Fold => "fold",
            StageKind::Scan => "scan",
            StageKind::Stateful => "stateful",
            StageKind::BatchTimeout => "batch_timeout",
            StageKind::Window => "window",
            StageKind::CachedMap => "cached_map",
            StageKind::CachedFlatMap => "cached_flat_map",
            StageKind::CachedTask => "cached_task",
        }
    }
}

impl fmt::Display for StageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, not `write_str`: the report's table aligns kinds with `{:<9}`.
        f.pad(self.as_str())
    }
}
