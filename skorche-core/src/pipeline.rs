//! `Pipeline`: the declaration that sources, merges and zips start from, and that runs.

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;

use crate::error::BoxError;
use crate::graph::{Mode, NodeDecl};
use crate::graph_ref::GraphRef;
use crate::launch::Runner;
use crate::queue::{add_stage, Queue};
use crate::render;
use crate::stage::source::{SourceRunner, TrySourceRunner};
use crate::stage::zip::ZipRunner;
use crate::stop::StopOptions;

/// A pipeline under declaration. Nothing runs until [`Pipeline::run`],
/// [`Pipeline::run_iter`] or [`Pipeline::start`].
///
/// ```
/// use skorche_core::Pipeline;
///
/// let p = Pipeline::new();
/// let words = p.source(["apple", "kiwi", "banana"]);
/// let long = words.filter(|w| w.len() > 4).map(|w| w.to_uppercase()).workers(2);
/// let mut out: Vec<String> = p.run_iter(long)?.collect::<Result<_, _>>()?;
/// out.sort();
/// assert_eq!(out, ["APPLE", "BANANA"]);
/// # Ok::<(), skorche_core::PipelineError>(())
/// ```
///
/// A pipeline and its queues are `Send`: declare on one thread, run on another.
///
/// ```
/// use skorche_core::Pipeline;
///
/// let p = Pipeline::new();
/// let squares = p.source(1..=3u64).map(|n| n * n);
/// let total = std::thread::spawn(move || {
///     p.run_iter(squares).map(|out| out.map(Result::unwrap).sum::<u64>())
/// });
/// assert_eq!(total.join().unwrap()?, 14);
/// # Ok::<(), skorche_core::PipelineError>(())
/// ```
#[derive(Default)]
pub struct Pipeline {
    graph: GraphRef,
    outputs: RefCell<Vec<usize>>,
    stop: Cell<StopOptions>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = self.graph.borrow();
        f.debug_struct("Pipeline")
            .field(
                "stages",
                &g.nodes.iter().map(|n| &n.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Pipeline {
    /// An empty pipeline.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the capacity of every queue whose capacity is not declared (default 64).
    ///
    /// # Panics
    /// If `n` is 0: a queue holds at least one item.
    #[track_caller]
    pub fn default_capacity(&self, n: usize) -> &Self {
        assert!(
            n > 0,
            "default_capacity(0): a queue holds at least one item"
        );
        self.graph.borrow_mut().default_capacity = Some(n);
        self
    }

    /// Sets the worker threads of every stage declared after this call that can scale.
    ///
    /// # Panics
    /// If `n` is 0: a stage needs at least one worker.
    #[track_caller]
    pub fn default_workers(&self, n: usize) -> &Self {
        assert!(
            n > 0,
            "default_workers(0): a stage needs at least one worker"
        );
        self.graph.borrow_mut().default_mode = Some(Mode::Threads(n));
        self
    }

    /// How long a graceful stop ([`Running::stop`](crate::Running::stop), a [`StopHandle`],
    /// a signal with [`Pipeline::stop_on_signals`]) may take: once the sources have stopped,
    /// the items in flight have `limit` to reach the outputs; then the run is aborted (every
    /// thread exits, every worker process is killed and reaped) and ends with
    /// [`PipelineError::Interrupted`](crate::PipelineError::Interrupted) and
    /// [`StopOutcome::GraceExpired`](crate::StopOutcome::GraceExpired). Default:
    /// [`DEFAULT_GRACE_PERIOD`](crate::DEFAULT_GRACE_PERIOD) (10 s).
    ///
    /// [`StopHandle`]: crate::StopHandle
    pub fn grace_period(&self, limit: std::time::Duration) -> &Self {
        self.stop.set(StopOptions {
            grace: limit,
            ..self.stop.get()
        });
        self
    }

    /// While the run lives, SIGINT (Ctrl-C) and SIGTERM stop it gracefully, as
    /// [`Running::stop`](crate::Running::stop) does: the sources stop pulling, what is in
    /// flight reaches the outputs within the [grace period](Pipeline::grace_period), and the
    /// run ends with
    /// [`PipelineError::Interrupted`](crate::PipelineError::Interrupted), which carries the
    /// report. A second signal aborts at once. When the run ends, the signals do what they
    /// did before (by default: terminate the process).
    ///
    /// Without this call skorche leaves signals alone: by default SIGINT ends the driver,
    /// and its worker processes exit with it. The opt-in covers the runs of this pipeline
    /// only; a handler installed before (by the program) is still called.
    ///
    /// A thread named `skorche:signals` waits for the signals while the run lives (through
    /// the `signal-hook` crate: the handler itself only writes to a pipe).
    pub fn stop_on_signals(&self) -> &Self {
        self.stop.set(StopOptions {
            on_signals: true,
            ..self.stop.get()
        });
        self
    }

    /// How runs of this pipeline may be stopped.
    pub(crate) fn stop_options(&self) -> StopOptions {
        self.stop.get()
    }

    /// A queue fed from `items`, pulled lazily: one item per free slot downstream, so an
    /// endless iterator works and nothing is read ahead beyond the declared capacities.
    pub fn source<I>(&self, items: I) -> Queue<I::Item>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Send + 'static,
    {
        let iter = items.into_iter();
        let size_hint = iter.size_hint();
        self.add_source(Box::new(SourceRunner { iter }), size_hint)
    }

    /// A queue fed from fallible `items` (lines of a file, rows of a query), pulled lazily
    /// like [`Pipeline::source`]: each `Ok` value goes downstream, and the first `Err` fails
    /// the run there, as a task's error would. The failure names the source stage and the
    /// index of the element that was an `Err` (its `seq`), and its
    /// [`source()`](std::error::Error::source) is the error itself.
    ///
    /// ```
    /// use std::error::Error;
    /// use std::io::BufRead;
    /// use skorche_core::{FailureKind, Pipeline};
    ///
    /// let p = Pipeline::new();
    /// let numbers = p
    ///     .try_source(["1", "2", "x", "4"].map(|s| s.parse::<u32>()))
    ///     .name("numbers");
    /// let err = p.run_iter(numbers)?.collect::<Result<Vec<u32>, _>>().unwrap_err();
    /// let failure = &err.failures()[0];
    /// assert_eq!((failure.stage.as_str(), failure.seq), ("numbers", Some(2)));
    /// assert_eq!(failure.kind, FailureKind::Task);
    /// let cause = failure.source().and_then(|e| e.downcast_ref::<std::num::ParseIntError>());
    /// assert!(cause.is_some());
    ///
    /// // Reading lines: an I/O error ends the run instead of being unwrapped.
    /// let p = Pipeline::new();
    /// let text = std::io::Cursor::new("a\nbb\nccc\n");
    /// let lens = p.try_source(text.lines()).map(|line| line.len());
    /// assert_eq!(p.run_iter(lens)?.collect::<Result<Vec<_>, _>>()?, [1, 2, 3]);
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    pub fn try_source<I, T, E>(&self, items: I) -> Queue<T>
    where
        I: IntoIterator<Item = Result<T, E>>,
        I::IntoIter: Send + 'static,
        T: Send + 'static,
        E: Into<BoxError> + 'static,
    {
        let iter = items.into_iter();
        let size_hint = iter.size_hint();
        self.add_source(Box::new(TrySourceRunner { iter }), size_hint)
    }

    /// Adds a source stage running `runner`, whose one output carries `T`s.
    /// `size_hint` is the source's (exact lengths give the live view an ETA).
    pub(crate) fn add_source<T: Send + 'static>(
        &self,
        runner: Box<dyn Runner>,
        size_hint: (usize, Option<usize>),
    ) -> Queue<T> {
        let mut g = self.graph.borrow_mut();
        let (low, high) = size_hint;
        g.source_lens
            .push((Some(low) == high).then_some(low as u64));
        let name = g.unique_name("source");
        let node = g.add_node(NodeDecl {
            name,
            kind: crate::StageKind::Source,
            mode: Mode::Threads(1),
            scalable: false,
            inputs: Vec::new(),
            outputs: Vec::new(),
            runner: Some(runner),
            process: Default::default(),
            process_capable: false,
        });
        let id = g.add_queue::<T>(node);
        drop(g);
        Queue::new(self.graph.clone(), id)
    }

    /// One queue carrying the items of all `queues`, in arrival order. Costs no thread:
    /// the producers of every input write into the merged queue directly.
    ///
    /// # Panics
    /// If `queues` is empty or a queue belongs to another pipeline.
    pub fn merge<T: Send + 'static, K>(
        &self,
        queues: impl IntoIterator<Item = Queue<T, K>>,
    ) -> Queue<T> {
        let queues: Vec<Queue<T, K>> = queues.into_iter().collect();
        assert!(!queues.is_empty(), "merge needs at least one queue");
        for q in &queues {
            assert!(
                GraphRef::ptr_eq(&q.graph, &self.graph),
                "merge of a queue of another pipeline"
            );
        }
        let mut g = self.graph.borrow_mut();
        let name = g.unique_name("merge");
        let node = g.add_node(NodeDecl {
            name,
            kind: crate::StageKind::Merge,
            mode: Mode::Threads(1),
            scalable: false,
            inputs: queues.iter().map(|q| q.id).collect(),
            outputs: Vec::new(),
            runner: None,
            process: Default::default(),
            process_capable: false,
        });
        let out = g.add_queue::<T>(node);
        for q in &queues {
            g.queues[q.id].consumer = Some(node);
            g.queues[q.id].merged_into = Some(out);
        }
        drop(g);
        Queue::new(self.graph.clone(), out)
    }

    /// Pairs the items of `left` and `right` one to one, for a stage with two inputs. If
    /// one side ends before the other, the run fails naming the zip stage.
    pub fn zip<A, B, KA, KB>(&self, left: Queue<A, KA>, right: Queue<B, KB>) -> Queue<(A, B)>
    where
        A: Send + 'static,
        B: Send + 'static,
    {
        assert!(
            GraphRef::ptr_eq(&left.graph, &self.graph)
                && GraphRef::ptr_eq(&right.graph, &self.graph)
        );
        add_stage(
            &self.graph,
            &[left.id, right.id],
            crate::StageKind::Zip,
            None,
            false,
            Box::new(ZipRunner::<A, B>(PhantomData)),
            1,
        )
        .pop()
        .expect("one output")
    }

    /// Declares `queue` as an output, to be read from
    /// [`Running::take`](crate::Running::take) after [`Pipeline::start`]. A pipeline may have
    /// several outputs.
    pub fn output<T: Send + 'static, K>(&self, queue: Queue<T, K>) -> OutputPort<T> {
        assert!(
            GraphRef::ptr_eq(&queue.graph, &self.graph),
            "output of a queue of another pipeline"
        );
        let mut outs = self.outputs.borrow_mut();
        outs.push(queue.id);
        OutputPort {
            index: outs.len() - 1,
            _t: PhantomData,
        }
    }

