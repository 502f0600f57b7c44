//! A Python function in worker processes: encode on a driver thread, the `PY_CALL` task in
//! `python -m skorche._worker` processes, decode (zero-copy) on a driver thread.

use std::sync::Arc;

use pyo3::prelude::*;
use skorche::{Queue, ShmBytes};

use crate::item::{PyItem, PyTaskError};
use crate::policy::{finish_with_dead, shaped_task, with_policy, OnError, StageSettings};
use crate::state::State;
use crate::task::{FnSpec, PY_CALL};

/// How a process stage's workers are started and fed.
#[derive(Debug)]
pub(crate) struct ProcessSettings {
    /// The Python interpreter workers run (`sys.executable`).
    pub(crate) python: String,
    pub(crate) shm_threshold: usize,
    pub(crate) ring_capacity: Option<usize>,
    pub(crate) restart_workers: u32,
    pub(crate) poison_after: Option<u32>,
    pub(crate) item_timeout: Option<f64>,
}

/// Declares a process stage calling `spec`'s function on queue `q`; returns its queue.
pub(crate) fn declare(
    st: &mut State,
    q: usize,
    spec: FnSpec,
    settings: StageSettings,
    process: ProcessSettings,
    dead_letter: Option<Py<PyAny>>,
) -> PyResult<usize> {
    let raw_threshold = spec.raw_threshold;
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
    let transport = skorche::worker::transport::local::LocalTransport::new(process.python)
        .with_args(["-m", "skorche._worker"]);
    let mut stage: Queue<ShmBytes, skorche::TaskStage> = encoded
        .map_task_as(PY_CALL.bind_with(&spec))
        .transport(Arc::new(transport))
        .shm_threshold(process.shm_threshold);
    if let Some(n) = process.ring_capacity {
        stage = stage.ring_capacity(n);
    }
    if process.restart_workers > 0 {
        stage = stage.restart_workers(process.restart_workers as usize);
        if let Some(k) = process.poison_after {
            stage = stage.poison_after(k);
        }
    }
    if let Some(limit) = process.item_timeout {
        stage = stage.item_timeout(std::time::Duration::from_secs_f64(limit.max(0.001)));
    }
    let stage = shaped_task(stage, &settings);
    let decoded = stage
        .try_map(|bytes: ShmBytes| {
            crate::gil::attach(|py| {
                crate::codec::decode(py, bytes, crate::codec::Large::Views)
                    .map(PyItem)
                    .map_err(|e| PyTaskError::new(py, e))
            })
        })
        .name(format!(
            "{}.decode",
            settings.name.clone().unwrap_or_default()
        ));
    let decoded = match settings.maxsize {
        Some(n) => decoded.capacity(n),
        None => decoded,
    };
    let id = st.put(decoded);
    finish_with_dead(st, id, dead, dead_letter, |py, bytes: &Vec<u8>| {
        crate::codec::decode(
            py,
            ShmBytes::from(bytes.clone()),
            crate::codec::Large::Copies,
        )
    })
}
