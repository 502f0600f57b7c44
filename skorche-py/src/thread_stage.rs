//! A Python function on a pool of skorche worker threads: map, filter, flat_map, each.

use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use skorche::Queue;

use crate::item::{PyItem, PyTaskError};
use crate::policy::{finish_with_dead, shaped, with_policy, OnError, StageSettings};
use crate::state::State;

fn call(py: Python<'_>, f: &Py<PyAny>, x: Py<PyAny>) -> Result<Py<PyAny>, PyTaskError> {
    f.call1(py, (x,)).map_err(|e| PyTaskError::new(py, e))
}

/// Declares a thread stage of `kind` ("map", "filter", "flat_map", "each", "identity") on
/// queue `q`; returns its queue.
pub(crate) fn declare(
    st: &mut State,
    q: usize,
    kind: &str,
    f: Option<Py<PyAny>>,
    settings: StageSettings,
    dead_letter: Option<Py<PyAny>>,
) -> PyResult<usize> {
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
    finish_with_dead(st, id, dead, dead_letter, |py, item| {
        Ok(item.0.clone_ref(py))
    })
}
