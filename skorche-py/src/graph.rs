//! `Graph`: a skorche `Pipeline` of Python items, declared from Python one call at a time.
//!
//! Queues, order points and markers are handed to Python as integer ids; each queue is
//! consumed by the one operation that reads it, as in the Rust API.

use std::sync::{Arc, Mutex, MutexGuard};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};
use skorche::{OrderPoint, Pipeline, Placement, Queue, ShmBytes};

use crate::marker::MarkerHandle;

use crate::item::{PyItem, PyTaskError};
use crate::source::PySource;
use crate::task::{FnSpec, PY_CALL};

/// The capacity of a queue whose stage sets no `maxsize`.
const DEFAULT_CAPACITY: usize = 512;

/// What a stage does with an item whose task failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OnError {
    Fail,
    Skip,
    DeadLetter,
}

impl OnError {
    fn parse(s: &str, dead_letter: &Option<Py<PyAny>>) -> PyResult<Self> {
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

/// The settings every stage Python declares may carry.
#[derive(Clone, Debug)]
struct StageSettings {
    name: Option<String>,
    workers: usize,
    maxsize: Option<usize>,
    retries: u32,
    on_error: OnError,
    /// Fail the run once more than this many items failed for good.
    max_failures: Option<u64>,
    /// Between retries: `(initial, cap, exponential)` seconds.
    backoff: Option<(f64, f64, bool)>,
}

struct State {
    pipeline: Option<Pipeline>,
    queues: Vec<Option<Queue<PyItem>>>,
    orders: Vec<Option<OrderPoint>>,
    /// Stage names given so far: skorche wants them unique, Python code has many `<lambda>`.
    names: std::collections::HashSet<String>,
}

/// A pipeline being declared from Python.
#[pyclass(module = "skorche._skorche", frozen)]
pub struct Graph {
    state: Mutex<State>,
}

type Guard<'a> = MutexGuard<'a, State>;

fn lock(g: &Graph) -> Guard<'_> {
    g.state.lock().unwrap_or_else(|e| e.into_inner())
}

fn call(py: Python<'_>, f: &Py<PyAny>, x: Py<PyAny>) -> Result<Py<PyAny>, PyTaskError> {
    f.call1(py, (x,)).map_err(|e| PyTaskError::new(py, e))
}

impl State {
    fn pipeline(&self) -> PyResult<&Pipeline> {
        self.pipeline
            .as_ref()
            .ok_or_else(|| PyRuntimeError::new_err("this pipeline has already been run"))
    }

    fn take(&mut self, q: usize) -> PyResult<Queue<PyItem>> {
        self.pipeline()?;
        self.queues
            .get_mut(q)
            .and_then(Option::take)
            .ok_or_else(|| {
                PyRuntimeError::new_err(format!(
                    "queue {q} is already read by another stage: a stage's output goes to one \
                     consumer (use tee for several)"
                ))
            })
    }

    /// `name`, or `name#2`, `name#3`... if a stage already has it.
    fn unique(&mut self, name: Option<String>) -> Option<String> {
        let name = name?;
        let mut candidate = name.clone();
        let mut n = 1;
        while !self.names.insert(candidate.clone()) {
            n += 1;
            candidate = format!("{name}#{n}");
        }
        Some(candidate)
    }

