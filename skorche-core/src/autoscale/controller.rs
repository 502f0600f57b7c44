//! The controller: every period it reads the load of the stages it sizes and takes at most
//! one step (after Flink's autoscaler and Ray Data's actor pools, see ANALYZER.md):
//!
//! 1. a stage changed lately is left alone for [`COOL_TICKS`] periods, and its step is then
//!    judged: one that gave less than a tenth of the gain it promised is reverted, and the
//!    stage is pinned below the size that did not help (so it is never tried again);
//! 2. the bottleneck (busiest stage not held back downstream, at least 80% busy) grows into
//!    free budget, toward 70% busy, by at most 2 workers a step;
//! 3. with the budget full, it takes one worker from the least busy stage, if that stage
//!    would still be at most 65% busy without it (the gap to 80% keeps it from flapping);
//! 4. a stage under 40% busy for [`SHRINK_AFTER`] periods gives a worker back, if it would
//!    still be at most 65% busy without it, and never below a size it had to grow back
//!    to after shrinking (so a stage does not go up and down forever).
//!
//! The sum of the targets never exceeds the budget: each step checks it before it applies.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::event::ScaleEvent;
use super::gate::ScaleGate;
use crate::exec::worker_cx::StageStats;
use crate::stats::report::shares;
use crate::stats::stage::Totals;
use crate::stats::verdict::TARGET_BUSY;

/// Periods a changed stage is left alone; the second one is measured whole in its new size.
const COOL_TICKS: u32 = 2;
/// Periods a stage must idle before it shrinks.
const SHRINK_AFTER: u32 = 5;
/// Fewer items than this in a period say too little to act on.
const MIN_ITEMS: u64 = 10;
const GROW_FROM_BUSY: f64 = 80.0;
const GROW_MAX_BLOCKED: f64 = 10.0;
const DONOR_MAX_BUSY: f64 = 65.0;
const SHRINK_BELOW_BUSY: f64 = 40.0;
/// A step must give this share of the gain it promised, or it is reverted.
const MIN_GAIN_SHARE: f64 = 0.1;
const MAX_GROW_STEP: usize = 2;

/// One stage the controller sizes.
pub(crate) struct Sized {
    pub(crate) counters: Arc<StageStats>,
    pub(crate) gate: Arc<ScaleGate>,
    pub(crate) min: usize,
    pub(crate) max: usize,
}

/// The controller's settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) budget: usize,
    pub(crate) period: Duration,
    pub(crate) passive: bool,
}

/// A step awaiting its verdict.
struct Pending {
    stage: usize,
    /// `(stage, workers before)` of every stage the step changed.
    undo: Vec<(usize, usize)>,
    rate_before: f64,
    promised: f64,
    due: u64,
}

struct Controller {
    stages: Vec<Sized>,
    settings: Settings,
    epoch: Instant,
    events: Vec<ScaleEvent>,
    /// The most workers each stage may get: its max, lowered by reverted steps.
    cap: Vec<usize>,
    /// Targets as the controller sees them (in passive mode, the recommended ones).
    target: Vec<usize>,
    cool: Vec<u32>,
    low: Vec<u32>,
    /// The fewest workers each stage may shrink to: its min, raised when a stage had to
    /// grow back to the size it shrank from.
    floor: Vec<usize>,
    /// The size a stage last shrank from, until it grows again.
    shrunk_from: Vec<Option<usize>>,
    pending: Option<Pending>,
    tick: u64,
}

/// The load of a stage over one period.
#[derive(Clone, Copy)]
struct Seen {
    busy: f64,
    blocked: f64,
    rate_out: f64,
}

/// Even shares of `budget` within each stage's bounds (every stage gets its minimum).
pub(crate) fn initial_split(bounds: &[(usize, usize)], budget: usize) -> Vec<usize> {
    let mut t: Vec<usize> = bounds.iter().map(|b| b.0).collect();
    let mut left = budget.saturating_sub(t.iter().sum());
    while left > 0 {
        let mut gave = false;
        for (i, b) in bounds.iter().enumerate() {
            if left > 0 && t[i] < b.1 {
                t[i] += 1;
                left -= 1;
                gave = true;
            }
        }
        if !gave {
            break;
        }
    }
    t
}

