//! `Queue<T>`: a typed edge of the graph, and every operation that binds a task to it.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::chain::Chain;
use crate::error::BoxError;
use crate::graph::{Mode, NodeDecl, QueueId};
use crate::graph_ref::GraphRef;
use crate::launch::Runner;
use crate::stage::batch::{BatchRunner, TypedBatch};
use crate::stage::filter::FilterRunner;
use crate::stage::flat_map::FlatMapRunner;
use crate::stage::map::{MapFactory, MapRunner};
use crate::stage::split::SplitRunner;
use crate::stage_shape::AnyStage;
#[cfg(doc)]
use crate::stage_shape::TaskStage;

/// A typed, bounded queue: the output of one stage and the input of at most one other.
///
/// Operations take the queue by value, so a queue is consumed exactly once and the
/// compiler checks that each task's input type is the queue's item type:
///
/// ```compile_fail
/// # use skorche_core::Pipeline;
/// let p = Pipeline::new();
/// let words = p.source(vec!["a".to_string()]);  // Queue<String>
/// let _ = words.map(|n: u64| n + 1);              // a task over u64: does not compile
/// ```
///
/// Declaring runs nothing; calls such as [`Queue::workers`] configure the stage that
/// produces this queue.
///
/// `S` says which settings that stage has: [`AnyStage`] (the default: `Queue<T>`) the
/// settings of every stage, [`TaskStage`] (returned by [`Queue::map_task`]) those plus the
/// process-mode settings such as [`Queue::processes`]. See [`TaskStage`] for why.
#[must_use = "a queue that is never consumed is drained and its items dropped"]
pub struct Queue<T, S = AnyStage> {
    pub(crate) graph: GraphRef,
    pub(crate) id: QueueId,
    _t: PhantomData<fn() -> (T, S)>,
}

impl<T, S> std::fmt::Debug for Queue<T, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = self.graph.borrow();
        let q = &g.queues[self.id];
        f.debug_struct("Queue")
            .field("producer", &g.nodes[q.producer].name)
            .field("type", &q.type_name)
            .finish()
    }
}