    fn put(&mut self, q: Queue<PyItem>) -> usize {
        self.queues.push(Some(q));
        self.queues.len() - 1
    }
}

/// Applies `settings` to the input queue (failure policy) before the stage is declared.
fn with_policy<T: Clone + Send + 'static>(q: Queue<T>, s: &StageSettings) -> Queue<T> {
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
fn shaped<K>(q: Queue<PyItem, K>, s: &StageSettings) -> Queue<PyItem, K>
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
trait Scale: Sized {
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

fn failed_to_py(
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

#[pymethods]
impl Graph {
    #[new]
    fn new() -> Self {
        Graph {
            state: Mutex::new(State {
                pipeline: Some({
                    let p = Pipeline::new();
                    // Python items are references: deeper queues cost little memory and
                    // save thread wake-ups (measured: +10-25% on small items).
                    p.default_capacity(DEFAULT_CAPACITY);
                    p
                }),
                queues: Vec::new(),
                orders: Vec::new(),
                names: Default::default(),
            }),
        }
    }

    /// A source over any Python iterable; its errors fail the run, naming the index.
    #[pyo3(signature = (iterable, name=None, maxsize=None))]
    fn source(
        &self,
        iterable: &Bound<'_, PyAny>,
        name: Option<String>,
        maxsize: Option<usize>,
    ) -> PyResult<usize> {
        let it = PySource::new(iterable)?;
        let mut st = lock(self);
        let name = st.unique(name);
        let q = st.pipeline()?.try_source(it);
        let q = match name {
            Some(n) => q.name(n),
            None => q,
        };
        let q = match maxsize {
            Some(n) => q.capacity(n),
            None => q,
        };
        Ok(st.put(q))
    }

    /// `kind`: "map", "filter", "flat_map", "each" or "identity" (a prefetching queue).
    #[pyo3(signature = (q, kind, f, workers=1, maxsize=None, name=None, retries=0, on_error="fail", dead_letter=None, max_failures=None, backoff=None))]
    #[allow(clippy::too_many_arguments)]
    fn thread_stage(
        &self,
        q: usize,
        kind: &str,
        f: Option<Py<PyAny>>,
        workers: usize,
        maxsize: Option<usize>,
        name: Option<String>,
        retries: u32,
        on_error: &str,
        dead_letter: Option<Py<PyAny>>,
        max_failures: Option<u64>,
        backoff: Option<(f64, f64, bool)>,
    ) -> PyResult<usize> {
        check_workers(workers)?;
        let settings = StageSettings {
            name,
            workers,
            maxsize,
            retries,
            on_error: OnError::parse(on_error, &dead_letter)?,
            max_failures,
            backoff,
        };
        let mut st = lock(self);
        let mut settings = settings;
        settings.name = st.unique(settings.name.take());
        let input = with_policy(st.take(q)?, &settings);
        let f = Arc::new(f);
        let need = || -> PyResult<Arc<Option<Py<PyAny>>>> {
            if f.is_none() {
                return Err(PyValueError::new_err(format!(
                    "a {kind} stage needs a function"
                )));
            }
            Ok(f.clone())
        };
        let mut dead = None;
        let mut input = Some(input);
        let mut letters = |input: Queue<PyItem>| -> Queue<PyItem> {
            if settings.on_error == OnError::DeadLetter {
                let (q, d) = input.dead_letter();
                dead = Some(d);
                q
            } else {
                input
            }
        };
        let input = letters(input.take().expect("taken once"));
        let out: Queue<PyItem> = match kind {
            "map" => {
                let f = need()?;
                input.try_map(move |x: PyItem| {
                    let f = f.as_ref().as_ref().expect("checked");
                    crate::gil::attach(|py| call(py, f, x.0).map(PyItem))
                })
            }
            "each" => {
                let f = need()?;
                input.try_map(move |x: PyItem| {
                    let f = f.as_ref().as_ref().expect("checked");
                    crate::gil::attach(|py| {
                        call(py, f, x.0.clone_ref(py))?;
                        Ok::<_, PyTaskError>(x)
                    })
                })
            }
            "filter" => {
                let f = need()?;
                input.try_flat_map(move |x: PyItem| {
                    let f = f.as_ref().as_ref().expect("checked");
                    crate::gil::attach(|py| {
                        let keep = call(py, f, x.0.clone_ref(py))?
                            .is_truthy(py)
                            .map_err(|e| PyTaskError::new(py, e))?;
                        Ok::<_, PyTaskError>(keep.then_some(x))
                    })
                })
            }
            "flat_map" => {
                let f = f.clone();
                input.try_flat_map(move |x: PyItem| {
                    crate::gil::attach(|py| {
                        let iterable = match f.as_ref() {
                            Some(f) => call(py, f, x.0)?,
                            None => x.0,
                        };
                        let collect = || -> PyResult<Vec<PyItem>> {
                            iterable
                                .bind(py)
                                .try_iter()?
                                .map(|y| y.map(|y| PyItem(y.unbind())))
                                .collect()
                        };
                        collect().map_err(|e| PyTaskError::new(py, e))
                    })
                })
            }
            "identity" => input.map(|x: PyItem| x),
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown thread stage kind {other:?}"
                )))
            }
        };
        let out = shaped(out, &settings);
        let id = st.put(out);
        finish_with_dead(&mut st, id, dead, dead_letter, |py, item| {
            Ok(item.0.clone_ref(py))
        })
    }

    /// A process stage: `spec` is a pickled [`FnSpec`]'s fields, built by `skorche.process`.
    #[pyo3(signature = (q, function, fname, sys_path, python_version, python, workers=1, maxsize=None, name=None, retries=0, on_error="fail", dead_letter=None, raw_threshold=65536, shm_threshold=65536, ring_capacity=None, ring_wait_ms=200, restart_workers=0, max_failures=None, backoff=None, poison_after=None, item_timeout=None))]
    #[allow(clippy::too_many_arguments)]
    fn process_stage(
        &self,
        q: usize,
        function: Vec<u8>,
        fname: String,
        sys_path: Vec<String>,
        python_version: (u8, u8),
        python: String,
        workers: usize,
        maxsize: Option<usize>,
        name: Option<String>,
        retries: u32,
        on_error: &str,
        dead_letter: Option<Py<PyAny>>,
        raw_threshold: usize,
        shm_threshold: usize,
        ring_capacity: Option<usize>,
        ring_wait_ms: u64,
        restart_workers: u32,
        max_failures: Option<u64>,
        backoff: Option<(f64, f64, bool)>,
        poison_after: Option<u32>,
        item_timeout: Option<f64>,
    ) -> PyResult<usize> {
        check_workers(workers)?;
        if poison_after == Some(0) {
            return Err(PyValueError::new_err(
                "poison_after=0: an item is charged only once a worker died on it",
            ));
        }
        let settings = StageSettings {
            name: Some(name.unwrap_or_else(|| fname.clone())),
            workers,
            maxsize,
            retries,
            on_error: OnError::parse(on_error, &dead_letter)?,
            max_failures,
            backoff,
        };
        let spec = FnSpec {
            function,
            name: fname.clone(),
            sys_path,
            python: python_version,
            raw_threshold,
            ring_wait_ms,
        };
        let mut st = lock(self);
        let mut settings = settings;
        settings.name = st.unique(settings.name.take());
        let input = st.take(q)?;
        let stage_name = settings.name.clone().unwrap_or_default();
        let encoded = input
            .try_map(move |x: PyItem| {
                crate::gil::attach(|py| {
                    crate::codec::encode(x.0.bind(py), raw_threshold)
                        .map_err(|e| PyTaskError::new(py, e))
                })
            })
            .name(format!("{stage_name}.encode"));
        let encoded = with_policy(encoded, &settings);
        let mut dead = None;
        let encoded = if settings.on_error == OnError::DeadLetter {
            let (q, d) = encoded.dead_letter();
            dead = Some(d);
            q
        } else {
            encoded
        };
        let transport = skorche::worker::transport::local::LocalTransport::new(python)
            .with_args(["-m", "skorche._worker"]);
        let mut stage: Queue<ShmBytes, skorche::TaskStage> = encoded
            .map_task_as(PY_CALL.bind_with(&spec))
            .transport(Arc::new(transport))
            .shm_threshold(shm_threshold);
        if let Some(n) = ring_capacity {
            stage = stage.ring_capacity(n);
        }
        if restart_workers > 0 {
            stage = stage.restart_workers(restart_workers as usize);
            if let Some(k) = poison_after {
                stage = stage.poison_after(k);
            }
        }
        if let Some(limit) = item_timeout {
            stage = stage.item_timeout(std::time::Duration::from_secs_f64(limit.max(0.001)));
        }
        let stage = shaped_task(stage, &settings);
        let decoded = stage
            .try_map(|bytes: ShmBytes| {
                crate::gil::attach(|py| {
                    crate::codec::decode(py, bytes)
                        .map(PyItem)
                        .map_err(|e| PyTaskError::new(py, e))
                })
            })
            .name(format!(
                "{}.decode",
                settings.name.clone().unwrap_or_default()
            ));
        let decoded = match maxsize {
            Some(n) => decoded.capacity(n),
            None => decoded,
        };
        let id = st.put(decoded);
        finish_with_dead(&mut st, id, dead, dead_letter, |py, bytes: &Vec<u8>| {
            crate::codec::decode(py, ShmBytes::from(bytes.clone()))
        })
    }

    /// Lists of `n` items (the last one shorter).
    fn batch(&self, q: usize, n: usize) -> PyResult<usize> {
        if n == 0 {
            return Err(PyValueError::new_err(
                "batch size 0: a batch holds at least one item",
            ));
        }
        let mut st = lock(self);
        let input = st.take(q)?;
        let out = input.batch(n).map(|items: Vec<PyItem>| {
            crate::gil::attach(|py| {
                let list = PyList::new(py, items.into_iter().map(|x| x.0))
                    .expect("a list of objects always builds");
                PyItem(list.into_any().unbind())
            })
        });
        Ok(st.put(out))
    }

    /// Saves the order: returns `(queue, order)`.
    fn order_save(&self, q: usize, maxsize: usize) -> PyResult<(usize, usize)> {
        if maxsize == 0 {
            return Err(PyValueError::new_err(
                "order.save maxsize 0: at least one item must pass",
            ));
        }
        let mut st = lock(self);
        let (out, point) = st.take(q)?.order_save(maxsize);
        st.orders.push(Some(point));
        let order = st.orders.len() - 1;
        Ok((st.put(out), order))
    }

    /// Restores the order saved by `order`.
    fn order_load(&self, q: usize, order: usize) -> PyResult<usize> {
        let mut st = lock(self);
        let point = st
            .orders
            .get_mut(order)
            .and_then(Option::take)
            .ok_or_else(|| PyRuntimeError::new_err("this order point was already loaded"))?;
        let out = st.take(q)?.order_load(point);
        Ok(st.put(out))
    }

    /// A marker every `n` items; returns `(queue, marker)`.
    fn insert_periodic(&self, q: usize, n: u64, after: bool) -> PyResult<(usize, MarkerHandle)> {
        if n == 0 {
            return Err(PyValueError::new_err(
                "insert_periodic n=0: at most one marker per item",
            ));
        }
        let mut st = lock(self);
        let placement = if after {
            Placement::After
        } else {
            Placement::Before
        };
        let (out, marker) = st.take(q)?.insert_periodic(n, placement);
        Ok((st.put(out), MarkerHandle(marker)))
    }

    /// Calls `callback()` each time `marker` passes this point.
    fn on_marker(
        &self,
        q: usize,
        marker: PyRef<'_, MarkerHandle>,
        callback: Py<PyAny>,
    ) -> PyResult<usize> {
        let mut st = lock(self);
        let m = marker.0;
        let out = st.take(q)?.on(m, move |_| {
            crate::gil::attach(|py| {
                if let Err(e) = callback.call0(py) {
                    // A marker callback has no item to fail; it is reported like Python
                    // reports errors in callbacks it cannot raise from.
                    e.write_unraisable(py, None);
                }
            })
        });
        Ok(st.put(out))
    }

    /// Items where `pred` is true, then the others.
    fn split(&self, q: usize, pred: Py<PyAny>) -> PyResult<(usize, usize)> {
        let mut st = lock(self);
        let (yes, no) = st.take(q)?.split(move |x: &PyItem| {
            crate::gil::attach(|py| {
                // A failing predicate sends the item to the second branch; the error is
                // printed, as split has no failure path of its own.
                pred.call1(py, (x.0.clone_ref(py),))
                    .and_then(|r| r.is_truthy(py))
                    .unwrap_or_else(|e| {
                        e.write_unraisable(py, None);
                        false
                    })
            })
        });
        Ok((st.put(yes), st.put(no)))
    }

    /// Every item of each queue, as they come.
    fn merge(&self, qs: Vec<usize>) -> PyResult<usize> {
        let mut st = lock(self);
        let mut inputs = Vec::with_capacity(qs.len());
        for q in qs {
            inputs.push(st.take(q)?);
        }
        let out = st.pipeline()?.merge(inputs);
        Ok(st.put(out))
    }

    /// Pairs `(a, b)`, one item of each queue.
    fn zip(&self, a: usize, b: usize) -> PyResult<usize> {
        let mut st = lock(self);
        let (qa, qb) = (st.take(a)?, st.take(b)?);
        let out = st.pipeline()?.zip(qa, qb).map(|(x, y): (PyItem, PyItem)| {
            crate::gil::attach(|py| {
                PyItem(
                    PyTuple::new(py, [x.0, y.0])
                        .expect("a pair always builds")
                        .into_any()
                        .unbind(),
                )
            })
        });
        Ok(st.put(out))
    }

    /// `n` copies of the stream.
    fn tee(&self, q: usize, n: usize) -> PyResult<Vec<usize>> {
        if n == 0 {
            return Err(PyValueError::new_err("tee(0): at least one branch"));
        }
        let mut st = lock(self);
        let outs = st.take(q)?.tee(n);
        Ok(outs.into_iter().map(|q| st.put(q)).collect())
    }

    /// The graph as Graphviz DOT.
    fn to_dot(&self) -> PyResult<String> {
        Ok(lock(self).pipeline()?.to_dot())
    }

    /// The graph as Mermaid.
    fn to_mermaid(&self) -> PyResult<String> {
        Ok(lock(self).pipeline()?.to_mermaid())
    }

    /// Starts the pipeline with `q` as its output.
    fn run(&self, py: Python<'_>, q: usize) -> PyResult<crate::run::Run> {
        let (pipeline, queue) = {
            let mut st = lock(self);
            let queue = st.take(q)?;
            let pipeline = st.pipeline.take().expect("checked by take");
            st.queues.clear();
            (pipeline, queue)
        };
        let started = py.detach(move || pipeline.run_iter(queue));
        match started {
            Ok(out) => Ok(crate::run::Run::new(out)),
            Err(e) => Err(crate::run::to_py_error(py, &e)),
        }
    }
}

fn check_workers(workers: usize) -> PyResult<()> {
    if workers == 0 {
        return Err(PyValueError::new_err(
            "workers=0: a stage needs at least one worker",
        ));
    }
    Ok(())
}

fn shaped_task(
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
fn finish_with_dead<T: Send + 'static>(
    st: &mut Guard<'_>,
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

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph").finish_non_exhaustive()
    }
}
