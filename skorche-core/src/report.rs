//! What a finished run measured.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::mode::Mode;

/// Measurements of one stage over a run.
///
/// Built by the run only (`#[non_exhaustive]`: measurements will be added); it compares
/// with `==` and serializes with `serde` (durations as `{"secs", "nanos"}`, a failure's
/// source as its message).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct StageReport {
    /// The stage's name.
    pub name: String,
    /// The operation (`map`, `filter`, `batch`, ... when serialized or displayed).
    pub kind: crate::StageKind,
    /// Where it ran.
    pub mode: Mode,
    /// Items the stage took from its input queue(s).
    pub items_in: u64,
    /// Items the stage put on its output queue(s).
    pub items_out: u64,
    /// Failures (0 in a successful run).
    pub errors: u64,
    /// Time spent inside tasks, summed over workers. Thread stages: calls of tasks faster
    /// than 10 µs are timed one in 16 and scaled (the clock would otherwise cost more than
    /// the task). Process stages: the time the worker processes report for each item
    /// (decoding its input, the task, encoding its outputs), sent back with the results.
    pub busy: Duration,
    /// Time from the start of the run until the stage's last worker exited.
    pub wall: Duration,
    /// Outputs handed to the next process stage still encoded: their bytes (a shared-memory
    /// handle or an inline buffer) were never decoded or copied by the coordinator.
    pub forwarded: u64,
    /// Process stages: values (inputs and outputs) that crossed between the driver and a
    /// worker through a shared-memory ring; only a handle travelled in the message.
    pub via_shm: u64,
    /// Process stages: values that crossed between the driver and a worker inline, copied
    /// into a message (small values, and values larger than a ring).
    pub inline: u64,
    /// Mean number of items waiting in the stage's input queue(s), sampled every few ms.
    pub mean_queue_depth: f64,
    /// Items that failed for good under a failure policy (after their last attempt), then
    /// skipped or dead-lettered. See [`Queue::skip_failures`](crate::Queue::skip_failures).
    pub failed: u64,
    /// Attempts run again after a failure ([`Queue::retry`](crate::Queue::retry)); an item
    /// that succeeded at its third attempt counts 2.
    pub retried: u64,
    /// Items dropped after failing ([`Queue::skip_failures`](crate::Queue::skip_failures)):
    /// they have no output.
    pub skipped: u64,
    /// Items sent to the dead-letter queue ([`Queue::dead_letter`](crate::Queue::dead_letter));
    /// not counted in `items_out`.
    pub dead_lettered: u64,
    /// The causes of the first items that failed for good, in the order they failed (16 by
    /// default, see [`Queue::keep_causes`](crate::Queue::keep_causes)).
    pub causes: Vec<crate::error::StageFailure>,
    /// Process stages: worker processes started again after one died.
    pub restarts: u64,
    /// Process stages: time from a worker's death to its successor being ready, summed
    /// over restarts.
    pub recovering: Duration,
    /// Process stages: bytes of shared-memory records still held in the stage's rings when
    /// its workers ended normally (a leak; always 0 unless a worker or a handle misbehaved).
    /// Records forwarded to a process stage downstream are not counted.
    pub ring_bytes_left: u64,
    /// Cached stages ([`Queue::cached`](crate::Queue::cached)): hits, misses, and bytes
    /// read from and written to the store. All zero for other stages.
    pub cache: crate::cache::CacheCounts,

    // The load figures below come from live metrics ([`Pipeline::metrics`](crate::Pipeline::metrics));
    // with metrics off they are 0 and `None`.
    /// Share of its workers' time (0 to 100) the stage worked: neither idle nor blocked. It
    /// includes the stage's own overhead (taking and passing items), not only task calls.
    pub busy_pct: f64,
    /// Share of its workers' time (0 to 100) spent waiting for room in its output queue:
    /// backpressure from a slower stage downstream.
    pub blocked_pct: f64,
    /// Share of its workers' time (0 to 100) spent waiting for input.
    pub idle_pct: f64,
    /// Median time of one task call, from sampled calls (one in 16 of fast tasks, every
    /// call of tasks over 10 µs; per result batch in process stages), to within a factor of
    /// 2 (log2 buckets, interpolated).
    pub task_p50: Option<Duration>,
    /// 99th percentile of the task time, sampled like [`StageReport::task_p50`].
    pub task_p99: Option<Duration>,
    /// Capacity of the stage's input queue(s), summed (0 for a source).
    pub queue_capacity: usize,
    /// Mean time an item waited in the input queue, by Little's law: mean depth over
    /// input rate.
    pub queue_wait: Duration,
    /// What the load says about the stage, in plain words.
    pub verdict: Option<crate::stats::Verdict>,
}

