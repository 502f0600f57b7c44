//! Snapshots of a running pipeline: [`Stats`] per stage, with rates over the last
//! interval, for the live view and for users who draw their own.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use super::histogram::quantile;
use super::report::shares;
use super::stage::Totals;
use super::verdict::{bottleneck, Load};
use crate::exec::worker_cx::StageStats as Counters;
use crate::mode::Mode;

/// Reads a queue's depth from any thread.
pub(crate) type Depth = Arc<dyn Fn() -> usize + Send + Sync>;

/// Rates and shares are taken over at least this long (older snapshots are kept until it
/// has passed), so that a caller polling often still sees steady figures.
const MIN_WINDOW: Duration = Duration::from_millis(250);

/// One stage as the probe sees it.
pub(crate) struct ProbeStage {
    pub(crate) counters: Arc<Counters>,
    pub(crate) kind: crate::StageKind,
    pub(crate) mode: Mode,
    pub(crate) depth: Vec<Depth>,
    pub(crate) capacity: usize,
    /// Its outputs leave the pipeline (read by the caller or dropped).
    pub(crate) terminal: bool,
}

/// What [`crate::Running::stats`] reads.
pub(crate) struct Probe {
    pub(crate) stages: Vec<ProbeStage>,
    /// Sum of the sources' lengths, when every source knew its own.
    pub(crate) source_len: Option<u64>,
    /// Set by the supervisor when the run is over.
    pub(crate) done: AtomicBool,
    prev: Mutex<Option<Vec<Totals>>>,
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe")
            .field("stages", &self.stages.len())
            .finish()
    }
}

/// A running pipeline at one moment ([`crate::Running::stats`]). Rates and load shares
/// are over the last quarter second or more; counts are since the start, and may lag by
/// a few items (each worker publishes them every few items).
///
/// With [metrics](crate::Pipeline::metrics) off only the queue depths move.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Stats {
    /// Time since the run started.
    pub elapsed: Duration,
    /// Items that left the pipeline (out of its last stages), so far.
    pub items_done: u64,
    /// Items leaving the pipeline per second, lately.
    pub throughput: f64,
    /// Items the sources have produced so far.
    pub source_read: u64,
    /// The sources' length, when each knows it exactly (`size_hint`).
    pub source_len: Option<u64>,
    /// Time left at the recent pace, when the sources' length is known.
    pub eta: Option<Duration>,
    /// One entry per stage, in declaration order.
    pub stages: Vec<StageStats>,
}

/// One stage of a running pipeline, in [`Stats`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct StageStats {
    /// The stage's name.
    pub name: String,
    /// The operation (`map`, `filter`, ...).
    pub kind: crate::StageKind,
    /// Where it runs.
    pub mode: Mode,
    /// Workers running now (not counting those the autoscaler has stopped).
    pub workers: usize,
    /// Items taken so far.
    pub items_in: u64,
    /// Items put out so far.
    pub items_out: u64,
    /// Items put out per second, lately.
    pub rate: f64,
    /// Busy share of its workers' time lately, 0 to 100 (see
    /// [`StageReport::busy_pct`](crate::StageReport::busy_pct)).
    pub busy_pct: f64,
    /// Share waiting for room downstream lately, 0 to 100.
    pub blocked_pct: f64,
    /// Share waiting for input lately, 0 to 100.
    pub idle_pct: f64,
    /// Items in its input queue(s) now.
    pub queue_depth: usize,
    /// Capacity of its input queue(s).
    pub queue_capacity: usize,
    /// Median task time lately.
    pub task_p50: Option<Duration>,
    /// Whether it is the stage limiting the pipeline now.
    pub bottleneck: bool,
}

impl Probe {
    pub(crate) fn new(stages: Vec<ProbeStage>, source_len: Option<u64>) -> Self {
        Probe {
            stages,
            source_len,
            done: AtomicBool::new(false),
            prev: Mutex::new(None),
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.done.load(Relaxed)
    }

    /// The pipeline now.
    pub(crate) fn snapshot(&self) -> Stats {
        let now: Vec<Totals> = self
            .stages
            .iter()
            .map(|s| s.counters.metrics.totals())
            .collect();
        let window: Vec<Totals> = {
            let mut prev = self.prev.lock().unwrap_or_else(|e| e.into_inner());
            let window = match prev.as_ref() {
                Some(p) => now.iter().zip(p).map(|(n, p)| n.since(p)).collect(),
                None => now.clone(),
            };
            let old_enough = window
                .first()
                .is_none_or(|w: &Totals| w.at_ns >= MIN_WINDOW.as_nanos() as u64);
            if old_enough {
                *prev = Some(now.clone());
            }
            window
        };
        let per_sec = |n: u64, t: &Totals| {
            if t.at_ns == 0 {
                0.0
            } else {
                n as f64 * 1e9 / t.at_ns as f64
            }
        };
        let mut stages = Vec::with_capacity(self.stages.len());
        let mut loads = Vec::with_capacity(self.stages.len());
        for ((s, t), w) in self.stages.iter().zip(&now).zip(&window) {
            let (busy, blocked, idle) = shares(w).unwrap_or((0.0, 0.0, 0.0));
            let depth: usize = s.depth.iter().map(|d| d()).sum();
            let fill = if s.capacity == 0 {
                0.0
            } else {
                depth as f64 * 100.0 / s.capacity as f64
            };
            loads.push(shares(w).map(|_| Load {
                busy_pct: busy,
                blocked_pct: blocked,
                idle_pct: idle,
                queue_fill_pct: fill,
                workers: (t.running - t.parked.min(t.running)).max(1),
            }));
            stages.push(StageStats {
                name: s.counters.name.clone(),
                kind: s.kind,
                mode: s.mode,
                workers: t.running - t.parked.min(t.running),
                items_in: t.items_in,
                items_out: t.items_out,
                rate: per_sec(w.items_out, w),
                busy_pct: busy,
                blocked_pct: blocked,
                idle_pct: idle,
                queue_depth: depth,
                queue_capacity: s.capacity,
                task_p50: quantile(&w.hist, 0.5).map(Duration::from_nanos),
                bottleneck: false,
            });
        }
        if let Some(i) = bottleneck(&loads) {
            stages[i].bottleneck = true;
        }
        let terminal = |f: &dyn Fn(&Totals) -> u64, of: &[Totals]| -> u64 {
            self.stages
                .iter()
                .zip(of)
                .filter(|(s, _)| s.terminal)
                .map(|(_, t)| f(t))
                .sum()
        };
        let sources = |of: &[Totals]| -> u64 {
            self.stages
                .iter()
                .zip(of)
                .filter(|(s, _)| s.kind == crate::StageKind::Source)
                .map(|(_, t)| t.items_out)
                .sum()
        };
        let span = window.first().map_or(0, |w| w.at_ns);
        let rate = |n: u64| {
            if span == 0 {
                0.0
            } else {
                n as f64 * 1e9 / span as f64
            }
        };
        let source_read = sources(&now);
        let source_rate = rate(sources(&window));
        let eta = self.source_len.and_then(|len| {
            let left = len.saturating_sub(source_read);
            (source_rate > 0.0).then(|| Duration::from_secs_f64(left as f64 / source_rate))
        });
        Stats {
            elapsed: Duration::from_nanos(now.first().map_or(0, |t| t.at_ns)),
            items_done: terminal(&|t| t.items_out, &now),
            throughput: rate(terminal(&|t| t.items_out, &window)),
            source_read,
            source_len: self.source_len,
            eta,
            stages,
        }
    }
}
