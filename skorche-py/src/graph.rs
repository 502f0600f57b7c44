//! `Graph`: a skorche `Pipeline` of Python items, declared from Python one call at a time.
//!
//! Queues, order points and markers are handed to Python as integer ids; each queue is
//! consumed by the one operation that reads it, as in the Rust API.

use std::sync::{Mutex, MutexGuard};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};
use skorche::Placement;

use crate::item::PyItem;
use crate::marker::MarkerHandle;
use crate::policy::{PolicyArgs, StageSettings};
use crate::process_stage::ProcessSettings;
use crate::source::PySource;
use crate::state::State;
use crate::task::FnSpec;

/// The capacity of a queue whose stage sets no `maxsize`: Python items are references, so
/// deeper queues cost little memory and save thread wake-ups (+60% on small items, measured
/// with skorche-py/bench/vs_tinypl.py against the core's default of 64).
const DEFAULT_CAPACITY: usize = 512;

/// A pipeline being declared from Python.
#[pyclass(module = "skorche._skorche", frozen)]
pub struct Graph {
    state: Mutex<State>,
}

type Guard<'a> = MutexGuard<'a, State>;

fn lock(g: &Graph) -> Guard<'_> {
    g.state.lock().unwrap_or_else(|e| e.into_inner())
}

#[pymethods]
impl Graph {
    #[new]
    fn new() -> Self {
        Graph {
            state: Mutex::new(State::new(DEFAULT_CAPACITY)),
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
    #[pyo3(signature = (q, kind, f, policy, workers=1, maxsize=None, name=None))]
    #[allow(clippy::too_many_arguments)]
    fn thread_stage(
        &self,
        q: usize,
        kind: &str,
        f: Option<Py<PyAny>>,
        policy: PolicyArgs,
        workers: usize,
        maxsize: Option<usize>,
        name: Option<String>,
    ) -> PyResult<usize> {
        let settings = StageSettings::new(name, workers, maxsize, &policy)?;
        let mut st = lock(self);
        crate::thread_stage::declare(&mut st, q, kind, f, settings, policy.dead_letter)
    }

    /// A process stage calling the pickled `function` (see `skorche._ops.ProcessStage`).
    #[pyo3(signature = (q, function, fname, sys_path, python_version, python, policy, workers=1, maxsize=None, name=None, raw_threshold=65536, shm_threshold=65536, ring_capacity=None, ring_wait_ms=200, restart_workers=0, poison_after=None, item_timeout=None))]
    #[allow(clippy::too_many_arguments)]
    fn process_stage(
        &self,
        q: usize,
        function: Vec<u8>,
        fname: String,
        sys_path: Vec<String>,
        python_version: (u8, u8),
        python: String,
        policy: PolicyArgs,
        workers: usize,
        maxsize: Option<usize>,
        name: Option<String>,
        raw_threshold: usize,
        shm_threshold: usize,
        ring_capacity: Option<usize>,
        ring_wait_ms: u64,
        restart_workers: u32,
        poison_after: Option<u32>,
        item_timeout: Option<f64>,
    ) -> PyResult<usize> {
        if poison_after == Some(0) {
            return Err(PyValueError::new_err(
                "poison_after=0: an item is charged only once a worker died on it",
            ));
        }
        let name = Some(name.unwrap_or_else(|| fname.clone()));
        let settings = StageSettings::new(name, workers, maxsize, &policy)?;
        let spec = FnSpec {
            function,
            name: fname.clone(),
            sys_path,
            python: python_version,
            raw_threshold,
            ring_wait_ms,
        };
        let process = ProcessSettings {
            python,
            shm_threshold,
            ring_capacity,
            restart_workers,
            poison_after,
            item_timeout,
        };
        let mut st = lock(self);
        crate::process_stage::declare(&mut st, q, spec, settings, process, policy.dead_letter)
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

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph").finish_non_exhaustive()
    }
}
