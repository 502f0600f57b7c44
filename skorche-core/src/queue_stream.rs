//! Stream operations of [`Queue`]: `tee`, `inspect`, the stateful stages (`fold`, `scan`,
//! `stateful`) and the time- and count-bounded groupings (`batch_timeout`, `window`).

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use crate::error::BoxError;
use crate::launch::Runner;
use crate::queue::{add_stage, Queue};
use crate::stage::batch_timeout::BatchTimeoutRunner;
use crate::stage::inspect::InspectRunner;
use crate::stage::stateful::{Closures, Emitter, Fold, StatefulRunner, StreamLogic};
use crate::stage::tee::TeeRunner;
use crate::stage::window::WindowRunner;
use crate::StageKind;

/// # Stream operations
///
/// - [`tee`](Queue::tee) gives every item to several consumers;
/// - [`inspect`](Queue::inspect) looks at every item without changing it;
/// - [`fold`](Queue::fold), [`scan`](Queue::scan) and [`stateful`](Queue::stateful) carry a
///   state along the whole stream (on one worker);
/// - [`batch_timeout`](Queue::batch_timeout) groups items by count or age, and
///   [`window`](Queue::window) into sliding windows by count.
///
/// Markers pass all of them in place, and each keeps positions right inside an ordered
/// section (`order_save` ... `order_load`).
impl<T: Send + 'static, K> Queue<T, K> {
    fn stream_stage<U: Send + 'static>(
        self,
        kind: StageKind,
        scalable: bool,
        runner: Box<dyn Runner>,
    ) -> Queue<U> {
        add_stage(&self.graph, &[self.id], kind, None, scalable, runner, 1)
            .pop()
            .expect("one output was declared")
    }

    /// `n` queues that each get every item (a clone; the last branch gets the item itself),
    /// in the same order. Markers reach every branch; inside an ordered section each branch
    /// gets every position, so it can have a load of its own ([`OrderPoint::fork`]), or the
    /// branches can be merged again before one load (each item's copies then leave it
    /// together, in branch order).
    ///
    /// The tee runs on one thread and gives each item to the branches in turn: the slowest
    /// branch slows the tee, and so every branch and everything upstream (each branch's
    /// queue still holds at most its capacity). Consume all branches concurrently: a branch
    /// nobody reads stalls the others once its queue is full.
    ///
    /// Every branch gets a clone: wrap a large value in an [`Arc`] (a `Queue<Arc<Image>>`)
    /// so that only a pointer is cloned.
    ///
    /// ```
    /// # use skorche_core::Pipeline;
    /// let p = Pipeline::new();
    /// let mut branches = p.source(1..=4u64).tee(3);
    /// let cubes = branches.pop().unwrap().map(|x| x * x * x);
    /// let squares = branches.pop().unwrap().map(|x| x * x);
    /// let same = branches.pop().unwrap();
    /// let all = p.merge([same, squares, cubes]);
    /// let mut v: Vec<u64> = p.run_iter(all)?.collect::<Result<_, _>>()?;
    /// v.sort();
    /// assert_eq!(v, [1, 1, 1, 2, 3, 4, 4, 8, 9, 16, 27, 64]);
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    ///
    /// # Panics
    /// If `n` is 0: the items need at least one queue to go to.
    ///
    /// [`OrderPoint::fork`]: crate::OrderPoint::fork
    #[track_caller]
    pub fn tee(self, n: usize) -> Vec<Queue<T>>
    where
        T: Clone,
    {
        if n == 0 {
            self.refuse_op("tee(0)", "items need at least one queue to go to");
        }
        let runner = TeeRunner::<T> {
            ways: n,
            _t: PhantomData,
        };
        add_stage(
            &self.graph,
            &[self.id],
            StageKind::Tee,
            None,
            false,
            Box::new(runner),
            n,
        )
    }

    /// [`Queue::tee`] into two queues.
    ///
    /// ```
    /// # use skorche_core::Pipeline;
    /// use std::sync::Arc;
    ///
    /// let p = Pipeline::new();
    /// // Large values go through the tee as an Arc: only the pointer is cloned.
    /// let pages = p.source((0..3u8).map(|i| Arc::new(vec![i; 1 << 20])));
    /// let (a, b) = pages.tee2();
    /// let sums = a.map(|page| page.iter().map(|&b| u64::from(b)).sum::<u64>());
    /// let lens = b.map(|page| page.len() as u64);
    /// let out = p.zip(sums, lens);
    /// let v: Vec<(u64, u64)> = p.run_iter(out)?.collect::<Result<_, _>>()?;
    /// assert_eq!(v, [(0, 1 << 20), (1 << 20, 1 << 20), (2 << 20, 1 << 20)]);
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    pub fn tee2(self) -> (Queue<T>, Queue<T>)
    where
        T: Clone,
    {
        let mut qs = self.tee(2);
        let second = qs.pop().expect("two outputs");
        let first = qs.pop().expect("two outputs");
        (first, second)
    }

    /// Calls `f` on every item and passes the item on unchanged (a log line, a counter, a
    /// progress bar). Like `filter`, it runs on [`Queue::workers`] threads (one by
    /// default); a panic in `f` fails the stage at that item.
    ///
    /// ```
    /// # use skorche_core::Pipeline;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    ///
    /// let bytes = Arc::new(AtomicU64::new(0));
    /// let seen = bytes.clone();
    /// let p = Pipeline::new();
    /// let words = p
    ///     .source(["a", "bb", "ccc"])
    ///     .inspect(move |w| { seen.fetch_add(w.len() as u64, Ordering::Relaxed); });
    /// assert_eq!(p.run_iter(words)?.collect::<Result<Vec<_>, _>>()?, ["a", "bb", "ccc"]);
    /// assert_eq!(bytes.load(Ordering::Relaxed), 6);
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    pub fn inspect<F>(self, f: F) -> Queue<T>
    where
        F: Fn(&T) + Send + Sync + 'static,
    {
        self.stream_stage(
            StageKind::Inspect,
            true,
            Box::new(InspectRunner { f: Arc::new(f) }),
        )
    }

    /// Folds the whole stream into one value: `f(state, item)` for every item, then the
    /// final state is the one output, emitted when the input ends (`init` for an empty
    /// stream). The end of the stream is the input queue closing: every upstream stage has
    /// finished (or a graceful stop drained them); an aborted run emits nothing.
    ///
    /// A stateful stage: it runs on one worker and sees the items in the order they come
    /// (put it after an `order_load` or `.ordered()` if the result depends on the order).
    /// Markers pass on as they come, so they all leave before the result. Inside an ordered
    /// section each item leaves an empty position, and the result has none: it leaves the
    /// section's load as it comes.
    ///
    /// ```
    /// # use skorche_core::Pipeline;
    /// let p = Pipeline::new();
    /// let total = p.source(1..=100u64).map(|x| x * 2).workers(4).fold(0, |sum, x| sum + x);
    /// assert_eq!(p.run_iter(total)?.collect::<Result<Vec<_>, _>>()?, [10_100]);
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    ///
    /// # Panics
    /// `workers(n)` with `n > 1` on its output panics: the stage is sequential.
    pub fn fold<S, F>(self, init: S, mut f: F) -> Queue<S>
    where
        S: Send + 'static,
        F: FnMut(S, T) -> S + Send + 'static,
    {
        self.logic(
            StageKind::Fold,
            Box::new(Fold {
                acc: Some(init),
                f: move |s, x| Ok::<_, BoxError>(f(s, x)),
            }),
        )
    }

    /// Like [`Queue::fold`] with a fallible `f`: an `Err` stops the run, naming the stage,
    /// the item and the error (its [`source()`](std::error::Error::source)).
    ///
    /// ```
    /// # use skorche_core::Pipeline;
    /// let p = Pipeline::new();
    /// let sum = p
    ///     .source(["1", "2", "x"])
    ///     .try_fold(0u32, |sum, s: &str| s.parse::<u32>().map(|n| sum + n))
    ///     .name("sum");
    /// let err = p.run_iter(sum)?.collect::<Result<Vec<_>, _>>().unwrap_err();
    /// assert_eq!((err.failures()[0].stage.as_str(), err.failures()[0].seq), ("sum", Some(2)));
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    pub fn try_fold<S, E, F>(self, init: S, mut f: F) -> Queue<S>
    where
        S: Send + 'static,
        E: Into<BoxError>,
        F: FnMut(S, T) -> Result<S, E> + Send + 'static,
    {
        self.logic(
            StageKind::Fold,
            Box::new(Fold {
                acc: Some(init),
                f: move |s, x| f(s, x).map_err(Into::into),
            }),
        )
    }

    /// A running state: `f(&mut state, item)` for every item, and its result is the
    /// output, at the item's place (one output per input: a running sum, a delta to the
    /// previous item, a numbering).
    ///
    /// A stateful stage, on one worker, like [`Queue::fold`]: it sees the items in the order
    /// they come; markers pass in place.
    ///
    /// ```
    /// # use skorche_core::Pipeline;
    /// let p = Pipeline::new();
    /// let running = p.source([3u64, 1, 4, 1, 5]).scan(0, |sum, x| { *sum += x; *sum });
    /// assert_eq!(p.run_iter(running)?.collect::<Result<Vec<_>, _>>()?, [3, 4, 8, 9, 14]);
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    ///
    /// # Panics
    /// `workers(n)` with `n > 1` on its output panics: the stage is sequential.
    pub fn scan<S, U, F>(self, init: S, mut f: F) -> Queue<U>
    where
        S: Send + 'static,
        U: Send + 'static,
        F: FnMut(&mut S, T) -> U + Send + 'static,
    {
        self.logic(
            StageKind::Scan,
            Box::new(Closures {
                state: init,
                on_item: move |s: &mut S, x, out: &mut Emitter<U>| {
                    out.emit(f(s, x));
                    Ok(())
                },
                on_end: |_, _: &mut Emitter<U>| Ok(()),
            }),
        )
    }

    /// The general stateful stage: `on_item(&mut state, item, out)` for every item, which
    /// emits zero, one or several outputs through `out`, then `on_end(state, out)` once,
    /// when the input ends, for final outputs (a last partial group, a summary). Sessions,
    /// deduplication, run-length encoding, change detection: anything that needs the items
    /// before.
    ///
    /// A stateful stage runs on one worker (the state is never shared, so it need not be
    /// `Sync`) and sees the items in the order they come: put it after an `order_load` or
    /// `.ordered()` if the state depends on that order.
    ///
    /// - **End of stream** is the input queue closing: every upstream stage has finished,
    ///   or a graceful stop drained them (`on_end` runs then too; an aborted run does not
    ///   call it).
    /// - **Markers** pass in place: after the outputs of the items before them, before
    ///   those of the items after them. They do not end anything: a segment that should
    ///   flush at a marker is read with [`Output::until`](crate::Output::until) downstream.
    /// - **In an ordered section** the outputs of one item take its place (several take
    ///   consecutive places, none leaves the place empty, like [`Queue::flat_map`]);
    ///   `on_end`'s outputs have no input, so no place: they come after every other output
    ///   of the stage, and the section's load passes them on as they come.
    ///
    /// ```
    /// # use skorche_core::Pipeline;
    /// // Run-length encoding: (value, count) for each run of equal items.
    /// let p = Pipeline::new();
    /// let runs = p.source("aaabccdddd".chars()).stateful(
    ///     None::<(char, usize)>,
    ///     |run, c, out| match run {
    ///         Some((v, n)) if *v == c => *n += 1,
    ///         _ => {
    ///             if let Some(done) = run.replace((c, 1)) {
    ///                 out.emit(done);
    ///             }
    ///         }
    ///     },
    ///     |run, out| out.extend(run),
    /// );
    /// let v: Vec<(char, usize)> = p.run_iter(runs)?.collect::<Result<_, _>>()?;
    /// assert_eq!(v, [('a', 3), ('b', 1), ('c', 2), ('d', 4)]);
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    ///
    /// # Panics
    /// `workers(n)` with `n > 1` on its output panics: the stage is sequential.
    pub fn stateful<S, U, I, E>(self, state: S, mut on_item: I, on_end: E) -> Queue<U>
    where
        S: Send + 'static,
        U: Send + 'static,
        I: FnMut(&mut S, T, &mut Emitter<U>) + Send + 'static,
        E: FnOnce(S, &mut Emitter<U>) + Send + 'static,
    {
        self.try_stateful(
            state,
            move |s, x, out| {
                on_item(s, x, out);
                Ok::<_, BoxError>(())
            },
            move |s, out| {
                on_end(s, out);
                Ok(())
            },
        )
    }

    /// Like [`Queue::stateful`] with fallible callbacks: an `Err` from `on_item` stops the
    /// run naming the item, one from `on_end` names no item; the error is the failure's
    /// [`source()`](std::error::Error::source).
    pub fn try_stateful<S, U, Er, I, E>(self, state: S, mut on_item: I, on_end: E) -> Queue<U>
    where
        S: Send + 'static,
        U: Send + 'static,
        Er: Into<BoxError>,
        I: FnMut(&mut S, T, &mut Emitter<U>) -> Result<(), Er> + Send + 'static,
        E: FnOnce(S, &mut Emitter<U>) -> Result<(), Er> + Send + 'static,
    {
        self.logic(
            StageKind::Stateful,
            Box::new(Closures {
                state,
                on_item: move |s: &mut S, x, out: &mut Emitter<U>| {
                    on_item(s, x, out).map_err(Into::into)
                },
                on_end: move |s, out: &mut Emitter<U>| on_end(s, out).map_err(Into::into),
            }),
        )
    }

    fn logic<U: Send + 'static>(
        self,
        kind: StageKind,
        logic: Box<dyn StreamLogic<T, U>>,
    ) -> Queue<U> {
        self.stream_stage(kind, false, Box::new(StatefulRunner { logic }))
    }

    /// Groups consecutive items into `Vec`s of `size`, like [`Queue::batch`], but emits a
    /// partial batch as soon as its oldest item has waited `timeout`: the batching of model
    /// serving, where a lone request must not wait for a full batch. The stage waits on its
    /// input with a deadline (it does not spin), and the end of the stream emits the batch
    /// being filled.
    ///
    /// A marker is never put inside a batch: it ends the batch before it. Inside an ordered
    /// section a partial batch is also emitted when the input has been quiet for 10 ms (as
    /// `batch` does: the section's load may be waiting for one of its items). A zero
    /// `timeout` emits every item alone.
    ///
    /// ```
    /// # use skorche_core::Pipeline;
    /// use std::time::Duration;
    ///
    /// let p = Pipeline::new();
    /// // A slow source: an item every 20 ms; batches of up to 8, none waits over 30 ms.
    /// let slow = p.source((0..6u32).inspect(|_| std::thread::sleep(Duration::from_millis(20))));
    /// let batches = slow.batch_timeout(8, Duration::from_millis(30));
    /// let v: Vec<Vec<u32>> = p.run_iter(batches)?.collect::<Result<_, _>>()?;
    /// assert!(v.len() > 1 && v.iter().all(|b| b.len() < 8));
    /// assert_eq!(v.concat(), [0, 1, 2, 3, 4, 5]);
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    ///
    /// # Panics
    /// If `size` is 0: a batch holds at least one item. `workers(n)` with `n > 1` on its
    /// output panics: the stage is sequential.
    #[track_caller]
    pub fn batch_timeout(self, size: usize, timeout: Duration) -> Queue<Vec<T>> {
        if size == 0 {
            self.refuse_op("batch_timeout(0, _)", "a batch holds at least one item");
        }
        let runner = BatchTimeoutRunner::<T> {
            size,
            timeout,
            _t: PhantomData,
        };
        self.stream_stage(StageKind::BatchTimeout, false, Box::new(runner))
    }

    /// Windows by count: a `Vec` of the last `size` items, every `stride` items. With
    /// `stride < size` the windows slide and overlap (items are cloned into each window
    /// after the first they belong to); with `stride == size` they tumble; with
    /// `stride > size` the items between windows are dropped. Only full windows are
    /// emitted: a stream of fewer than `size` items yields none (for groups with a partial
    /// last one, see [`Queue::batch`]).
    ///
    /// A marker passes where it comes, after every window that ended before it (windows
    /// run across markers). Inside an ordered section a window takes the place of the item
    /// that completed it.
    ///
    /// ```
    /// # use skorche_core::Pipeline;
    /// let p = Pipeline::new();
    /// let sliding = p.source(1..=5u32).window(3, 1);
    /// let v: Vec<Vec<u32>> = p.run_iter(sliding)?.collect::<Result<_, _>>()?;
    /// assert_eq!(v, [vec![1, 2, 3], vec![2, 3, 4], vec![3, 4, 5]]);
    ///
    /// let p = Pipeline::new();
    /// let hopping = p.source(1..=9u32).window(2, 3);
    /// let v: Vec<Vec<u32>> = p.run_iter(hopping)?.collect::<Result<_, _>>()?;
    /// assert_eq!(v, [vec![1, 2], vec![4, 5], vec![7, 8]]);
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    ///
    /// # Panics
    /// If `size` or `stride` is 0. `workers(n)` with `n > 1` on its output panics: the
    /// stage is sequential.
    #[track_caller]
    pub fn window(self, size: usize, stride: usize) -> Queue<Vec<T>>
    where
        T: Clone,
    {
        if size == 0 {
            self.refuse_op("window(0, _)", "a window holds at least one item");
        }
        if stride == 0 {
            self.refuse_op("window(_, 0)", "windows must move on by at least one item");
        }
        let runner = WindowRunner::<T> {
            size,
            stride,
            _t: PhantomData,
        };
        self.stream_stage(StageKind::Window, false, Box::new(runner))
    }
}