impl StageReport {
    /// Items out per second of wall time.
    pub fn throughput(&self) -> f64 {
        let secs = self.wall.as_secs_f64();
        if secs > 0.0 {
            self.items_out as f64 / secs
        } else {
            0.0
        }
    }

    /// Mean fill of the input queue(s), 0 to 100.
    pub fn queue_fill_pct(&self) -> f64 {
        if self.queue_capacity == 0 {
            0.0
        } else {
            (self.mean_queue_depth / self.queue_capacity as f64 * 100.0).min(100.0)
        }
    }

    /// Busy time as a share of the time its workers had (`workers × wall`), 0 to 1.
    pub fn utilization(&self) -> f64 {
        let avail = self.wall.as_secs_f64() * self.mode.count().max(1) as f64;
        if avail > 0.0 {
            (self.busy.as_secs_f64() / avail).min(1.0)
        } else {
            0.0
        }
    }
}

/// What a run measured, stage by stage. `Display` prints a table.
///
/// Built by the run only (`#[non_exhaustive]`); it compares with `==` and serializes with
/// `serde`, to store it or send it to a dashboard:
///
/// ```
/// use skorche_core::Pipeline;
///
/// let p = Pipeline::new();
/// let out = p.source(0..10u32).map(|n| n + 1).name("inc");
/// let (_, report) = p.run_iter(out)?.collect_report()?;
/// let again = report.clone();
/// assert_eq!(report, again);
/// let json = serde_json::to_string(&report).unwrap();
/// assert!(json.contains(r#""name":"inc""#));
/// # Ok::<(), skorche_core::PipelineError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// Wall time of the whole run.
    pub wall: Duration,
    /// One entry per stage, in declaration order.
    pub stages: Vec<StageReport>,
    /// The stage that limited the run, if one did (see [`crate::Verdict::Bottleneck`]).
    pub bottleneck: Option<String>,
    /// What the autoscaler did (or recommends, in passive mode), in order; empty when no
    /// stage was given a range of workers. See [`Report::final_workers`].
    pub scaling: Vec<crate::autoscale::ScaleEvent>,
    /// The graph that ran, for [`Report::to_dot`] and [`Report::to_mermaid`].
    #[serde(skip)]
    pub(crate) shape: crate::render::Shape,
}

impl Report {
    /// The graph that ran in Graphviz DOT, as a heat map of this run: each stage shaded
    /// by its busy share (white to red) and labelled with it and its output rate, each
    /// edge labelled with its rate and the mean fill of the queue, the bottleneck drawn
    /// bold. ([`Pipeline::to_dot`](crate::Pipeline::to_dot) draws the declaration.)
    ///
    /// ```
    /// use skorche_core::Pipeline;
    ///
    /// let p = Pipeline::new();
    /// let slow = p.source(0..200u32).map(|n| {
    ///     std::thread::sleep(std::time::Duration::from_micros(200));
    ///     n
    /// });
    /// let (_, report) = p.run_iter(slow.name("slow"))?.collect_report()?;
    /// let dot = report.to_dot();
    /// assert!(dot.contains("fillcolor"));
    /// assert!(dot.contains("/s"));
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    pub fn to_dot(&self) -> String {
        crate::render::to_dot(&self.shape, Some(self))
    }

    /// The graph that ran as a Mermaid flowchart, shaded like [`Report::to_dot`].
    pub fn to_mermaid(&self) -> String {
        crate::render::to_mermaid(&self.shape, Some(self))
    }

    /// The workers an autoscaled stage ran at the end (its last applied
    /// [`ScaleEvent`](crate::ScaleEvent)); `None` for a stage the autoscaler did not size.
    pub fn final_workers(&self, stage: &str) -> Option<usize> {
        self.scaling
            .iter()
            .rev()
            .find(|e| e.applied && e.stage == stage)
            .map(|e| e.to)
    }

    /// The report of the stage called `name`.
    pub fn stage(&self, name: &str) -> Option<&StageReport> {
        self.stages.iter().find(|s| s.name == name)
    }
}

