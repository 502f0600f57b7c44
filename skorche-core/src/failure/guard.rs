//! The per-stage decision on a failed attempt: retry, skip, dead-letter or fail, with the
//! counting, the kept causes, the callback and the budgets. Type-independent, so any
//! runner (a thread worker, the process coordinator) asks the same questions.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::AcqRel, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{FailureKind, StageFailure};
use crate::exec::worker_cx::StageStats;
use crate::failure::policy::{FailurePolicy, OnFailure, RunBudget, StagePolicy};

/// A failure-rate budget is checked while the stage runs only once it has taken this many
/// items (one failure among the first few items is no rate); it is checked over all the
/// stage's items when the stage ends.
pub(crate) const RATE_MIN_ITEMS: u64 = 100;

/// What to do with an item whose attempt just failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Run the task again on a copy of the item, after waiting `after`.
    Retry { after: Duration },
    /// Drop the item (in an ordered section, leave a skip at its position).
    Skip,
    /// Send the item, with the failure and its attempt count, to the dead-letter queue
    /// (in an ordered section, leave a skip at its position).
    DeadLetter,
    /// Stop the run with this failure: the item's own (fail-fast), or a
    /// [`FailureKind::BudgetExceeded`] naming the budget.
    Fail(StageFailure),
    /// A budget was exceeded and another item reports it: stop without a failure of its
    /// own (so the run's error names the budget once).
    Stop,
}

/// The failure state of one stage, shared by all its workers.
#[derive(Debug)]
pub(crate) struct FailureGuard {
    policy: FailurePolicy,
    stats: Arc<StageStats>,
    run: Arc<RunBudget>,
    /// Whether this stage's failure-rate budget was exceeded (reported once).
    tripped: AtomicBool,
    /// Workers that called [`FailureGuard::enter`] and not yet [`FailureGuard::leave`].
    live: AtomicUsize,
}

impl FailureGuard {
    /// The guard of the stage whose counters are `stats`.
    pub(crate) fn new(stats: Arc<StageStats>, policy: &StagePolicy) -> Arc<Self> {
        Arc::new(FailureGuard {
            policy: policy.policy.clone(),
            stats,
            run: policy.run.clone(),
            tripped: AtomicBool::new(false),
            live: AtomicUsize::new(0),
        })
    }

    /// Whether the input must be copied before attempt number `attempt` (1 for the first):
    /// when a failure of that attempt could lead to a retry or a dead letter.
    #[inline]
    pub(crate) fn keeps_input(&self, attempt: u32) -> bool {
        attempt < self.policy.attempts || self.policy.then == OnFailure::DeadLetter
    }

    /// Counts one item taken by the stage (the denominator of a failure-rate budget). Call
    /// it once per item, not per attempt; without a rate budget it does nothing.
    #[inline]
    pub(crate) fn item_seen(&self) {
        if self.policy.max_failure_rate.is_some() {
            self.stats.seen.fetch_add(1, Relaxed);
        }
    }

