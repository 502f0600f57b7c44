//! Failure policies on [`Queue`]: declared on a stage's input queue, where the item type is
//! known, and taken by the next stage declared on that queue.

use std::sync::Arc;

use crate::error::{PipelineError, StageFailure};
use crate::failure::failed::Failed;
use crate::failure::policy::{Backoff, OnFailure, StagePolicy};
use crate::graph::{Graph, Mode, NodeDecl, NodeId, PendingFailure, QueueId};
use crate::launch::{Launch, Runner};
use crate::pipeline::Pipeline;
use crate::queue::Queue;

/// # Failure policies
///
/// By default a stage is fail-fast: the first item whose task returns an error or panics
/// stops the run, which returns an error naming the stage, the item and the cause. The
/// methods below change that for **the next stage declared on this queue** (they are
/// declared on the stage's input, where the item type is known: a retry or a dead letter
/// needs the input again after the task took it by value):
///
/// - [`retry(k)`](Queue::retry): up to `k` attempts per item, with a
///   [`backoff`](Queue::backoff) between them; then the next policy in line.
/// - [`skip_failures`](Queue::skip_failures): an item whose last attempt failed is dropped,
///   counted ([`StageReport::failed`](crate::StageReport::failed),
///   [`skipped`](crate::StageReport::skipped)) and its cause kept
///   ([`causes`](crate::StageReport::causes), all of them through
///   [`on_failure`](Queue::on_failure)).
/// - [`dead_letter`](Queue::dead_letter): such an item goes, with its error and attempt
///   count, to a typed side output [`Queue<Failed<T>>`](Failed).
/// - budgets: [`max_failures`](Queue::max_failures),
///   [`max_failure_rate`](Queue::max_failure_rate), and the run's
///   [`Pipeline::max_failures`]: past one, the run fails as it would fail fast, with a
///   [`FailureKind::BudgetExceeded`](crate::FailureKind::BudgetExceeded) failure naming the
///   budget and the last cause.
///
/// A failure is a task's error or panic (in a `flat_map`, also a panic while its iterator
/// runs); in process mode it will also be a dead worker or an item timeout. A policy
/// applies to `map`, `try_map`, `map_with`, `try_map_with`, `chain`, `flat_map`,
/// `try_flat_map` and `map_task` on threads; declaring one before another operation panics,
/// and a policy on a queue that is merged or read as an output applies to nothing.
///
/// # Delivery guarantee
///
/// - **Attempts are at-least-once.** A retried item's task runs again, on a copy of the
///   input taken before the failed attempt: a task with side effects (a write, a request)
///   may perform them more than once for one item, and an attempt that panicked may have
///   done part of them. Make such tasks idempotent, or do not retry them.
/// - **Emission is exactly-once per input.** Only a successful attempt's outputs go
///   downstream, once: a failed attempt emits nothing (a `flat_map` under a policy collects
///   each input's outputs before sending any, so a panic half-way through its iterator
///   sends none of them).
/// - **A skipped item has no output**; inside an ordered section it leaves an empty
///   position, so `order_load` never waits for it. Markers are never given to tasks and
///   keep their place among the items.
/// - **A dead-lettered item appears once in the side output**, with the cause of its last
///   failure and the number of attempts, and has no output on the main queue.
///
/// Retrying or dead-lettering clones each item before an attempt that could need it again
/// (`T: Clone`); skipping and budgets copy nothing. Without a policy nothing changes: no
/// copy and no allocation per item.
///
/// ```
/// use std::time::Duration;
/// use skorche_core::{Backoff, Pipeline};
///
/// let p = Pipeline::new();
/// let out = p
///     .source(0..1000u32)
///     .retry(3)
///     .backoff(Backoff::exponential(Duration::from_millis(1), Duration::from_millis(10)))
///     .skip_failures()
///     .try_map(|n| if n % 100 == 7 { Err(format!("item {n} is bad")) } else { Ok(n) })
///     .workers(4)
///     .name("check");
/// let (out, report) = p.run_iter(out)?.collect_report()?;
/// assert_eq!(out.len(), 990);
/// let check = report.stage("check").unwrap();
/// assert_eq!((check.failed, check.skipped, check.retried), (10, 10, 20));
/// assert!(check.causes[0].message.contains("is bad"));
/// # Ok::<(), skorche_core::PipelineError>(())
/// ```
impl<T: Send + 'static, K> Queue<T, K> {
    fn with_policy(self, f: impl FnOnce(&mut Graph, &mut PendingFailure)) -> Self {
        {
            let mut g = self.graph.borrow_mut();
            let mut pending = g.queues[self.id].failure.take().unwrap_or_default();
            f(&mut g, &mut pending);
            g.queues[self.id].failure = Some(pending);
        }
        self
    }

    fn keep_copies(pending: &mut PendingFailure)
    where
        T: Clone,
    {
        let copy: fn(&T) -> T = T::clone;
        pending.copy = Some(Box::new(copy));
    }

    /// The next stage declared on this queue runs its task up to `attempts` times per item
    /// (the first one included; `retry(1)` does not retry), waiting as the
    /// [`backoff`](Queue::backoff) says between attempts. An item whose last attempt failed
    /// then meets the next policy in line: the run fails (the default),
    /// [`skip_failures`](Queue::skip_failures) or [`dead_letter`](Queue::dead_letter).
    ///
    /// Each attempt runs on a clone of the item taken before the previous one failed (see
    /// the delivery guarantee above: attempts are at-least-once).
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use std::sync::Mutex;
    /// use skorche_core::Pipeline;
    ///
    /// let tries = Mutex::new(HashMap::new());
    /// let p = Pipeline::new();
    /// let out = p.source(0..10u32).retry(3).try_map(move |n| {
    ///     let mut tries = tries.lock().unwrap();
    ///     let t = tries.entry(n).or_insert(0);
    ///     *t += 1;
    ///     if *t < 3 { Err(format!("flaky, try {t}")) } else { Ok(n) } // fails twice each
    /// });
    /// let mut v: Vec<u32> = p.run_iter(out)?.collect::<Result<_, _>>()?;
    /// v.sort();
    /// assert_eq!(v, (0..10).collect::<Vec<_>>());
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    ///
    /// # Panics
    /// If `attempts` is 0: the task runs at least once (`retry(1)` does not retry).
    #[track_caller]
    pub fn retry(self, attempts: u32) -> Self
    where
        T: Clone,
    {
        if attempts == 0 {
            self.refuse_op(
                "retry(0)",
                "the task runs at least once (retry(1): no retry)",
            );
        }
        self.with_policy(|_, p| {
            p.policy.attempts = attempts;
            Self::keep_copies(p);
        })
    }

    /// The wait between attempts of [`retry`](Queue::retry) (default: none). The worker
    /// that holds the item waits, looking every few milliseconds at whether the run is being
    /// stopped, so a failing run still stops promptly.
    pub fn backoff(self, backoff: Backoff) -> Self {
        self.with_policy(|_, p| p.policy.backoff = backoff)
    }

    /// The next stage declared on this queue drops an item whose last attempt failed,
    /// instead of failing the run: the item has no output (inside an ordered section it
    /// leaves an empty position), and it is counted in the stage's report (`failed`,
    /// `skipped`) with its cause (the first [`keep_causes`](Queue::keep_causes) in
    /// `causes`, every one through [`on_failure`](Queue::on_failure)).
    ///
    /// Needs no `Clone`. Bound the failures with [`max_failures`](Queue::max_failures),
    /// [`max_failure_rate`](Queue::max_failure_rate) or
    /// [`Pipeline::max_failures`].
    ///
    /// ```
    /// use skorche_core::Pipeline;
    ///
    /// let p = Pipeline::new();
    /// let parsed = p
    ///     .source(vec!["1", "x", "3"])
    ///     .skip_failures()
    ///     .try_map(|s: &str| s.parse::<u32>())
    ///     .name("parse");
    /// let (out, report) = p.run_iter(parsed)?.collect_report()?;
    /// assert_eq!(out, [1, 3]);
    /// let parse = report.stage("parse").unwrap();
    /// assert_eq!(parse.skipped, 1);
    /// assert_eq!(parse.causes[0].seq, Some(1));
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    pub fn skip_failures(self) -> Self {
        self.with_policy(|_, p| p.policy.then = OnFailure::Skip)
    }

    /// The next stage declared on this queue sends an item whose last attempt failed to a
    /// dead-letter queue, returned here: a [`Failed<T>`] holds the item (a clone taken
    /// before its last attempt), the cause and the number of attempts. Read it like any
    /// other output (or merge it into one), to log, store or run the items again; a
    /// dead-letter queue nobody reads is drained. Each such item appears there once and has
    /// no output on the main queue (inside an ordered section it leaves an empty position).
    ///
    /// The dead-letter queue is an output of the stage declared next on the returned main
    /// queue: declare that stage, or the run fails to start
    /// ([`PipelineError::Invalid`](crate::PipelineError::Invalid)). Configure the stage
    /// (`workers`, `name`) through its main output.
    ///
    /// ```
    /// use skorche_core::{Failed, Pipeline};
    ///
    /// let p = Pipeline::new();
    /// let (lines, failed) = p.source(vec!["1", "two", "3"]).dead_letter();
    /// let numbers = p.output(lines.try_map(|s: &str| s.parse::<u32>()));
    /// let failed = p.output(failed);
    /// let mut run = p.start()?;
    /// let (numbers, failed) = (run.take(numbers), run.take(failed));
    /// let reader = std::thread::spawn(move || failed.collect::<Result<Vec<Failed<&str>>, _>>());
    /// assert_eq!(numbers.collect::<Result<Vec<_>, _>>()?, [1, 3]);
    /// let failed = reader.join().unwrap()?;
    /// assert_eq!((failed[0].item, failed[0].attempts), ("two", 1));
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    ///
    /// # Panics
    /// If a dead-letter queue was declared on this queue already.
    pub fn dead_letter(self) -> (Self, Queue<Failed<T>>)
    where
        T: Clone,
    {
        let mut dead = None;
        let q = self.with_policy(|g, p| {
            assert!(
                p.dead_letter.is_none(),
                "dead_letter() was declared twice on the same queue"
            );
            let name = g.unique_name("dead_letter");
            let placeholder = g.add_node(NodeDecl {
                name,
                kind: crate::StageKind::DeadLetter,
                mode: Mode::Threads(1),
                scalable: false,
                inputs: Vec::new(),
                outputs: Vec::new(),
                runner: Some(Box::new(Unclaimed)),
                process: Default::default(),
                process_capable: false,
            });
            let queue = g.add_detached_queue::<Failed<T>>(placeholder);
            p.dead_letter = Some((queue, placeholder));
            p.policy.then = OnFailure::DeadLetter;
            Self::keep_copies(p);
            dead = Some(queue);
        });
        let dead = Queue::new(q.graph.clone(), dead.expect("set above"));
        (q, dead)
    }

    /// The next stage declared on this queue may drop or dead-letter at most `n` items;
    /// the next one fails the run with a
    /// [`FailureKind::BudgetExceeded`](crate::FailureKind::BudgetExceeded) failure naming
    /// this budget and that item's cause.
    ///
    /// ```
    /// use skorche_core::{FailureKind, Pipeline};
    ///
    /// let p = Pipeline::new();
    /// let out = p
    ///     .source(0..100u32)
    ///     .skip_failures()
    ///     .max_failures(2)
    ///     .try_map(|n| if n % 10 == 0 { Err("bad") } else { Ok(n) }) // 10 bad items
    ///     .name("check");
    /// let err = p.run_iter(out)?.collect::<Result<Vec<_>, _>>().unwrap_err();
    /// assert_eq!(err.failures()[0].kind, FailureKind::BudgetExceeded);
    /// assert!(err.to_string().contains("max_failures(2)"));
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    pub fn max_failures(self, n: u64) -> Self {
        self.with_policy(|_, p| p.policy.max_failures = Some(n))
    }

    /// The next stage declared on this queue fails the run when more than `fraction`
    /// (0 to 1) of the items it took failed for good (were dropped or dead-lettered). The
    /// rate is checked at each such item once the stage has taken 100 items, and over all
    /// its items when the stage ends.
    pub fn max_failure_rate(self, fraction: f64) -> Self {
        self.with_policy(|_, p| p.policy.max_failure_rate = Some(fraction.clamp(0.0, 1.0)))
    }

    /// How many causes of failed items the stage's report keeps (default 16, the first
    /// ones); [`on_failure`](Queue::on_failure) sees all of them.
    pub fn keep_causes(self, n: usize) -> Self {
        self.with_policy(|_, p| p.policy.keep_causes = n)
    }

    /// Calls `callback` with the cause of every item the next stage declared on this queue
    /// fails on for good (after its last attempt), whatever becomes of the item (skipped,
    /// dead-lettered, or failing the run), from the worker that held it. Failed attempts
    /// that are retried are counted in `retried`, not passed here. A panic in the callback
    /// fails the stage.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use skorche_core::Pipeline;
    ///
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// let p = Pipeline::new();
    /// let out = p
    ///     .source(0..50u32)
    ///     .skip_failures()
    ///     .on_failure(move |f| log.lock().unwrap().push(f.seq))
    ///     .try_map(|n| if n % 10 == 3 { Err("odd one") } else { Ok(n) });
    /// p.run_iter(out)?.for_each(drop);
    /// let mut seen = seen.lock().unwrap().clone();
    /// seen.sort();
    /// assert_eq!(seen, [Some(3), Some(13), Some(23), Some(33), Some(43)]);
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    pub fn on_failure<F>(self, callback: F) -> Self
    where
        F: Fn(&StageFailure) + Send + Sync + 'static,
    {
        self.with_policy(|_, p| p.policy.callback = Some(Arc::new(callback)))
    }
}

