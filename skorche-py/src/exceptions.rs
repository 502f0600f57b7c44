//! The Python exception a failed run raises.

pyo3::create_exception!(
    skorche,
    PipelineError,
    pyo3::exceptions::PyException,
    "A pipeline run failed: the message names every failed stage, the item and the cause \
     (with the Python traceback). `failures` lists them as dicts (stage, item, kind, \
     message); on threads, the task's own exception is the `__cause__`."
);
