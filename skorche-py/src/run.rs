//! `Run`: the output of a running pipeline, read from Python a chunk at a time.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use skorche::{Event, Output, PipelineError, Polled};

use crate::item::{PyItem, PyTaskError};

/// Events handed to Python per release of the interpreter, at most.
const CHUNK: usize = 256;
/// How long a read waits before checking for Ctrl-C.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// Where a run's stream stands.
enum End {
    Open,
    Done,
    Failed(PipelineError),
}

struct Reader {
    out: Option<Output<PyItem>>,
    ready: VecDeque<Event<PyItem>>,
    end: End,
    report: Option<skorche::Report>,
}

/// A running pipeline's output.
#[pyclass(module = "skorche._skorche", frozen, weakref)]
pub struct Run {
    reader: Mutex<Reader>,
}

impl Run {
    pub fn new(out: Output<PyItem>) -> Self {
        Run {
            reader: Mutex::new(Reader {
                out: Some(out),
                ready: VecDeque::new(),
                end: End::Open,
                report: None,
            }),
        }
    }
}

/// Reads what is ready: waits up to [`SIGNAL_POLL`] for the first event, then takes what
/// came without waiting, up to [`CHUNK`].
fn drain(out: &mut Output<PyItem>, ready: &mut VecDeque<Event<PyItem>>) -> End {
    let mut wait = SIGNAL_POLL;
    while ready.len() < CHUNK {
        match out.next_event_within(wait) {
            Polled::Pending => return End::Open,
            Polled::Ready(Some(Ok(event))) => ready.push_back(event),
            Polled::Ready(Some(Err(e))) => return End::Failed(e),
            Polled::Ready(None) => return End::Done,
        }
        wait = Duration::ZERO;
    }
    End::Open
}

/// The Python exception for a failed run: `skorche.PipelineError`, whose `__cause__` is the
/// first Python exception a task raised (on threads; a process stage's error is its text).
pub fn to_py_error(py: Python<'_>, e: &PipelineError) -> PyErr {
    if let PipelineError::Interrupted(_) = e {
        return pyo3::exceptions::PyKeyboardInterrupt::new_err(e.to_string());
    }
    let err = crate::exceptions::PipelineError::new_err(e.to_string());
    let failures: Vec<Bound<'_, PyDict>> = e
        .failures()
        .iter()
        .filter_map(|f| {
            let d = PyDict::new(py);
            d.set_item("stage", &f.stage).ok()?;
            d.set_item("item", f.seq).ok()?;
            d.set_item("kind", f.kind.to_string()).ok()?;
            d.set_item("message", &f.message).ok()?;
            Some(d)
        })
        .collect();
    let _ = err.value(py).setattr("failures", failures);
    let cause = e
        .failures()
        .iter()
        .find_map(|f| std::error::Error::source(f).and_then(|s| s.downcast_ref::<PyTaskError>()));
    if let Some(cause) = cause {
        err.set_cause(py, Some(cause.error.clone_ref(py)));
    }
    err
}

/// Locks the reader without holding the interpreter while waiting: the thread holding the
/// lock may be waiting for a stage that needs the interpreter (a run read from two threads,
/// or used as the source of another run).
fn lock_released<'a>(
    py: Python<'_>,
    reader: &'a Mutex<Reader>,
) -> std::sync::MutexGuard<'a, Reader> {
    loop {
        match reader.try_lock() {
            Ok(guard) => return guard,
            Err(std::sync::TryLockError::Poisoned(e)) => return e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                py.detach(|| std::thread::sleep(Duration::from_micros(50)))
            }
        }
    }
}

impl Run {
    /// The next event, waiting for it with the interpreter released; `None` at the end.
    fn next_event(&self, py: Python<'_>) -> PyResult<Option<Event<PyItem>>> {
        loop {
            {
                let mut guard = lock_released(py, &self.reader);
                let reader = &mut *guard;
                if let Some(event) = reader.ready.pop_front() {
                    return Ok(Some(event));
                }
                match std::mem::replace(&mut reader.end, End::Done) {
                    End::Done => {
                        if let Some(out) = reader.out.take() {
                            reader.report = out.report().cloned();
                        }
                        return Ok(None);
                    }
                    End::Failed(e) => {
                        reader.out = None;
                        return Err(to_py_error(py, &e));
                    }
                    End::Open => {}
                }
                let Some(out) = reader.out.as_mut() else {
                    return Ok(None);
                };
                let ready = &mut reader.ready;
                reader.end = py.detach(|| drain(out, ready));
                if !reader.ready.is_empty() || !matches!(reader.end, End::Open) {
                    continue;
                }
            }
            // Nothing yet: let Python run its signal handlers, without holding the reader
            // (skorche's SIGINT handler closes every live run, this one included).
            if let Err(interrupt) = py.check_signals() {
                self.close(py);
                return Err(interrupt);
            }
        }
    }
}

#[pymethods]
impl Run {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        loop {
            match self.next_event(py)? {
                Some(Event::Item(x)) => return Ok(Some(x.0)),
                Some(Event::Marker(_)) => continue,
                None => return Ok(None),
            }
        }
    }

    /// The next item, or `None` when `marker` (a Marker handle's id, see `skorche.marker`)
    /// passes or the stream ends: `(item, ended_by)`, `ended_by` 0 item, 1 marker, 2 end.
    fn next_until(
        &self,
        py: Python<'_>,
        marker: &Bound<'_, PyAny>,
    ) -> PyResult<(Option<Py<PyAny>>, u8)> {
        let m: skorche::Marker = marker_of(marker)?;
        loop {
            match self.next_event(py)? {
                Some(Event::Item(x)) => return Ok((Some(x.0), 0)),
                Some(Event::Marker(id)) if m.matches(id) => return Ok((None, 1)),
                Some(Event::Marker(_)) => continue,
                None => return Ok((None, 2)),
            }
        }
    }

    /// The run's report as JSON (per stage: items in and out, errors, busy and wall time,
    /// queue depth, throughput), once the output has been read to its end.
    fn report_json(&self) -> Option<String> {
        let reader = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        let report = reader.report.as_ref()?;
        serde_json_string(report)
    }

    /// The report as the table `print(report)` shows.
    fn report_table(&self) -> Option<String> {
        let reader = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        reader.report.as_ref().map(|r| r.to_string())
    }

    /// Stops the run at once (every thread and worker process), dropping what is in flight.
    fn close(&self, py: Python<'_>) {
        let out = {
            let mut reader = self.reader.lock().unwrap_or_else(|e| e.into_inner());
            reader.ready.clear();
            reader.end = End::Done;
            reader.out.take()
        };
        py.detach(move || drop(out));
    }
}

fn marker_of(marker: &Bound<'_, PyAny>) -> PyResult<skorche::Marker> {
    Ok(marker.cast::<crate::marker::MarkerHandle>()?.get().0)
}

impl Drop for Run {
    fn drop(&mut self) {
        let reader = self.reader.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(out) = reader.out.take() {
            // Dropping a live output stops the run and waits for its stages, some of which
            // may be waiting for the interpreter: wait with it released.
            Python::attach(|py| py.detach(move || drop(out)));
        }
    }
}

fn serde_json_string(report: &skorche::Report) -> Option<String> {
    serde_json::to_string(report).ok()
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run").finish_non_exhaustive()
    }
}