impl Pipeline {
    /// At most `n` items may fail for good over the whole run, every stage with a failure
    /// policy ([`Queue::skip_failures`], [`Queue::dead_letter`]) together (a stage without
    /// one stops the run at its first failure anyway); the next one fails the run with a
    /// [`FailureKind::BudgetExceeded`](crate::FailureKind::BudgetExceeded) failure naming
    /// this budget and that item's cause.
    ///
    /// ```
    /// use skorche_core::{FailureKind, Pipeline};
    ///
    /// let p = Pipeline::new();
    /// p.max_failures(3);
    /// let a = p.source(0..20u32).skip_failures().try_map(|n| if n % 4 == 0 { Err("a") } else { Ok(n) });
    /// let b = a.skip_failures().try_map(|n| if n % 4 == 1 { Err("b") } else { Ok(n) });
    /// let err = p.run_iter(b)?.collect::<Result<Vec<_>, _>>().unwrap_err();
    /// assert_eq!(err.failures()[0].kind, FailureKind::BudgetExceeded);
    /// assert!(err.to_string().contains("the run's max_failures(3)"));
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    pub fn max_failures(&self, n: u64) -> &Self {
        self.graph().borrow().run_budget.set_limit(n);
        self
    }
}

/// Gives the failure policy declared on `inputs` (if any) to the runner of the stage being
/// declared; returns the runner, and the dead-letter queue to be claimed once the stage's
/// node exists.
///
/// # Panics
/// If the stage runs no task a policy applies to.
pub(crate) fn attach_policy(
    g: &mut Graph,
    inputs: &[QueueId],
    kind: crate::StageKind,
    runner: Box<dyn Runner>,
    outputs: usize,
) -> (Box<dyn Runner>, Option<(QueueId, NodeId)>) {
    let Some((input, pending)) = inputs
        .iter()
        .find_map(|&q| g.queues[q].failure.take().map(|p| (q, p)))
    else {
        return (runner, None);
    };
    let dead_letter = pending.dead_letter;
    let policy = StagePolicy {
        policy: pending.policy,
        run: g.run_budget.clone(),
        copy: pending.copy,
        dead_letter_output: dead_letter.map(|_| outputs),
    };
    match runner.with_failure(policy) {
        Some(runner) if inputs.len() == 1 => (runner, dead_letter),
        _ => panic!(
            "a failure policy (retry, skip_failures, dead_letter, a budget) was declared on a \
             queue of '{}' consumed by '{kind}', which runs no task it could apply to: \
             declare it right before map, try_map, map_with, try_map_with, chain, flat_map, \
             try_flat_map or map_task",
            g.nodes[g.queues[input].producer].name
        ),
    }
}

/// Makes `node` the producer of the dead-letter queue `dead`, in place of its placeholder.
pub(crate) fn claim_dead_letter(
    g: &mut Graph,
    node: NodeId,
    (dead, placeholder): (QueueId, NodeId),
) {
    g.queues[dead].producer = node;
    g.nodes[node].outputs.push(dead);
    // The placeholder stays (node ids are indices) but runs nothing and renders as nothing.
    let ph = &mut g.nodes[placeholder];
    ph.runner = None;
    ph.name.clear();
}

/// The producer of a dead-letter queue whose stage was never declared: fails the start.
struct Unclaimed;

impl Runner for Unclaimed {
    fn launch(self: Box<Self>, _cx: &mut Launch<'_>) -> Result<(), PipelineError> {
        Err(PipelineError::Invalid(
            "a dead-letter queue (from dead_letter()) has no stage: declare a task stage \
             (map, try_map, chain, flat_map, map_task, ...) on the queue returned with it"
                .into(),
        ))
    }
}