/// Runs the controller until `stop`; returns what it did.
pub(crate) fn run(
    stages: Vec<Sized>,
    settings: Settings,
    epoch: Instant,
    stop: &AtomicBool,
) -> Vec<ScaleEvent> {
    let n = stages.len();
    let mut c = Controller {
        cap: stages.iter().map(|s| s.max).collect(),
        target: stages.iter().map(|s| s.gate.target()).collect(),
        cool: vec![0; n],
        low: vec![0; n],
        floor: stages.iter().map(|s| s.min).collect(),
        shrunk_from: vec![None; n],
        stages,
        settings,
        epoch,
        events: Vec::new(),
        pending: None,
        tick: 0,
    };
    for i in 0..n {
        let t = c.target[i];
        c.record(i, 0, t, "start: an even share of the budget".into(), true);
    }
    let mut prev: Vec<Totals> = c
        .stages
        .iter()
        .map(|s| s.counters.metrics.totals())
        .collect();
    let step = Duration::from_millis(10).min(settings.period);
    let mut next = Instant::now() + settings.period;
    while !stop.load(Relaxed) {
        if Instant::now() < next {
            std::thread::sleep(step);
            continue;
        }
        next += settings.period;
        let now: Vec<Totals> = c
            .stages
            .iter()
            .map(|s| s.counters.metrics.totals())
            .collect();
        let seen: Vec<Option<Seen>> = now
            .iter()
            .zip(&prev)
            .map(|(n, p)| observe(&n.since(p)))
            .collect();
        prev = now;
        if c.stages.iter().all(|s| s.gate.is_closed()) {
            break;
        }
        c.tick += 1;
        c.step(&seen);
    }
    c.events
}

fn observe(w: &Totals) -> Option<Seen> {
    if w.items_in < MIN_ITEMS || w.at_ns == 0 {
        return None;
    }
    let (busy, blocked, _) = shares(w)?;
    Some(Seen {
        busy,
        blocked,
        rate_out: w.items_out as f64 * 1e9 / w.at_ns as f64,
    })
}

impl Controller {
    fn record(&mut self, i: usize, from: usize, to: usize, reason: String, applied: bool) {
        let at = self.epoch.elapsed();
        tracing::info!(stage = %self.stages[i].counters.name, from, to, %reason, applied, "autoscale");
        self.events.push(ScaleEvent {
            at,
            stage: self.stages[i].counters.name.clone(),
            from,
            to,
            reason,
            applied,
        });
    }

    /// Sets stage `i` to `to` workers (only recorded in passive mode).
    fn apply(&mut self, i: usize, to: usize, reason: String) {
        let from = self.target[i];
        if from == to {
            return;
        }
        let applied = !self.settings.passive;
        if to > from {
            // Growing back to where it shrank from: that shrink was a mistake.
            if self.shrunk_from[i].take() == Some(to) {
                self.floor[i] = self.floor[i].max(to);
            }
        }
        if applied {
            self.target[i] = to;
            self.stages[i].gate.set_target(to);
        } else {
            // A recommendation is repeated only when it changes.
            let same = self
                .events
                .iter()
                .rev()
                .find(|e| e.stage == self.stages[i].counters.name && !e.applied)
                .is_some_and(|e| e.to == to);
            if same {
                return;
            }
        }
        self.cool[i] = COOL_TICKS;
        self.record(i, from, to, reason, applied);
    }

    fn used(&self) -> usize {
        self.target.iter().sum()
    }

    fn step(&mut self, seen: &[Option<Seen>]) {
        for c in &mut self.cool {
            *c = c.saturating_sub(1);
        }
        for (i, s) in seen.iter().enumerate() {
            match s {
                Some(s) if s.busy < SHRINK_BELOW_BUSY => self.low[i] += 1,
                Some(_) => self.low[i] = 0,
                // Too few items to judge (a process stage's counts move a batch at a time,
                // so a quiet stage often has such periods): no evidence either way. Taking
                // it as "not idle" kept an idle process stage from ever shrinking.
                None => {}
            }
        }
        if let Some(p) = self.pending.take() {
            if self.tick < p.due {
                self.pending = Some(p);
                return;
            }
            if self.judge(p, seen) {
                return;
            }
        }
        if self.grow(seen) {
            return;
        }
        self.shrink(seen);
    }

    /// Reverts a step that did not deliver. `true`: it did revert (a step of its own).
    fn judge(&mut self, p: Pending, seen: &[Option<Seen>]) -> bool {
        let Some(after) = seen[p.stage] else {
            return false;
        };
        let gain = if p.rate_before > 0.0 {
            after.rate_out / p.rate_before - 1.0
        } else {
            1.0
        };
        if gain >= MIN_GAIN_SHARE * p.promised {
            return false;
        }
        let grown = self.target[p.stage];
        self.cap[p.stage] = grown.saturating_sub(1).max(self.stages[p.stage].min);
        for (i, before) in p.undo {
            let reason = format!(
                "revert: the step gave {:+.0}% of rate where {:+.0}% was expected; capped at {}",
                gain * 100.0,
                p.promised * 100.0,
                self.cap[p.stage]
            );
            self.apply(i, before, reason);
        }
        true
    }

