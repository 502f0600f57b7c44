//! One Python thread state per skorche worker thread, for the thread's whole life.
//!
//! `Python::attach` on a thread without a thread state creates one and destroys it again on
//! the way out: 20-60x slower than re-entering a kept one, and it wipes `threading.local`
//! between calls (PyO3/pyo3#2495). A skorche thread that runs Python therefore makes its
//! state once ([`keep_thread_state`]), detached from the interpreter between calls, and
//! gives it back when the thread ends.

use pyo3::ffi;
use std::cell::RefCell;

/// The state kept by this thread, released (restored, then released) at thread exit.
struct Kept {
    gil_state: ffi::PyGILState_STATE,
    saved: *mut ffi::PyThreadState,
}

impl Drop for Kept {
    fn drop(&mut self) {
        // SAFETY: `saved` is this thread's own state, detached by `keep_thread_state` on this
        // same thread (thread-local storage is dropped on the thread that owns it), and the
        // interpreter still runs: restoring it re-attaches this thread, and releasing the
        // GILState count taken by `PyGILState_Ensure` destroys the state.
        unsafe {
            if ffi::Py_IsInitialized() != 0 {
                ffi::PyEval_RestoreThread(self.saved);
                ffi::PyGILState_Release(self.gil_state);
            }
        }
    }
}

thread_local! {
    static KEPT: RefCell<Option<Kept>> = const { RefCell::new(None) };
}

/// Makes this thread's Python thread state live until the thread ends.
///
/// Call it on a thread skorche started, while not attached to the interpreter (never on a
/// thread Python started: that one already has its state, and may hold the GIL).
pub(crate) fn keep_thread_state() {
    KEPT.with(|kept| {
        if kept.borrow().is_some() {
            return;
        }
        // SAFETY: this thread is not attached (skorche threads only attach inside
        // `Python::attach`, which has returned), so `PyGILState_Ensure` creates its state and
        // attaches it; `PyEval_SaveThread` detaches it again and returns it, to be restored by
        // `Kept::drop` on this thread. Later `Python::attach` calls find the state and reuse it.
        let kept_state = unsafe {
            let gil_state = ffi::PyGILState_Ensure();
            let saved = ffi::PyEval_SaveThread();
            Kept { gil_state, saved }
        };
        *kept.borrow_mut() = Some(kept_state);
    });
}

/// Runs `f` attached to the interpreter, on this thread's kept state.
pub(crate) fn attach<R>(f: impl for<'py> FnOnce(pyo3::Python<'py>) -> R) -> R {
    keep_thread_state();
    pyo3::Python::attach(f)
}