impl<T: Send + 'static, K> Queue<T, K> {
    pub(crate) fn new(graph: GraphRef, id: QueueId) -> Self {
        Queue {
            graph,
            id,
            _t: PhantomData,
        }
    }

    /// The same queue with another set of settings offered.
    pub(crate) fn reshape<K2>(self) -> Queue<T, K2> {
        Queue::new(self.graph, self.id)
    }

    /// The same queue as a queue of `B`, for a caller that knows `B` is `T` where the
    /// compiler cannot see it (it checks by `TypeId` first).
    pub(crate) fn recast<B: Send + 'static>(self) -> Queue<B> {
        Queue::new(self.graph, self.id)
    }

    /// Adds a stage consuming this queue, with `outputs` output queues of type `U`.
    pub(crate) fn add_stage<U: Send + 'static>(
        self,
        kind: crate::StageKind,
        name: Option<String>,
        scalable: bool,
        runner: Box<dyn Runner>,
        outputs: usize,
    ) -> Vec<Queue<U>> {
        add_stage(
            &self.graph,
            &[self.id],
            kind,
            name,
            scalable,
            runner,
            outputs,
        )
    }

    fn stage1<U: Send + 'static>(
        self,
        kind: crate::StageKind,
        scalable: bool,
        runner: Box<dyn Runner>,
    ) -> Queue<U> {
        self.add_stage(kind, None, scalable, runner, 1)
            .pop()
            .expect("one output was declared")
    }

    /// The stage that produces this queue runs on `n` worker threads; a range (`1..=8`)
    /// lets the autoscaler size it while it runs, within the pipeline's
    /// [worker budget](crate::Pipeline::worker_budget) (see
    /// [`Pipeline::autoscale_period`](crate::Pipeline::autoscale_period)).
    ///
    /// ```
    /// use skorche_core::Pipeline;
    ///
    /// let p = Pipeline::new();
    /// p.worker_budget(4);
    /// let out = p.source(0..100u32).map(|n| n + 1).workers(1..=4);
    /// assert_eq!(p.run_iter(out)?.count(), 100);
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    ///
    /// # Panics
    /// If `n` is 0, or if that stage is inherently sequential (a source, `batch`, `zip`)
    /// and `n > 1`. Like every setting that can never be right (`capacity(0)`, `batch(0)`,
    /// `split_by(0, _)`, `processes(0)`, ...), `workers(0)` panics where it is declared,
    /// naming the stage, before anything runs.
    ///
    /// ```should_panic
    /// # use skorche_core::Pipeline;
    /// let p = Pipeline::new();
    /// let _ = p.source(0..3u8).map(|x| x).workers(0); // panics: "stage 'map': workers(0) ..."
    /// ```
    #[track_caller]
    pub fn workers(self, n: impl crate::queue_scale::WorkerCount) -> Self {
        self.set_workers(n);
        self
    }

    #[track_caller]
    pub(crate) fn set_mode(&self, mode: Mode) {
        let mut g = self.graph.borrow_mut();
        let producer = g.queues[self.id].producer;
        let node = &mut g.nodes[producer];
        if mode.count() == 0 {
            let setting = match mode {
                Mode::Threads(_) => "workers(0)",
                Mode::Processes(_) => "processes(0)",
            };
            let name = node.name.clone();
            drop(g);
            panic!("stage '{name}': {setting}: a stage needs at least one worker");
        }
        assert!(
            node.scalable || mode.count() <= 1,
            "stage '{}' ({}) is sequential and runs on one worker",
            node.name,
            node.kind
        );
        node.mode = mode;
        // A later setting replaces a range given before.
        g.scaled.retain(|s| s.node != producer);
    }

    /// At most `n` items wait in this queue; a producer blocks when it is full, so a slow
    /// consumer slows every stage upstream (backpressure).
    ///
    /// # Panics
    /// If `n` is 0: a queue holds at least one item.
    #[track_caller]
    pub fn capacity(self, n: usize) -> Self {
        if n == 0 {
            self.refuse("capacity(0)", "a queue holds at least one item");
        }
        self.graph.borrow_mut().queues[self.id].capacity = Some(n);
        self
    }

    /// Panics for a setting of the stage that produces this queue that can never be right,
    /// naming that stage (at the caller's line).
    #[track_caller]
    pub(crate) fn refuse(&self, setting: &str, why: &str) -> ! {
        panic!("stage '{}': {setting}: {why}", self.producer_name())
    }

    /// Panics for an operation on this queue declared with an argument that can never be
    /// right, naming the stage whose output it would consume (at the caller's line).
    #[track_caller]
    pub(crate) fn refuse_op(&self, op: &str, why: &str) -> ! {
        panic!(
            "{op} on the output of stage '{}': {why}",
            self.producer_name()
        )
    }

    /// The name of the stage that produces this queue.
    fn producer_name(&self) -> String {
        let g = self.graph.borrow();
        g.nodes[g.queues[self.id].producer].name.clone()
    }

    /// Names the stage that produces this queue (shown in errors, reports and renderings).
    ///
    /// # Panics
    /// If another stage already has this name.
    pub fn name(self, name: impl Into<String>) -> Self {
        let name = name.into();
        let mut g = self.graph.borrow_mut();
        let producer = g.queues[self.id].producer;
        assert!(
            g.nodes
                .iter()
                .enumerate()
                .all(|(i, n)| i == producer || n.name != name),
            "two stages are named '{name}'"
        );
        g.nodes[producer].name = name;
        drop(g);
        self
    }

    /// Applies `f` to every item, on [`Queue::workers`] threads.
    ///
    /// ```
    /// # use skorche_core::Pipeline;
    /// let p = Pipeline::new();
    /// let out = p.source(1..=3u32).map(|x| x * 10).workers(2);
    /// let mut v: Vec<u32> = p.run_iter(out)?.collect::<Result<_, _>>()?;
    /// v.sort();
    /// assert_eq!(v, [10, 20, 30]);
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    pub fn map<U, F>(self, f: F) -> Queue<U>
    where
        U: Send + 'static,
        F: Fn(T) -> U + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.map_factory(
            crate::StageKind::Map,
            Arc::new(move || {
                let f = f.clone();
                Ok(Box::new(move |x| Ok(f(x))))
            }),
        )
    }

    /// Applies a fallible `f`: an `Err` stops the pipeline and names the stage, the item's
    /// sequence number and the error.
    pub fn try_map<U, E, F>(self, f: F) -> Queue<U>
    where
        U: Send + 'static,
        E: Into<BoxError>,
        F: Fn(T) -> Result<U, E> + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.map_factory(
            crate::StageKind::Map,
            Arc::new(move || {
                let f = f.clone();
                Ok(Box::new(move |x| f(x).map_err(Into::into)))
            }),
        )
    }

    /// Applies `f` with a per-worker state built by `init` once in each worker (a loaded
    /// model, a connection, a scratch buffer). The state never crosses threads.
    ///
    /// ```
    /// # use skorche_core::Pipeline;
    /// let p = Pipeline::new();
    /// // Each worker counts the items it saw.
    /// let out = p.source(0..4u64).map_with(|| 0u64, |seen, x| { *seen += 1; x + *seen * 0 });
    /// assert_eq!(p.run_iter(out)?.count(), 4);
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    pub fn map_with<S, U, I, F>(self, init: I, f: F) -> Queue<U>
    where
        U: Send + 'static,
        S: 'static,
        I: Fn() -> S + Send + Sync + 'static,
        F: Fn(&mut S, T) -> U + Send + Sync + 'static,
    {
        self.try_map_with(init, move |s, x| Ok::<_, BoxError>(f(s, x)))
    }

    /// Like [`Queue::map_with`] with a fallible task.
    pub fn try_map_with<S, U, E, I, F>(self, init: I, f: F) -> Queue<U>
    where
        U: Send + 'static,
        S: 'static,
        E: Into<BoxError>,
        I: Fn() -> S + Send + Sync + 'static,
        F: Fn(&mut S, T) -> Result<U, E> + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.map_factory(
            crate::StageKind::Map,
            Arc::new(move || {
                let f = f.clone();
                let mut state = init();
                Ok(Box::new(move |x| f(&mut state, x).map_err(Into::into)))
            }),
        )
    }

    /// Runs several tasks in sequence inside one stage (no queue between them), or in one
    /// stage per group of steps given its own [`Chain::workers`]. The stage is named after
    /// its steps (`parse+double`).
    ///
    /// ```
    /// # use skorche_core::{Chain, Pipeline};
    /// let p = Pipeline::new();
    /// let steps = Chain::new("parse", |s: String| s.parse::<u32>()).then_map("double", |n| n * 2);
    /// let out = p.source(vec!["1".to_string(), "2".into()]).chain(steps);
    /// assert_eq!(p.run_iter(out)?.collect::<Result<Vec<_>, _>>()?, [2, 4]);
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    pub fn chain<U: Send + 'static, M: Send + 'static>(self, chain: Chain<T, U, M>) -> Queue<U> {
        chain.bind(self.reshape())
    }

    pub(crate) fn map_factory<U: Send + 'static>(
        self,
        kind: crate::StageKind,
        factory: MapFactory<T, U>,
    ) -> Queue<U> {
        self.stage1(
            kind,
            true,
            Box::new(MapRunner {
                factory,
                failure: None,
            }),
        )
    }

    pub(crate) fn set_default_name(&self, base: &str) {
        let mut g = self.graph.borrow_mut();
        let producer = g.queues[self.id].producer;
        let name = g.unique_name(base);
        g.nodes[producer].name = name;
    }

    /// Keeps the items for which `pred` is true.
    pub fn filter<F>(self, pred: F) -> Queue<T>
    where
        F: Fn(&T) -> bool + Send + Sync + 'static,
    {
        self.stage1(
            crate::StageKind::Filter,
            true,
            Box::new(FilterRunner {
                pred: Arc::new(pred),
            }),
        )
    }

    /// Turns each item into zero or more items, in the iterator's order. With one worker
    /// the outputs of one input stay together; with several, outputs of inputs processed
    /// at the same time may interleave (each input's own outputs keep their order), unless
    /// the stage is inside an ordered section, where they come out together in their
    /// input's place.
    pub fn flat_map<I, F>(self, f: F) -> Queue<I::Item>
    where
        I: IntoIterator + 'static,
        I::Item: Send + 'static,
        F: Fn(T) -> I + Send + Sync + 'static,
    {
        let f = Arc::new(move |x| Ok(f(x)));
        self.stage1(
            crate::StageKind::FlatMap,
            true,
            Box::new(FlatMapRunner { f, failure: None }),
        )
    }

    /// Like [`Queue::flat_map`] with a fallible task.
    pub fn try_flat_map<I, E, F>(self, f: F) -> Queue<I::Item>
    where
        I: IntoIterator + 'static,
        I::Item: Send + 'static,
        E: Into<BoxError>,
        F: Fn(T) -> Result<I, E> + Send + Sync + 'static,
    {
        let f = Arc::new(move |x| f(x).map_err(Into::into));
        self.stage1(
            crate::StageKind::FlatMap,
            true,
            Box::new(FlatMapRunner { f, failure: None }),
        )
    }

    /// Sends each item to the first queue if `pred` is true, else to the second.
    pub fn split<F>(self, pred: F) -> (Queue<T>, Queue<T>)
    where
        F: Fn(&T) -> bool + Send + Sync + 'static,
    {
        let key = Arc::new(move |x: &T| usize::from(!pred(x)));
        let mut qs = self.add_stage::<T>(
            crate::StageKind::Split,
            None,
            true,
            Box::new(SplitRunner { key, ways: 2 }),
            2,
        );
        let second = qs.pop().expect("two outputs");
        let first = qs.pop().expect("two outputs");
        (first, second)
    }

    /// Sends each item to the queue `key(item)` of `n` queues. A key `>= n` stops the
    /// pipeline with an error naming the item.
    ///
    /// # Panics
    /// If `n` is 0: there must be a queue to send items to.
    #[track_caller]
    pub fn split_by<F>(self, n: usize, key: F) -> Vec<Queue<T>>
    where
        F: Fn(&T) -> usize + Send + Sync + 'static,
    {
        if n == 0 {
            self.refuse_op("split_by(0, _)", "items need at least one queue to go to");
        }
        self.add_stage(
            crate::StageKind::Split,
            None,
            true,
            Box::new(SplitRunner {
                key: Arc::new(key),
                ways: n,
            }),
            n,
        )
    }

    /// Groups consecutive items into `Vec`s of `size`; the last, partial batch is emitted
    /// too. A marker is never put inside a batch: it ends the batch before it.
    ///
    /// # Panics
    /// If `size` is 0: a batch holds at least one item.
    #[track_caller]
    pub fn batch(self, size: usize) -> Queue<Vec<T>> {
        if size == 0 {
            self.refuse_op("batch(0)", "a batch holds at least one item");
        }
        let runner = TypedBatch::<T> {
            inner: BatchRunner { size },
            _t: PhantomData,
        };
        self.stage1(crate::StageKind::Batch, false, Box::new(runner))
    }
}

