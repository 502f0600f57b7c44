//! A Python object travelling through a skorche pipeline, and a Python error as a task error.

use pyo3::prelude::*;
use pyo3::types::PyList;

/// A Python object as a skorche item. Cloning (for `tee`) attaches to the interpreter;
/// dropping without it defers the reference count to PyO3's pool.
#[derive(Debug)]
pub struct PyItem(pub Py<PyAny>);

impl Clone for PyItem {
    fn clone(&self) -> Self {
        crate::gil::attach(|py| PyItem(self.0.clone_ref(py)))
    }
}

/// A Python exception raised by a task, with its traceback formatted where it was raised.
#[derive(Debug)]
pub struct PyTaskError {
    /// `traceback.format_exception` of the error, joined.
    pub traceback: String,
    /// The exception itself, re-raised as the cause of the pipeline's error.
    pub error: PyErr,
}

impl std::fmt::Display for PyTaskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.traceback.trim_end())
    }
}

impl std::error::Error for PyTaskError {}

impl PyTaskError {
    /// Wraps `error`, formatting its traceback now (while attached).
    pub fn new(py: Python<'_>, error: PyErr) -> Self {
        PyTaskError {
            traceback: format_traceback(py, &error),
            error,
        }
    }
}

/// The traceback of `error` as Python prints it; its type and message if formatting fails.
pub fn format_traceback(py: Python<'_>, error: &PyErr) -> String {
    let formatted = py
        .import("traceback")
        .and_then(|tb| {
            tb.call_method1(
                "format_exception",
                (error.get_type(py), error.value(py), error.traceback(py)),
            )
        })
        .and_then(|lines| lines.cast_into::<PyList>().map_err(PyErr::from))
        .map(|lines| {
            lines
                .iter()
                .filter_map(|l| l.extract::<String>().ok())
                .collect::<String>()
        });
    formatted.unwrap_or_else(|_| error.to_string())
}