    /// Decides what becomes of an item whose attempt number `attempts` (1 for the first)
    /// just failed with `failure`, and records it: a retry in `retried`; a final failure in
    /// `failed`, the kept causes and the callback, then against the stage's and the run's
    /// budgets, and in `skipped` or `dead_lettered`.
    ///
    /// Call it once per failed attempt and carry the decision out.
    pub(crate) fn decide(&self, failure: &StageFailure, attempts: u32) -> Decision {
        let p = &self.policy;
        if attempts < p.attempts {
            self.stats.retried.fetch_add(1, Relaxed);
            return Decision::Retry {
                after: p.backoff.delay(attempts),
            };
        }
        let failed = self.stats.failed.fetch_add(1, Relaxed) + 1;
        let run_failed = self.run.failed.fetch_add(1, Relaxed) + 1;
        if let Some(callback) = &p.callback {
            callback(failure);
        }
        self.keep_cause(failure);
        if p.then == OnFailure::Fail {
            let mut failure = failure.clone();
            if attempts > 1 {
                failure.message = format!("{} (after {attempts} attempts)", failure.message);
            }
            return Decision::Fail(failure);
        }
        if let Some(max) = p.max_failures {
            if failed > max {
                let why = format!(
                    "max_failures({max}) of stage '{}' exceeded: {failed} items failed",
                    failure.stage
                );
                return exceeded(failed == max + 1, failure, why);
            }
        }
        if let Some(rate) = p.max_failure_rate {
            let seen = self.stats.seen.load(Relaxed);
            if seen >= RATE_MIN_ITEMS && failed as f64 > rate * seen as f64 {
                let first = !self.tripped.swap(true, Relaxed);
                let why = rate_reason(rate, failed, seen, &failure.stage);
                return exceeded(first, failure, why);
            }
        }
        let run_max = self.run.limit.load(Relaxed);
        if run_failed > run_max {
            let why = format!(
                "the run's max_failures({run_max}) exceeded: {run_failed} items failed over the run"
            );
            return exceeded(run_failed == run_max + 1, failure, why);
        }
        match p.then {
            OnFailure::Skip => {
                self.stats.skipped.fetch_add(1, Relaxed);
                Decision::Skip
            }
            OnFailure::DeadLetter => {
                self.stats.dead_lettered.fetch_add(1, Relaxed);
                Decision::DeadLetter
            }
            OnFailure::Fail => unreachable!("handled above"),
        }
    }

    /// A worker of the stage starts: pair with [`FailureGuard::leave`] when it ends.
    pub(crate) fn enter(&self) {
        self.live.fetch_add(1, Relaxed);
    }

    /// A worker of the stage ran out of input (not stopped by an abort). When it is the
    /// last, the failure-rate budget is checked over every item of the stage: `Some` is the
    /// failure the stage must report.
    pub(crate) fn leave(&self) -> Option<StageFailure> {
        // SYNC: AcqRel pairs with the other workers' decrements, so the last one sees every
        // count they made before leaving.
        if self.live.fetch_sub(1, AcqRel) != 1 {
            return None;
        }
        let rate = self.policy.max_failure_rate?;
        let (failed, seen) = (
            self.stats.failed.load(Relaxed),
            self.stats.seen.load(Relaxed),
        );
        if failed as f64 <= rate * seen as f64 || self.tripped.swap(true, Relaxed) {
            return None;
        }
        let last = self.last_cause();
        Some(StageFailure {
            stage: self.stats.name.clone(),
            seq: last.as_ref().and_then(|l| l.seq),
            kind: FailureKind::BudgetExceeded,
            message: with_cause(
                rate_reason(rate, failed, seen, &self.stats.name),
                last.as_ref(),
            ),
            source: last.and_then(|l| l.source),
        })
    }

    fn keep_cause(&self, failure: &StageFailure) {
        let mut causes = self.stats.causes.lock().unwrap_or_else(|e| e.into_inner());
        if causes.len() < self.policy.keep_causes {
            causes.push(failure.clone());
        }
        drop(causes);
        *self
            .stats
            .last_cause
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(failure.clone());
    }

    fn last_cause(&self) -> Option<StageFailure> {
        self.stats
            .last_cause
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// A budget is exceeded by `failure`: the first item past it (`first`) stops the run naming
/// the budget, the others stop quietly.
fn exceeded(first: bool, failure: &StageFailure, why: String) -> Decision {
    if !first {
        return Decision::Stop;
    }
    Decision::Fail(StageFailure {
        stage: failure.stage.clone(),
        seq: failure.seq,
        kind: FailureKind::BudgetExceeded,
        message: with_cause(why, Some(failure)),
        source: failure.source.clone(),
    })
}

fn rate_reason(rate: f64, failed: u64, seen: u64, stage: &str) -> String {
    format!(
        "max_failure_rate({rate}) of stage '{stage}' exceeded: {failed} of {seen} items failed ({:.1}%)",
        100.0 * failed as f64 / seen.max(1) as f64
    )
}

fn with_cause(why: String, last: Option<&StageFailure>) -> String {
    match last {
        Some(f) => {
            let item = f.seq.map(|s| format!("item #{s}: ")).unwrap_or_default();
            format!(
                "{why}; last cause: stage '{}', {item}{}: {}",
                f.stage, f.kind, f.message
            )
        }
        None => why,
    }
}
