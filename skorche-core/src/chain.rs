//! `Chain`: named closures run in sequence, fused into one stage unless a step asks for
//! its own worker count.

use std::any::TypeId;
use std::sync::Arc;

use crate::error::BoxError;
use crate::queue::Queue;
use crate::stage::map::MapFactory;

type Step<T, U> = Arc<dyn Fn(T) -> Result<U, BoxError> + Send + Sync>;

/// Declares the stages of the groups closed so far on a queue, returning the queue the
/// open group will read.
type Closed<T, M> = Arc<dyn Fn(Queue<T>) -> Queue<M> + Send + Sync>;

/// Named tasks run one after the other on each item. An error names the step that failed.
///
/// Steps are fused: consecutive steps run in one stage, on one worker per item, with no
/// queue between them, until [`Chain::workers`] gives the steps declared so far their own
/// worker count. That closes a group: its steps become one stage with that many workers,
/// and the steps after it start the next group, a stage of its own connected by a queue.
/// So a chain is one stage unless you give part of it a different scale, which is what a
/// queue between steps would be for.
///
/// ```
/// use skorche_core::{Chain, Mode, Pipeline};
///
/// let steps = Chain::map("parse", |s: String| s.len() as u64)
///     .then_map("square", |n| n * n)
///     .workers(2) // parse+square: one stage on 2 threads
///     .then_map("slow_lookup", |n| n + 1)
///     .then_map("format", |n| n.to_string())
///     .workers(4); // slow_lookup+format: another stage, on 4 threads
///
/// let p = Pipeline::new();
/// let out = p.source(vec!["ab".to_string(), "abc".into()]).chain(steps).ordered();
/// let mut out = p.run_iter(out)?;
/// assert_eq!(out.by_ref().collect::<Result<Vec<_>, _>>()?, ["5", "10"]);
/// let report = out.report().unwrap();
/// assert_eq!(report.stage("parse+square").unwrap().mode, Mode::Threads(2));
/// assert_eq!(report.stage("slow_lookup+format").unwrap().mode, Mode::Threads(4));
/// # Ok::<(), skorche_core::PipelineError>(())
/// ```
///
/// A chain is also a closure task with a default scale, reusable (it is `Clone`): the
/// worker count given by its last [`Chain::workers`] is the stage's default, which
/// [`Queue::workers`] on the queue [`Queue::chain`] returns overrides:
///
/// ```
/// use skorche_core::{Chain, Mode, Pipeline};
///
/// let resize = Chain::map("resize", |x: u64| x / 2).workers(4);
/// let p = Pipeline::new();
/// let _a = p.source(0..8u64).chain(resize.clone());            // 4 threads
/// let _b = p.source(0..8u64).chain(resize).workers(1).name("b"); // 1 thread
/// let report = p.run()?;
/// assert_eq!(report.stage("resize").unwrap().mode, Mode::Threads(4));
/// assert_eq!(report.stage("b").unwrap().mode, Mode::Threads(1));
/// # Ok::<(), skorche_core::PipelineError>(())
/// ```
///
/// `M` is the item type the last group of steps reads: `T` until a
/// [`Chain::workers`] closes a group, so a chain in one stage is a `Chain<T, U>`.
pub struct Chain<T, U, M = T> {
    closed: Closed<T, M>,
    /// The steps of the open group; empty only right after [`Chain::workers`].
    names: Vec<String>,
    f: Step<M, U>,
}

impl<T, U, M> Clone for Chain<T, U, M> {
    fn clone(&self) -> Self {
        Chain {
            closed: Arc::clone(&self.closed),
            names: self.names.clone(),
            f: Arc::clone(&self.f),
        }
    }
}

impl<T, U, M> std::fmt::Debug for Chain<T, U, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("open_steps", &self.names)
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static, U: Send + 'static> Chain<T, U> {
    /// A chain of one fallible step called `name`.
    pub fn new<E, F>(name: impl Into<String>, f: F) -> Self
    where
        E: Into<BoxError>,
        F: Fn(T) -> Result<U, E> + Send + Sync + 'static,
    {
        let name = name.into();
        let n2 = name.clone();
        Chain {
            closed: Arc::new(|q| q),
            names: vec![name],
            f: Arc::new(move |x| f(x).map_err(|e| step_error(&n2, e.into()))),
        }
    }

    /// A chain of one infallible step called `name`.
    ///
    /// ```
    /// use skorche_core::{Chain, Pipeline};
    ///
    /// let steps = Chain::map("double", |n: u32| n * 2).then_map("inc", |n| n + 1);
    /// let p = Pipeline::new();
    /// let out = p.source(1..=3u32).chain(steps);
    /// assert_eq!(p.run_iter(out)?.collect::<Result<Vec<_>, _>>()?, [3, 5, 7]);
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    pub fn map<F>(name: impl Into<String>, f: F) -> Self
    where
        F: Fn(T) -> U + Send + Sync + 'static,
    {
        Chain {
            closed: Arc::new(|q| q),
            names: vec![name.into()],
            f: Arc::new(move |x| Ok(f(x))),
        }
    }
}

