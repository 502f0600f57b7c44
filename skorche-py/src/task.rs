//! The task every Python process stage runs: call a pickled Python function on each item.

use pyo3::prelude::*;
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::item::format_traceback;

/// What a worker needs to call the stage's function, sent once at handshake as the task's
/// params.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FnSpec {
    /// The function, pickled: by reference (`module:qualname`) when it can be, else by
    /// value through cloudpickle (lambdas, closures, functions of `__main__`).
    pub function: Vec<u8>,
    /// The function's name, for messages.
    pub name: String,
    /// The driver's `sys.path`, so the worker imports modules the way the driver does.
    pub sys_path: Vec<String>,
    /// The driver's `sys.version_info[:2]`: pickles of code need the same Python.
    pub python: (u8, u8),
    /// Byte strings from this size travel raw (see [`codec`]).
    pub raw_threshold: usize,
    /// How long an output waits for ring room before it travels inline (milliseconds).
    pub ring_wait_ms: u64,
}

/// A worker's loaded function, or why it could not be loaded (reported with the first item).
pub struct CallState {
    function: Result<Py<PyAny>, String>,
    raw_threshold: usize,
}

fn load(py: Python<'_>, spec: &FnSpec) -> Result<Py<PyAny>, String> {
    let sys = py.import("sys").map_err(|e| e.to_string())?;
    let version: (u8, u8) = sys
        .getattr("version_info")
        .and_then(|v| v.get_item(0)?.extract::<u8>().map(|a| (a, v)))
        .and_then(|(major, v)| Ok((major, v.get_item(1)?.extract::<u8>()?)))
        .map_err(|e| e.to_string())?;
    if version != spec.python {
        return Err(format!(
            "the worker runs Python {}.{}, the driver Python {}.{}: a pickled function needs \
             the same version on both sides",
            version.0, version.1, spec.python.0, spec.python.1
        ));
    }
    let path = sys.getattr("path").map_err(|e| e.to_string())?;
    for (i, entry) in spec.sys_path.iter().enumerate() {
        let _ = path.call_method1("insert", (i, entry));
    }
    let loads = py
        .import("pickle")
        .and_then(|m| m.getattr("loads"))
        .map_err(|e| e.to_string())?;
    loads
        .call1((pyo3::types::PyBytes::new(py, &spec.function),))
        .map(Bound::unbind)
        .map_err(|e| {
            format!(
                "cannot load function {} in the worker process:\n{}",
                spec.name,
                format_traceback(py, &e)
            )
        })
}

fn init(spec: FnSpec) -> CallState {
    skorche::worker::codec::set_full_ring_wait(Some(std::time::Duration::from_millis(
        spec.ring_wait_ms,
    )));
    let function = crate::gil::attach(|py| load(py, &spec));
    CallState {
        function,
        raw_threshold: spec.raw_threshold,
    }
}

fn call(state: &mut CallState, input: Vec<u8>) -> Result<Vec<u8>, String> {
    let function = state.function.as_ref().map_err(Clone::clone)?;
    crate::gil::attach(|py| {
        let run = || -> PyResult<Vec<u8>> {
            // The function gets what plain pickle would give it: `bytes`, writable arrays.
            let x = codec::decode(py, input.into(), codec::Large::Copies)?;
            let y = function.call1(py, (x,))?;
            codec::encode(y.bind(py), state.raw_threshold)
        };
        run().map_err(|e| format_traceback(py, &e))
    })
}

skorche::worker::task! {
    /// Calls the stage's Python function (its [`FnSpec`] is the task's params) on an encoded
    /// item and encodes the result.
    ///
    /// Its version names the package and the codec: a worker interpreter that imports
    /// another skorche (another venv on `PATH`, an older wheel) is refused at handshake.
    pub static PY_CALL: Vec<u8> => Vec<u8> = try_stateful("skorche_py.call", init, call)
        .version(concat!(env!("CARGO_PKG_VERSION"), "+codec.1"));
}

/// `python -m skorche._worker`: serve the stage this process was started for, then exit.
#[pyfunction]
pub fn serve_worker(py: Python<'_>) -> PyResult<()> {
    if !skorche::worker::started_as_worker() {
        return Err(pyo3::exceptions::PyRuntimeError::new_err(
            "skorche._worker serves a process stage: skorche starts it, with the descriptors \
             and environment it needs; it is not run by hand",
        ));
    }
    keep_freed_memory();
    py.detach(skorche::worker::enter);
    Ok(())
}

/// Makes this worker's large allocations reuse freed memory instead of mapping fresh pages.
///
/// A worker that returns an 8 MiB array allocates it (numpy), then the encoded value
/// (ours), every item; glibc serves such sizes with `mmap` and gives them back with
/// `munmap`, so every item page-faults 4 000 fresh pages: half the worker's time (measured
/// with perf). Raising the mmap threshold to its maximum (32 MiB) and the trim threshold
/// keeps freed blocks in the heap for the next item: 8 MiB arrays went from 2.0 to 3.7 GB/s.
/// The cost: a worker keeps its peak heap until it exits.
fn keep_freed_memory() {
    // SAFETY: mallopt only sets allocator parameters; called before the worker starts its
    // threads, with valid parameter numbers and values.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}