    /// The declaration, for the declaring code in other files.
    pub(crate) fn graph(&self) -> GraphRef {
        self.graph.clone()
    }

    /// The declaration and the declared outputs, for the executor.
    pub(crate) fn into_parts(self) -> (GraphRef, Vec<usize>) {
        (self.graph, self.outputs.into_inner())
    }

    /// The declared graph in Graphviz DOT.
    pub fn to_dot(&self) -> String {
        render::to_dot(&render::Shape::of(&self.graph.borrow()), None)
    }

    /// The declared graph as a Mermaid flowchart.
    pub fn to_mermaid(&self) -> String {
        render::to_mermaid(&render::Shape::of(&self.graph.borrow()), None)
    }

    /// The most items that can be alive inside the running pipeline at once: every queue's
    /// capacity; for each worker thread, one chunk per input and per output queue (a chunk
    /// is at most half a queue's capacity, up to 32: the packets a worker took at once, and
    /// those it collected to send at once); one chunk of each queue no stage consumes (its
    /// reader's); and everything a worker process may hold (`items × window` of
    /// [`Queue::process_batching`], default 256 × 2: items in its batches, in the rings and
    /// in the worker, until their outputs are on the next queue).
    /// Backpressure keeps the run within it, however slow the reader.
    pub fn max_in_flight(&self) -> usize {
        let g = self.graph.borrow();
        let cap = g.default_capacity.unwrap_or(crate::graph::DEFAULT_CAPACITY);
        let capacity = |q: usize| g.queues[g.channel_of(q)].capacity.unwrap_or(cap).max(1);
        let chunk = |q: usize| crate::hop::chunk_size(capacity(q));
        let unmerged = || (0..g.queues.len()).filter(|&q| g.queues[q].merged_into.is_none());
        let queues: usize = unmerged().map(capacity).sum();
        let readers: usize = unmerged()
            .filter(|&q| g.queues[q].consumer.is_none())
            .map(chunk)
            .sum();
        let workers: usize = g
            .nodes
            .iter()
            .filter(|n| n.runner.is_some())
            .map(|n| {
                let chunks: usize = n.inputs.iter().chain(&n.outputs).map(|&q| chunk(q)).sum();
                match n.mode {
                    // Everything a worker process holds counts: items in its batches, in the
                    // rings and inside the worker, until their outputs are on the next queue.
                    #[cfg(feature = "process")]
                    Mode::Processes(k) if n.process_capable => {
                        k * (n.process.items_per_worker() + chunks)
                    }
                    other => other.count() * chunks,
                }
            })
            .sum();
        queues + readers + workers
    }
}

/// A declared output of a pipeline, to be taken from [`Running::take`](crate::Running::take).
#[derive(Debug)]
#[must_use = "take it from the running pipeline to read its items"]
pub struct OutputPort<T> {
    pub(crate) index: usize,
    pub(crate) _t: PhantomData<fn() -> T>,
}
