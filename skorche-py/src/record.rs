//! `Record`: a read-only Python buffer over bytes that may lie in a worker's shared-memory
//! ring. Views made from it (`memoryview`, `np.frombuffer`, a numpy array unpickled with
//! out-of-band buffers, `torch.frombuffer`) keep it alive; the ring record goes back to its
//! ring when the last of them dies.

use std::ffi::c_int;

use pyo3::exceptions::{PyBufferError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use skorche::ShmBytes;

/// A read-only window `[start, start + len)` of a value that crossed from a worker.
#[pyclass(module = "skorche._skorche", frozen)]
pub struct Record {
    bytes: ShmBytes,
    start: usize,
    len: usize,
}

impl Record {
    /// A window of `bytes`.
    pub fn new(bytes: ShmBytes, start: usize, len: usize) -> PyResult<Self> {
        if start.checked_add(len).is_none_or(|end| end > bytes.len()) {
            return Err(PyValueError::new_err(format!(
                "record window {start}+{len} is outside the {} bytes received",
                bytes.len()
            )));
        }
        Ok(Record { bytes, start, len })
    }

    pub(crate) fn data(&self) -> &[u8] {
        &self.bytes[self.start..self.start + self.len]
    }
}

#[pymethods]
impl Record {
    /// The window's length in bytes.
    fn __len__(&self) -> usize {
        self.len
    }

    /// Whether the bytes are read where the worker wrote them (in its shared-memory ring).
    #[getter]
    fn in_shared_memory(&self) -> bool {
        self.bytes.in_ring()
    }

    fn __repr__(&self) -> String {
        format!(
            "<skorche.Record {} bytes{}>",
            self.len,
            if self.bytes.in_ring() {
                " in shared memory"
            } else {
                ""
            }
        )
    }

    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        if view.is_null() {
            return Err(PyBufferError::new_err("a Record was asked for a null view"));
        }
        if flags & ffi::PyBUF_WRITABLE == ffi::PyBUF_WRITABLE {
            return Err(PyBufferError::new_err(
                "a skorche Record is read-only (it may be shared memory other views read): \
                 copy it (bytes(view), np.array(a)) to modify it",
            ));
        }
        let record = slf.get();
        let data = record.data();
        // SAFETY: `view` is non-null and points to the Py_buffer the caller owns;
        // PyBuffer_FillInfo fills it as a read-only, one-dimensional byte buffer over `data`
        // and takes a new reference to `slf`, so the Record (and the bytes `data` borrows,
        // which it owns and never moves or frees while alive) outlives every view.
        let filled = unsafe {
            ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                data.as_ptr() as *mut std::ffi::c_void,
                data.len() as ffi::Py_ssize_t,
                1,
                flags,
            )
        };
        if filled != 0 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }

    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {
        // Nothing to free: the view's reference to the Record is dropped by Python.
    }
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record").finish_non_exhaustive()
    }
}