impl<T: Send + 'static, K> Queue<Vec<T>, K> {
    /// Turns each batch back into its items, in order.
    pub fn unbatch(self) -> Queue<T> {
        let f = Arc::new(|v: Vec<T>| Ok(v));
        self.stage1(
            crate::StageKind::Unbatch,
            true,
            Box::new(FlatMapRunner { f, failure: None }),
        )
    }
}

/// Adds a stage consuming `inputs`, with `outputs` output queues of type `U`.
pub(crate) fn add_stage<U: Send + 'static>(
    graph: &GraphRef,
    inputs: &[QueueId],
    kind: crate::StageKind,
    name: Option<String>,
    scalable: bool,
    runner: Box<dyn Runner>,
    outputs: usize,
) -> Vec<Queue<U>> {
    let mut g = graph.borrow_mut();
    // A failure policy declared on the input goes to this stage's runner.
    let (runner, dead_letter) =
        crate::queue_failure::attach_policy(&mut g, inputs, kind, runner, outputs);
    let name = name.unwrap_or_else(|| g.unique_name(kind.as_str()));
    let mode = if scalable {
        match g.default_mode {
            Some(Mode::Threads(n)) => Mode::Threads(n),
            _ => Mode::Threads(1),
        }
    } else {
        Mode::Threads(1)
    };
    let node = g.add_node(NodeDecl {
        name,
        kind,
        mode,
        scalable,
        inputs: inputs.to_vec(),
        outputs: Vec::new(),
        runner: Some(runner),
        process: Default::default(),
        process_capable: false,
    });
    for &q in inputs {
        g.queues[q].consumer = Some(node);
    }
    let ids: Vec<_> = (0..outputs).map(|_| g.add_queue::<U>(node)).collect();
    if let Some(dead_letter) = dead_letter {
        crate::queue_failure::claim_dead_letter(&mut g, node, dead_letter);
    }
    drop(g);
    ids.into_iter()
        .map(|id| Queue::new(graph.clone(), id))
        .collect()
}
