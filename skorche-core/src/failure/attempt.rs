//! One item under a failure policy, in a worker thread: attempts, waits between them, and
//! what becomes of the item when they all failed (the typed side of [`FailureGuard`]).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{BoxError, FailureKind, StageFailure};
use crate::exec::worker_cx::{panic_message, WorkerCx};
use crate::failure::failed::Failed;
use crate::failure::guard::{Decision, FailureGuard};
use crate::failure::policy::StagePolicy;
use crate::hop::Outlet;
use crate::launch::Launch;
use crate::order::Tag;
use crate::packet::Packet;

/// What an attempt of a task reports when it fails: the kind, the cause and, when the task
/// returned an error on this thread, that error.
pub(crate) struct Fault {
    kind: FailureKind,
    message: String,
    source: Option<BoxError>,
}

impl From<(FailureKind, String)> for Fault {
    fn from((kind, message): (FailureKind, String)) -> Self {
        Fault {
            kind,
            message,
            source: None,
        }
    }
}

/// A task error as a [`Fault`], kept as the failure's source.
pub(crate) fn task_fault(e: BoxError) -> Fault {
    Fault {
        kind: FailureKind::Task,
        message: e.to_string(),
        source: Some(e),
    }
}

/// The longest a backoff sleeps before looking at the run's stop flag again.
const WAKE_EVERY: Duration = Duration::from_millis(5);

/// The failure policy of one stage over input type `T`, built once at launch.
pub(crate) struct StageGuard<T> {
    guard: Arc<FailureGuard>,
    copy: Option<fn(&T) -> T>,
    dead_letter_output: Option<usize>,
}

impl<T: Send + 'static> StageGuard<T> {
    pub(crate) fn new(policy: &StagePolicy, cx: &Launch<'_>) -> Self {
        StageGuard {
            guard: FailureGuard::new(cx.stats.clone(), policy),
            copy: policy.copier::<T>(),
            dead_letter_output: policy.dead_letter_output,
        }
    }

    /// The part one worker holds; the worker must end with [`ItemGuard::finish`] when its
    /// input is exhausted.
    pub(crate) fn worker(&self, cx: &mut Launch<'_>) -> ItemGuard<T> {
        self.guard.enter();
        ItemGuard {
            guard: self.guard.clone(),
            copy: self.copy,
            dead: self.dead_letter_output.map(|i| cx.output::<Failed<T>>(i)),
        }
    }
}

/// How the attempts on one item ended.
pub(crate) enum Attempt<R> {
    /// An attempt succeeded: emit its result.
    Done(R),
    /// Every attempt failed and the item was skipped or dead-lettered: emit nothing (in an
    /// ordered section, a skip at its position).
    Dropped,
    /// The run is over for this worker (it failed, a budget was exceeded, or it was
    /// stopped while waiting to retry).
    Stop,
}

/// One worker's side of a stage's failure policy.
pub(crate) struct ItemGuard<T> {
    guard: Arc<FailureGuard>,
    copy: Option<fn(&T) -> T>,
    /// Dead letters are rare: each is sent on its own, at once.
    dead: Option<Outlet<Failed<T>>>,
}

impl<T: Send + 'static> ItemGuard<T> {
    /// Runs `task` on item `seq` until an attempt succeeds or the policy gives up.
    ///
    /// Each attempt is timed and a panic in it is caught like an error. Before an attempt
    /// whose failure could lead to a retry or a dead letter, the input is copied.
    pub(crate) fn run<R, F: Into<Fault>>(
        &mut self,
        cx: &mut WorkerCx,
        seq: u64,
        value: T,
        mut task: impl FnMut(T) -> Result<R, F>,
    ) -> Attempt<R> {
        self.guard.item_seen();
        let mut value = value;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let copy = match self.copy {
                Some(copy) if self.guard.keeps_input(attempts) => Some(copy(&value)),
                _ => None,
            };
            let result = cx.timed(|| catch_unwind(AssertUnwindSafe(|| task(value))));
            let fault = match result {
                Ok(Ok(r)) => return Attempt::Done(r),
                Ok(Err(fault)) => fault.into(),
                Err(payload) => Fault::from((FailureKind::Panic, panic_message(&*payload))),
            };
            let failure =
                StageFailure::new(cx.stats.name.clone(), Some(seq), fault.kind, fault.message);
            let failure = match fault.source {
                Some(e) => failure.with_source(e),
                None => failure,
            };
            match self.guard.decide(&failure, attempts) {
                Decision::Retry { after } => {
                    if !wait(cx, after) {
                        return Attempt::Stop;
                    }
                    value = copy.expect("a copy is taken before an attempt that may be retried");
                }
                Decision::Skip => return Attempt::Dropped,
                Decision::DeadLetter => {
                    let item =
                        copy.expect("a copy is taken before an attempt that may be dead-lettered");
                    let dead = self
                        .dead
                        .as_ref()
                        .expect("a dead-letter policy has its queue");
                    if !dead.send_now(letter(seq, item, failure, attempts)) {
                        return Attempt::Stop;
                    }
                    return Attempt::Dropped;
                }
                Decision::Fail(f) => {
                    cx.fail_with(f);
                    return Attempt::Stop;
                }
                Decision::Stop => return Attempt::Stop,
            }
        }
    }

    /// The worker's input is exhausted: the last worker of the stage checks the
    /// failure-rate budget over every item of the stage.
    pub(crate) fn finish(&self, cx: &mut WorkerCx) {
        if let Some(f) = self.guard.leave() {
            cx.fail_with(f);
        }
    }
}

/// What a dead-letter queue receives for item `seq`: outside any ordered section, and not
/// counted in the stage's `items_out` (send it on the channel directly, not through
/// `exec::send`).
pub(crate) fn letter<T>(
    seq: u64,
    item: T,
    error: StageFailure,
    attempts: u32,
) -> Packet<Failed<T>> {
    Packet::Item {
        seq,
        tag: Tag::NONE,
        value: Failed {
            item,
            error,
            attempts,
        },
    }
}

/// The packet that stands for a dropped item downstream: a skip at its position inside an
/// ordered section (so `order load` never waits for it), nothing outside one.
pub(crate) fn dropped<U>(tag: Tag) -> Option<Packet<U>> {
    tag.is_ordered().then_some(Packet::Skip(tag))
}

/// Sleeps `d`, waking every few milliseconds to see whether the run is being stopped;
/// `false` if it is.
fn wait(cx: &WorkerCx, d: Duration) -> bool {
    // What this thread's senders hold must not wait out the backoff.
    crate::hop::outbox::flush_pending();
    let until = Instant::now() + d;
    loop {
        if cx.aborted() {
            return false;
        }
        let now = Instant::now();
        if now >= until {
            return true;
        }
        std::thread::sleep((until - now).min(WAKE_EVERY));
    }
}
