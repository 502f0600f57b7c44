//! The settings Python stages carry and the failure policies they turn into.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use skorche::{Queue, ShmBytes};

use crate::item::PyItem;
use crate::state::State;

/// What a stage does with an item whose task failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnError {
    Fail,
    Skip,
    DeadLetter,
}

impl OnError {
    pub(crate) fn parse(s: &str, dead_letter: &Option<Py<PyAny>>) -> PyResult<Self> {
        if dead_letter.is_some() {
            return Ok(OnError::DeadLetter);
        }
        match s {
            "fail" => Ok(OnError::Fail),
            "skip" => Ok(OnError::Skip),
            other => Err(PyValueError::new_err(format!(
                "on_error={other:?}: expected \"fail\" or \"skip\" (or pass dead_letter=callback)"
            ))),
        }
    }
}

/// The failure policy of a stage, as `skorche._ops.Policy.args()` gives it (a dict).
#[derive(Debug, FromPyObject)]
pub(crate) struct PolicyArgs {
    #[pyo3(item)]
    retries: u32,
    #[pyo3(item)]
    on_error: String,
    #[pyo3(item)]
    pub(crate) dead_letter: Option<Py<PyAny>>,
    #[pyo3(item)]
    max_failures: Option<u64>,
    #[pyo3(item)]
    backoff: Option<(f64, f64, bool)>,
}

/// The settings every stage Python declares may carry.
#[derive(Clone, Debug)]
pub(crate) struct StageSettings {
    pub(crate) name: Option<String>,
    pub(crate) workers: usize,
    pub(crate) maxsize: Option<usize>,
    pub(crate) retries: u32,
    pub(crate) on_error: OnError,
    /// Fail the run once more than this many items failed for good.
    pub(crate) max_failures: Option<u64>,
    /// Between retries: `(initial, cap, exponential)` seconds.
    pub(crate) backoff: Option<(f64, f64, bool)>,
}

impl StageSettings {
    /// A stage's settings, checked.
    pub(crate) fn new(
        name: Option<String>,
        workers: usize,
        maxsize: Option<usize>,
        policy: &PolicyArgs,
    ) -> PyResult<Self> {
        check_workers(workers)?;
        Ok(StageSettings {
            name,
            workers,
            maxsize,
            retries: policy.retries,
            on_error: OnError::parse(&policy.on_error, &policy.dead_letter)?,
            max_failures: policy.max_failures,
            backoff: policy.backoff,
        })
    }
}

/// Applies `settings` to the input queue (failure policy) before the stage is declared.
pub(crate) fn with_policy<T: Clone + Send + 'static>(q: Queue<T>, s: &StageSettings) -> Queue<T> {
    // Python counts retries; skorche counts attempts (the first one included).
    let q = if s.retries > 0 {
        q.retry(s.retries.saturating_add(1))
    } else {
        q
    };
    let q = match s.backoff {
        Some((initial, cap, exponential)) => {
            let secs = |x: f64| std::time::Duration::from_secs_f64(x.max(0.0));
            q.backoff(if exponential {
                skorche::Backoff::exponential(secs(initial), secs(cap))
            } else {
                skorche::Backoff::fixed(secs(initial))
            })
        }
        None => q,
    };
    let q = match s.max_failures {
        Some(n) => q.max_failures(n),
        None => q,
    };
    match s.on_error {
        OnError::Skip => q.skip_failures(),
        _ => q,
    }
}

/// Applies `settings` to a declared stage's output queue.
pub(crate) fn shaped<K>(q: Queue<PyItem, K>, s: &StageSettings) -> Queue<PyItem, K>
where
    Queue<PyItem, K>: Scale,
{
    let q = q.scale(s.workers);
    let q = match s.maxsize {
        Some(n) => q.capacity_of(n),
        None => q,
    };
    match &s.name {
        Some(name) => q.named(name.clone()),
        None => q,
    }
}

/// The settings shared by thread and task stages, as one trait to write `shaped` once.
pub(crate) trait Scale: Sized {
    fn scale(self, n: usize) -> Self;
    fn capacity_of(self, n: usize) -> Self;
    fn named(self, name: String) -> Self;
}

impl Scale for Queue<PyItem> {
    fn scale(self, n: usize) -> Self {
        self.workers(n)
    }
    fn capacity_of(self, n: usize) -> Self {
        self.capacity(n)
    }
    fn named(self, name: String) -> Self {
        self.name(name)
    }
}

impl Scale for Queue<ShmBytes, skorche::TaskStage> {
    fn scale(self, n: usize) -> Self {
        self.processes(n)
    }
    fn capacity_of(self, n: usize) -> Self {
        self.capacity(n)
    }
    fn named(self, name: String) -> Self {
        self.name(name)
    }
}

pub(crate) fn failed_to_py(
    py: Python<'_>,
    item: Py<PyAny>,
    error: &skorche::StageFailure,
    attempts: u32,
) -> PyResult<Py<PyAny>> {
    let failed = py.import("skorche._failed")?.getattr("Failed")?;
    Ok(failed
        .call1((item, error.stage.clone(), error.message.clone(), attempts))?
        .unbind())
}

pub(crate) fn check_workers(workers: usize) -> PyResult<()> {
    if workers == 0 {
        return Err(PyValueError::new_err(
            "workers=0: a stage needs at least one worker",
        ));
    }
    Ok(())
}

pub(crate) fn shaped_task(
    q: Queue<ShmBytes, skorche::TaskStage>,
    s: &StageSettings,
) -> Queue<ShmBytes, skorche::TaskStage> {
    let q = q.scale(s.workers);
    match &s.name {
        Some(name) => q.named(name.clone()),
        None => q,
    }
}

/// Returns the stage's queue id; with a dead-letter queue, each failed item is given to
/// `callback` as a `skorche.Failed` and the stage's output is merged with nothing from it.
pub(crate) fn finish_with_dead<T: Send + 'static>(
    st: &mut State,
    id: usize,
    dead: Option<Queue<skorche::Failed<T>>>,
    callback: Option<Py<PyAny>>,
    item: impl Fn(Python<'_>, &T) -> PyResult<Py<PyAny>> + Send + Sync + 'static,
) -> PyResult<usize> {
    let (Some(dead), Some(callback)) = (dead, callback) else {
        return Ok(id);
    };
    let letters = dead
        .flat_map(move |f: skorche::Failed<T>| {
            crate::gil::attach(|py| {
                let delivered = item(py, &f.item)
                    .and_then(|x| failed_to_py(py, x, &f.error, f.attempts))
                    .and_then(|failed| callback.call1(py, (failed,)));
                if let Err(e) = delivered {
                    // The dead-letter callback has nowhere to fail to: Python prints it as
                    // an unraisable error, as it does for errors in __del__ and callbacks.
                    e.write_unraisable(py, None);
                }
            });
            None::<PyItem>
        })
        .name("dead_letter");
    let main = st.take(id)?;
    let merged = st.pipeline()?.merge([main, letters]);
    Ok(st.put(merged))
}