    /// Grows the bottleneck, from free budget or from the idlest stage. `true`: a step.
    fn grow(&mut self, seen: &[Option<Seen>]) -> bool {
        let b = seen
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|s| (i, s)))
            .filter(|(i, s)| {
                s.busy >= GROW_FROM_BUSY
                    && s.blocked <= GROW_MAX_BLOCKED
                    && self.cool[*i] == 0
                    && self.target[*i] < self.cap[*i]
            })
            .max_by(|a, b| a.1.busy.total_cmp(&b.1.busy));
        let Some((b, sb)) = b else { return false };
        let n = self.target[b];
        let free = self.settings.budget.saturating_sub(self.used());
        if free > 0 {
            let wanted = ((n as f64 * sb.busy / TARGET_BUSY).ceil() as usize).max(n + 1) - n;
            let add = wanted.min(MAX_GROW_STEP).min(free).min(self.cap[b] - n);
            self.pending = Some(Pending {
                stage: b,
                undo: vec![(b, n)],
                rate_before: sb.rate_out,
                promised: add as f64 / n as f64,
                due: self.tick + u64::from(COOL_TICKS),
            });
            self.apply(
                b,
                n + add,
                format!("bottleneck: {:.0}% busy; free budget", sb.busy),
            );
            return true;
        }
        // The donor would stay at most 65% busy without the workers it gives.
        let can_give = |i: usize, s: &Seen, k: usize| {
            let m = self.target[i];
            m >= self.stages[i].min + k && s.busy * m as f64 / (m - k) as f64 <= DONOR_MAX_BUSY
        };
        let donor = seen
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|s| (i, s)))
            .filter(|(i, s)| *i != b && self.cool[*i] == 0 && can_give(*i, s, 1))
            .min_by(|a, b| a.1.busy.total_cmp(&b.1.busy));
        let Some((d, sd)) = donor else { return false };
        let m = self.target[d];
        let k = if can_give(d, &sd, 2) && self.cap[b] >= n + 2 {
            2
        } else {
            1
        };
        self.pending = Some(Pending {
            stage: b,
            undo: vec![(b, n), (d, m)],
            rate_before: sb.rate_out,
            promised: k as f64 / n as f64,
            due: self.tick + u64::from(COOL_TICKS),
        });
        // Shrink first: the budget is never exceeded, not even between the two stores.
        let dname = self.stages[d].counters.name.clone();
        let bname = self.stages[b].counters.name.clone();
        self.apply(
            d,
            m - k,
            format!("gives {k} to '{bname}': {:.0}% busy", sd.busy),
        );
        self.apply(
            b,
            n + k,
            format!("bottleneck: {:.0}% busy; {k} from '{dname}'", sb.busy),
        );
        true
    }

    /// Gives back a worker of a stage that has idled for a while.
    fn shrink(&mut self, seen: &[Option<Seen>]) {
        for (i, seen) in seen.iter().enumerate() {
            let n = self.target[i];
            let busy = seen.map_or(0.0, |s| s.busy);
            let fits = n > 1 && busy * n as f64 / (n - 1) as f64 <= DONOR_MAX_BUSY;
            if self.low[i] >= SHRINK_AFTER && self.cool[i] == 0 && n > self.floor[i] && fits {
                self.low[i] = 0;
                self.shrunk_from[i] = Some(n);
                self.apply(
                    i,
                    n - 1,
                    format!("idle: {busy:.0}% busy for {SHRINK_AFTER} periods"),
                );
                return;
            }
        }
    }
}

/// Starts the controller thread. Stop it with `stop`, then join it for its events.
pub(crate) fn spawn(
    stages: Vec<Sized>,
    settings: Settings,
    epoch: Instant,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<ScaleEvent>> {
    std::thread::Builder::new()
        .name("skorche:autoscale".into())
        .spawn(move || run(stages, settings, epoch, &stop))
        .expect("spawning the autoscaler")
}

#[cfg(test)]
mod tests {
    use super::initial_split;

    #[test]
    fn the_budget_is_shared_evenly_within_bounds() {
        assert_eq!(initial_split(&[(1, 9), (1, 9)], 10), [5, 5]);
        assert_eq!(initial_split(&[(1, 2), (1, 9)], 10), [2, 8]);
        assert_eq!(initial_split(&[(3, 9), (1, 9)], 4), [3, 1]);
        assert_eq!(initial_split(&[(1, 3)], 10), [3]);
    }
}
