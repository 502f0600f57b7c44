//! The Python extension module `skorche._skorche`: skorche's engine under the `skorche`
//! Python package (see `python/skorche`), which gives it tinypl's shape.
//!
//! - [`graph::Graph`]: a pipeline of Python items, declared one stage at a time ([`state`]);
//!   [`thread_stage`] and [`process_stage`] declare the stages that call Python, under the
//!   settings and failure policies of [`policy`].
//! - [`run::Run`]: its output, read a chunk at a time with the interpreter released.
//! - [`record::Record`]: a read-only buffer over a value in a worker's shared-memory ring.
//! - [`task`]: the task process stages run, and the worker entry (`python -m skorche._worker`).
//! - [`codec`]: how Python values cross to and from worker processes.
//! - [`gil`]: one Python thread state per skorche worker thread.

mod codec;
mod exceptions;
mod gil;
mod graph;
mod item;
mod marker;
mod policy;
mod process_stage;
mod record;
mod run;
mod source;
mod state;
mod task;
mod thread_stage;

use pyo3::prelude::*;

/// Encodes a value as a process stage does (for tests and benchmarks of the codec).
#[pyfunction]
#[pyo3(signature = (value, raw_threshold=65536))]
fn encode(value: &Bound<'_, PyAny>, raw_threshold: usize) -> PyResult<Vec<u8>> {
    codec::encode(value, raw_threshold)
}

/// Decodes what [`encode`] made: large parts as read-only views of `data` (as the driver
/// reads a worker's output), or as copies (`views=False`, as a worker reads its input).
#[pyfunction]
#[pyo3(signature = (data, views=true))]
fn decode(py: Python<'_>, data: Vec<u8>, views: bool) -> PyResult<Py<PyAny>> {
    let large = if views {
        codec::Large::Views
    } else {
        codec::Large::Copies
    };
    codec::decode(py, data.into(), large)
}

#[pymodule]
fn _skorche(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<graph::Graph>()?;
    m.add_class::<run::Run>()?;
    m.add_class::<record::Record>()?;
    m.add_class::<marker::MarkerHandle>()?;
    m.add(
        "PipelineError",
        m.py().get_type::<exceptions::PipelineError>(),
    )?;
    m.add_function(wrap_pyfunction!(task::serve_worker, m)?)?;
    m.add_function(wrap_pyfunction!(encode, m)?)?;
    m.add_function(wrap_pyfunction!(decode, m)?)?;
    Ok(())
}
