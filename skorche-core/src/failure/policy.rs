//! What a stage does with an item that failed: the declared policy, type-independent.

use std::any::Any;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::error::StageFailure;

/// The wait before each retry of a failed item (see [`Queue::retry`](crate::Queue::retry)).
///
/// The worker that holds the item waits (checking every few milliseconds whether the run
/// is being stopped) and then runs the task again on a copy of the item.
///
/// ```
/// use std::time::Duration;
/// use skorche_core::Backoff;
///
/// let b = Backoff::exponential(Duration::from_millis(10), Duration::from_millis(50));
/// assert_eq!(b.delay(1), Duration::from_millis(10)); // before the 2nd attempt
/// assert_eq!(b.delay(2), Duration::from_millis(20));
/// assert_eq!(b.delay(3), Duration::from_millis(40));
/// assert_eq!(b.delay(4), Duration::from_millis(50)); // capped
/// assert_eq!(Backoff::fixed(Duration::from_millis(5)).delay(7), Duration::from_millis(5));
/// assert_eq!(Backoff::none().delay(1), Duration::ZERO);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backoff {
    initial: Duration,
    cap: Duration,
    exponential: bool,
}

impl Backoff {
    /// Retry at once (the default).
    pub const fn none() -> Self {
        Backoff {
            initial: Duration::ZERO,
            cap: Duration::ZERO,
            exponential: false,
        }
    }

    /// Wait `delay` before every retry.
    pub const fn fixed(delay: Duration) -> Self {
        Backoff {
            initial: delay,
            cap: delay,
            exponential: false,
        }
    }

    /// Wait `initial` before the first retry, then twice as long before each next one, but
    /// never more than `cap`.
    pub fn exponential(initial: Duration, cap: Duration) -> Self {
        Backoff {
            initial,
            cap: cap.max(initial),
            exponential: true,
        }
    }

    /// The wait before the `retry`-th retry (1 for the second attempt of an item).
    pub fn delay(&self, retry: u32) -> Duration {
        if !self.exponential {
            return self.initial;
        }
        let doublings = retry.saturating_sub(1).min(63);
        self.initial
            .checked_mul(1u32.checked_shl(doublings).unwrap_or(u32::MAX))
            .unwrap_or(self.cap)
            .min(self.cap)
    }
}

/// What becomes of an item once its last attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum OnFailure {
    /// The run stops and names the stage, the item and the cause (fail-fast).
    #[default]
    Fail,
    /// The item is dropped; it is counted and its cause kept.
    Skip,
    /// The item goes, with its error and attempt count, to the dead-letter queue.
    DeadLetter,
}

/// Called with the cause of every item that failed for good.
pub(crate) type FailureCallback = Arc<dyn Fn(&StageFailure) + Send + Sync>;

/// How many causes a stage's report keeps unless told otherwise.
pub(crate) const DEFAULT_KEPT_CAUSES: usize = 16;

/// The failure policy of one stage, as declared on its input queue.
#[derive(Clone)]
pub(crate) struct FailurePolicy {
    /// Attempts per item, the first one included (at least 1).
    pub(crate) attempts: u32,
    pub(crate) backoff: Backoff,
    /// What happens after the last attempt failed.
    pub(crate) then: OnFailure,
    /// The stage fails once more than this many items failed for good.
    pub(crate) max_failures: Option<u64>,
    /// The stage fails once more than this fraction of the items it took failed for good.
    pub(crate) max_failure_rate: Option<f64>,
    /// Causes kept in the report.
    pub(crate) keep_causes: usize,
    pub(crate) callback: Option<FailureCallback>,
}

impl Default for FailurePolicy {
    fn default() -> Self {
        FailurePolicy {
            attempts: 1,
            backoff: Backoff::none(),
            then: OnFailure::Fail,
            max_failures: None,
            max_failure_rate: None,
            keep_causes: DEFAULT_KEPT_CAUSES,
            callback: None,
        }
    }
}

impl fmt::Debug for FailurePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailurePolicy")
            .field("attempts", &self.attempts)
            .field("backoff", &self.backoff)
            .field("then", &self.then)
            .field("max_failures", &self.max_failures)
            .field("max_failure_rate", &self.max_failure_rate)
            .field("keep_causes", &self.keep_causes)
            .field("callback", &self.callback.is_some())
            .finish()
    }
}

/// The run-wide failure budget ([`Pipeline::max_failures`](crate::Pipeline::max_failures)),
/// shared by every stage of one pipeline that has a failure policy.
#[derive(Debug)]
pub(crate) struct RunBudget {
    /// Items allowed to fail for good over the run; `u64::MAX`: no limit.
    pub(crate) limit: AtomicU64,
    /// Items that failed for good so far, every stage together.
    pub(crate) failed: AtomicU64,
}

impl Default for RunBudget {
    fn default() -> Self {
        RunBudget {
            limit: AtomicU64::new(u64::MAX),
            failed: AtomicU64::new(0),
        }
    }
}

impl RunBudget {
    pub(crate) fn set_limit(&self, n: u64) {
        self.limit.store(n, Ordering::Relaxed);
    }
}

/// A failure policy bound to the stage that consumes the queue it was declared on: what
/// the stage's runner receives at declaration ([`crate::launch::Runner::set_failure`]).
pub(crate) struct StagePolicy {
    pub(crate) policy: FailurePolicy,
    pub(crate) run: Arc<RunBudget>,
    /// `fn(&T) -> T` for the stage's input type `T`, when the policy retries or
    /// dead-letters (both need the input again after the task took it).
    pub(crate) copy: Option<Box<dyn Any + Send>>,
    /// Index, among the stage's outputs, of its dead-letter queue (`Queue<Failed<T>>`).
    pub(crate) dead_letter_output: Option<usize>,
}

impl fmt::Debug for StagePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StagePolicy")
            .field("policy", &self.policy)
            .field("copy", &self.copy.is_some())
            .field("dead_letter_output", &self.dead_letter_output)
            .finish()
    }
}

impl StagePolicy {
    /// The input copier, typed: `None` when the policy never needs the input again.
    ///
    /// # Panics
    /// If `T` is not the type the policy was declared for (the graph types both alike).
    pub(crate) fn copier<T: 'static>(&self) -> Option<fn(&T) -> T> {
        self.copy.as_ref().map(|c| {
            *c.downcast_ref::<fn(&T) -> T>()
                .expect("a failure policy is declared on its stage's input type")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_backoff_doubles_up_to_its_cap_and_never_overflows() {
        let b = Backoff::exponential(Duration::from_millis(3), Duration::from_secs(1));
        let d: Vec<_> = (1..=5).map(|r| b.delay(r).as_millis()).collect();
        assert_eq!(d, [3, 6, 12, 24, 48]);
        assert_eq!(b.delay(10), Duration::from_secs(1));
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(1));
        assert_eq!(b.delay(0), Duration::from_millis(3));
    }

    #[test]
    fn a_cap_below_the_initial_delay_is_the_initial_delay() {
        let b = Backoff::exponential(Duration::from_millis(30), Duration::from_millis(10));
        assert_eq!(b.delay(1), Duration::from_millis(30));
        assert_eq!(b.delay(4), Duration::from_millis(30));
    }
}
