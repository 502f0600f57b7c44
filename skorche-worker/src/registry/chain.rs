//! A chain of registered tasks bound as one: each item runs through every step in one
//! instance, so a process stage sends it to a worker once for the whole chain.

use std::sync::Arc;

use super::{Bound, BoundTask, DefaultScale, Outputs, TaskDef, TaskInstance, TaskKind};
use crate::protocol::TaskFailure;

/// Joins the steps' names in the name of a chain, which is how a worker is told to resolve
/// a chain ([`resolve`](super::resolve)); no registered name may contain it.
pub const CHAIN_SEPARATOR: &str = " => ";

/// Whether `name` contains [`CHAIN_SEPARATOR`] (a `const fn`: [`TaskDef::from_parts`] checks
/// its name at compile time).
pub(crate) const fn contains_separator(name: &str) -> bool {
    let (hay, needle) = (name.as_bytes(), CHAIN_SEPARATOR.as_bytes());
    let mut i = 0;
    while i + needle.len() <= hay.len() {
        let mut j = 0;
        while j < needle.len() && hay[i + j] == needle[j] {
            j += 1;
        }
        if j == needle.len() {
            return true;
        }
        i += 1;
    }
    false
}

/// The kind of a chain of steps of these kinds: how it maps one input to outputs.
pub(crate) fn chain_kind(kinds: impl IntoIterator<Item = TaskKind>) -> TaskKind {
    if kinds.into_iter().any(|k| k == TaskKind::FlatMap) {
        TaskKind::FlatMap
    } else {
        TaskKind::Map
    }
}

type MakeChain<In, Out> =
    Arc<dyn Fn() -> Result<Box<dyn TaskInstance<In, Out>>, TaskFailure> + Send + Sync>;

/// The steps of a chain, and how to build its typed instance (thread mode).
pub(super) struct TaskChain<In, Out> {
    /// The steps' names joined by [`CHAIN_SEPARATOR`].
    pub(super) name: String,
    pub(super) steps: Vec<&'static str>,
    pub(super) kind: TaskKind,
    /// Each step's encoded params, as one encoded `Vec<Vec<u8>>` (what a worker gets).
    pub(super) params: Vec<u8>,
    step_params: Vec<Vec<u8>>,
    pub(super) scale: Option<DefaultScale>,
    /// Each step's declared version, and their [`chain_version`](super::version::chain_version).
    step_versions: Vec<Option<&'static str>>,
    pub(super) version: Option<String>,
    pub(super) make: MakeChain<In, Out>,
}

/// A registered task, bound or not: what `map_task` and [`BoundTask::then`] accept.
pub trait IntoTask<T: 'static, U: 'static> {
    /// The task with its params.
    fn into_task(self) -> BoundTask<T, U>;
}

impl<T: 'static, U: 'static> IntoTask<T, U> for BoundTask<T, U> {
    fn into_task(self) -> BoundTask<T, U> {
        self
    }
}

impl<T: 'static, U: 'static> IntoTask<T, U> for &'static TaskDef<T, U> {
    fn into_task(self) -> BoundTask<T, U> {
        self.bind()
    }
}

impl<In: 'static, Out: 'static> TaskDef<In, Out> {
    /// This task (without params), then `next` on each of its outputs: see
    /// [`BoundTask::then`].
    pub fn then<V: 'static>(&'static self, next: impl IntoTask<Out, V>) -> BoundTask<In, V> {
        self.bind().then(next)
    }
}