impl<T: Send + 'static, U: Send + 'static, M: Send + 'static> Chain<T, U, M> {
    /// Appends a fallible step called `name`.
    pub fn then<V: 'static, E, F>(self, name: impl Into<String>, g: F) -> Chain<T, V, M>
    where
        E: Into<BoxError>,
        F: Fn(U) -> Result<V, E> + Send + Sync + 'static,
    {
        let name = name.into();
        let n2 = name.clone();
        let f = self.f;
        let mut names = self.names;
        names.push(name);
        Chain {
            closed: self.closed,
            names,
            f: Arc::new(move |x| g(f(x)?).map_err(|e| step_error(&n2, e.into()))),
        }
    }

    /// Appends an infallible step called `name`.
    pub fn then_map<V: 'static, F>(self, name: impl Into<String>, g: F) -> Chain<T, V, M>
    where
        F: Fn(U) -> V + Send + Sync + 'static,
    {
        let f = self.f;
        let mut names = self.names;
        names.push(name.into());
        Chain {
            closed: self.closed,
            names,
            f: Arc::new(move |x| f(x).map(&g)),
        }
    }

    /// The steps declared since the previous `workers` (or since the start) run as one
    /// stage on `n` worker threads; the steps declared after this call form another stage.
    /// Called again right after, it changes that count.
    ///
    /// The last group's count is the default of the stage [`Queue::chain`] returns, which
    /// [`Queue::workers`] overrides.
    ///
    /// # Panics
    /// If `n` is 0: a stage needs at least one worker.
    #[track_caller]
    pub fn workers(self, n: usize) -> Chain<T, U, U>
    where
        U: Send + 'static,
    {
        if n == 0 {
            panic!(
                "chain step '{}': workers(0): a stage needs at least one worker",
                self.names.last().map_or("", String::as_str)
            );
        }
        let Chain { closed, names, f } = self;
        let closed: Closed<T, U> = if names.is_empty() {
            // No step since the last group: this changes that group's count.
            Arc::new(move |q| same_queue(closed(q)).workers(n))
        } else {
            let name = names.join("+");
            Arc::new(move |q| bind_group(closed(q), &name, Arc::clone(&f)).workers(n))
        };
        Chain {
            closed,
            names: Vec::new(),
            f: Arc::new(Ok),
        }
    }

    /// Declares the chain's stages on `q`: one per group.
    pub(crate) fn bind(self, q: Queue<T>) -> Queue<U> {
        let q = (self.closed)(q);
        if self.names.is_empty() {
            // Ends with `workers`: the last group is a stage already.
            same_queue(q)
        } else {
            bind_group(q, &self.names.join("+"), self.f)
        }
    }
}

/// The stage running one group of fused steps.
fn bind_group<M: Send + 'static, U: Send + 'static>(
    q: Queue<M>,
    name: &str,
    f: Step<M, U>,
) -> Queue<U> {
    let factory: MapFactory<M, U> = Arc::new(move || {
        let f = f.clone();
        Ok(Box::new(move |x| f(x)))
    });
    let out = q.map_factory(crate::StageKind::Chain, factory);
    out.set_default_name(name);
    out
}

/// `q` as a queue of `B`, which it is: `A` and `B` are the same type wherever this is
/// called (the open group is empty, its step the identity), which the compiler cannot see
/// through the chain's type parameters.
fn same_queue<A: Send + 'static, B: Send + 'static>(q: Queue<A>) -> Queue<B> {
    assert_eq!(
        TypeId::of::<A>(),
        TypeId::of::<B>(),
        "a chain's empty group has the same input and output type"
    );
    q.recast()
}

fn step_error(step: &str, e: BoxError) -> BoxError {
    if e.to_string().starts_with("step '") {
        e
    } else {
        format!("step '{step}': {e}").into()
    }
}