/// A column of the table: its header and the value of a stage.
type Column = (&'static str, fn(&StageReport) -> f64);

/// The counts shown in the table only when some stage has one.
const OPTIONAL: [Column; 10] = [
    ("failed", |s| s.failed as f64),
    ("retried", |s| s.retried as f64),
    ("skipped", |s| s.skipped as f64),
    ("dead", |s| s.dead_lettered as f64),
    ("restarts", |s| s.restarts as f64),
    ("recov ms", |s| s.recovering.as_secs_f64() * 1e3),
    ("hits", |s| s.cache.hits as f64),
    ("misses", |s| s.cache.misses as f64),
    ("read B", |s| s.cache.bytes_read as f64),
    ("wrote B", |s| s.cache.bytes_written as f64),
];

/// Items per second with a k/M suffix.
pub(crate) fn rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.1}M/s", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1}k/s", r / 1e3)
    } else {
        format!("{r:.0}/s")
    }
}

/// A duration in the unit that suits it (`850ns`, `12.3µs`, `4.1ms`, `2.50s`); `-` for none.
pub(crate) fn short_duration(d: Option<Duration>) -> String {
    let Some(d) = d else { return "-".into() };
    let ns = d.as_nanos() as f64;
    if ns < 1e3 {
        format!("{ns:.0}ns")
    } else if ns < 1e6 {
        format!("{:.1}µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.1}ms", ns / 1e6)
    } else {
        format!("{:.2}s", ns / 1e9)
    }
}

/// Causes listed under the table, per stage (the report holds more).
const CAUSES_SHOWN: usize = 3;

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let optional: Vec<_> = OPTIONAL
            .iter()
            .filter(|(_, get)| self.stages.iter().any(|s| get(s) != 0.0))
            .collect();
        write!(
            f,
            "{:<20} {:<9} {:>9} {:>10} {:>10} {:>6} {:>10} {:>10} {:>12} {:>7} {:>5} {:>5} {:>5} {:>9} {:>9}",
            "stage",
            "kind",
            "workers",
            "in",
            "out",
            "errors",
            "busy ms",
            "wall ms",
            "items/s",
            "depth",
            "busy%",
            "blk%",
            "idle%",
            "p50",
            "p99"
        )?;
        for (name, _) in &optional {
            write!(f, " {name:>8}")?;
        }
        writeln!(f)?;
        for s in &self.stages {
            let workers = match s.mode {
                Mode::Threads(n) => format!("{n}t"),
                Mode::Processes(n) => format!("{n}p"),
            };
            write!(
                f,
                "{:<20} {:<9} {:>9} {:>10} {:>10} {:>6} {:>10.1} {:>10.1} {:>12.0} {:>7.1} {:>5.0} {:>5.0} {:>5.0} {:>9} {:>9}",
                s.name,
                s.kind,
                workers,
                s.items_in,
                s.items_out,
                s.errors,
                s.busy.as_secs_f64() * 1e3,
                s.wall.as_secs_f64() * 1e3,
                s.throughput(),
                s.mean_queue_depth,
                s.busy_pct,
                s.blocked_pct,
                s.idle_pct,
                short_duration(s.task_p50),
                short_duration(s.task_p99)
            )?;
            for (name, get) in &optional {
                let v = get(s);
                if *name == "recov ms" {
                    write!(f, " {v:>8.1}")?;
                } else {
                    write!(f, " {v:>8.0}")?;
                }
            }
            writeln!(f)?;
        }
        for s in &self.stages {
            if let Some(v) = &s.verdict {
                writeln!(f, "{}: {v}", s.name)?;
            }
        }
        if !self.scaling.is_empty() {
            writeln!(f, "autoscaling:")?;
            for e in &self.scaling {
                writeln!(f, "  {e}")?;
            }
        }
        for s in self.stages.iter().filter(|s| !s.causes.is_empty()) {
            let more = s.failed.saturating_sub(CAUSES_SHOWN as u64);
            writeln!(f, "failures of '{}':", s.name)?;
            for c in s.causes.iter().take(CAUSES_SHOWN) {
                let item = c.seq.map(|n| format!("item #{n}: ")).unwrap_or_default();
                writeln!(f, "  {item}{}: {}", c.kind, c.message)?;
            }
            if more > 0 {
                writeln!(f, "  ... and {more} more")?;
            }
        }
        write!(
            f,
            "total wall time: {:.1} ms",
            self.wall.as_secs_f64() * 1e3
        )
    }
}