impl<In: 'static, Out: 'static> BoundTask<In, Out> {
    /// This task, then `next` on each of its outputs, as one task: one stage, and in process
    /// mode one trip to a worker per item for the whole chain, where the worker runs every
    /// step (the values between steps never leave the worker, nor are encoded). The
    /// compiler checks that `next` takes this task's output type; a worker checks it again
    /// when it resolves the chain by name.
    ///
    /// The chain maps one input to several outputs if any step does; an error or panic
    /// names the step. Each step keeps its own params.
    ///
    /// ```
    /// use skorche_worker::registry::Outputs;
    ///
    /// fn double(x: u64) -> u64 { x * 2 }
    /// fn show(x: u64) -> String { format!("<{x}>") }
    /// skorche_worker::task! {
    ///     static DOUBLE: u64 => u64 = map("doc_chain_double", double);
    ///     static SHOW: u64 => String = map("doc_chain_show", show);
    /// }
    /// let both = DOUBLE.then(&SHOW);
    /// assert_eq!(both.name(), "doc_chain_double => doc_chain_show");
    /// assert!(matches!(both.instantiate()?.call(21)?, Outputs::One(s) if s == "<42>"));
    /// # Ok::<(), skorche_worker::protocol::TaskFailure>(())
    /// ```
    pub fn then<V: 'static>(self, next: impl IntoTask<Out, V>) -> BoundTask<In, V> {
        let next = next.into_task();
        let steps: Vec<&'static str> = self.steps().into_iter().chain(next.steps()).collect();
        let step_params: Vec<Vec<u8>> = self
            .step_params()
            .into_iter()
            .chain(next.step_params())
            .collect();
        let params =
            crate::codec::encode(&step_params).expect("a list of byte strings always encodes");
        let step_versions: Vec<_> = self
            .step_versions()
            .into_iter()
            .chain(next.step_versions())
            .collect();
        let version = super::version::chain_version(step_versions.iter().copied());
        let kind = chain_kind([self.kind(), next.kind()]);
        let scale = self.default_scale().or(next.default_scale());
        // A step that is a chain itself names its own steps in its failures.
        let names = (leaf(&self.steps()), leaf(&next.steps()));
        let (first, second) = (self, next);
        let make: MakeChain<In, V> = Arc::new(move || {
            Ok(Box::new(ChainInstance {
                first: first.instantiate().map_err(|f| in_step(names.0, f))?,
                second: second.instantiate().map_err(|f| in_step(names.1, f))?,
                names,
            }))
        });
        BoundTask {
            bound: Bound::Chain(Arc::new(TaskChain {
                name: steps.join(CHAIN_SEPARATOR),
                steps,
                kind,
                params,
                step_params,
                scale,
                step_versions,
                version,
                make,
            })),
        }
    }

    /// Each step's declared version.
    fn step_versions(&self) -> Vec<Option<&'static str>> {
        match &self.bound {
            Bound::One { def, .. } => vec![def.version()],
            Bound::Chain(c) => c.step_versions.clone(),
        }
    }

    /// Each step's own encoded params.
    fn step_params(&self) -> Vec<Vec<u8>> {
        match &self.bound {
            Bound::One { params, .. } => vec![params.to_vec()],
            Bound::Chain(c) => c.step_params.clone(),
        }
    }
}

/// Two instances in sequence; a longer chain nests them.
struct ChainInstance<In, Mid, Out> {
    first: Box<dyn TaskInstance<In, Mid>>,
    second: Box<dyn TaskInstance<Mid, Out>>,
    /// The step names to put in failures (`None` for a step that is a chain itself).
    names: (Option<&'static str>, Option<&'static str>),
}

impl<In, Mid, Out> TaskInstance<In, Out> for ChainInstance<In, Mid, Out> {
    fn call(&mut self, input: In) -> Result<Outputs<Out>, TaskFailure> {
        let (a, b) = self.names;
        match self.first.call(input).map_err(|f| in_step(a, f))? {
            Outputs::One(mid) => self.second.call(mid).map_err(|f| in_step(b, f)),
            Outputs::Many(mids) => {
                let mut outs = Vec::new();
                for mid in mids {
                    let more = self.second.call(mid).map_err(|f| in_step(b, f))?;
                    more.for_each(|o| outs.push(o));
                }
                Ok(Outputs::Many(outs))
            }
        }
    }
}

/// The name of a task of these steps, if it is one task (not a chain itself).
fn leaf(steps: &[&'static str]) -> Option<&'static str> {
    match steps {
        [one] => Some(one),
        _ => None,
    }
}

/// `failure`, saying which step of a chain it happened in.
pub(crate) fn in_step(step: Option<&str>, failure: TaskFailure) -> TaskFailure {
    match step {
        Some(step) => TaskFailure::new(failure.kind, format!("step '{step}': {}", failure.message)),
        None => failure,
    }
}
