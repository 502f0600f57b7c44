//! One Python thread state per skorche worker thread, attached across items.
//!
//! `Python::attach` on a thread without a thread state creates one and destroys it again on
//! the way out: 20-60x slower than re-entering a kept one, and it wipes `threading.local`
//! between calls (PyO3/pyo3#2495). A skorche thread that runs Python therefore makes its
//! state once and keeps it until the thread ends.
//!
//! It also stays attached (holds the GIL) from one item to the next: handing the GIL over
//! between threads costs microseconds each time, more than the call itself. It lets go when
//! the thread is about to wait on a queue (skorche calls the hook installed by
//! [`attach`]), when it has held the GIL for [`SLICE`] (so the reader and the other workers
//! get their turn, like CPython's own switch interval), and when the thread ends.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use pyo3::ffi;

/// The longest a worker keeps the GIL without waiting on a queue.
const SLICE: Duration = Duration::from_millis(2);

/// This thread's state: made by `PyGILState_Ensure`, detached while `attached_since` is
/// `None`.
struct Kept {
    gil_state: ffi::PyGILState_STATE,
    /// The state as `PyEval_SaveThread` returned it, to restore.
    saved: *mut ffi::PyThreadState,
    /// When this thread last attached, if it is attached now.
    attached_since: Option<Instant>,
}

impl Kept {
    fn detach(&mut self) {
        if self.attached_since.take().is_some() {
            // SAFETY: this thread is attached (it restored `saved` in `attach`, or the
            // state was made attached by `PyGILState_Ensure`) and runs no Python now:
            // detaching releases the GIL and returns the same state, restored later.
            self.saved = unsafe { ffi::PyEval_SaveThread() };
        }
    }

    fn attach(&mut self) {
        if self.attached_since.is_none() {
            // SAFETY: `saved` is this thread's own detached state (thread-local storage is
            // only reached from its thread); restoring it takes the GIL.
            unsafe { ffi::PyEval_RestoreThread(self.saved) };
            self.attached_since = Some(Instant::now());
        }
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        // SAFETY: the interpreter still runs (skorche's runs are closed at exit, before
        // finalization): attaching this thread's own state, then releasing the count taken
        // by `PyGILState_Ensure`, destroys the state and lets go of the GIL.
        unsafe {
            if ffi::Py_IsInitialized() != 0 {
                self.attach();
                ffi::PyGILState_Release(self.gil_state);
            }
        }
    }
}

thread_local! {
    static KEPT: RefCell<Option<Kept>> = const { RefCell::new(None) };
}

/// Lets go of the GIL if this thread holds it: skorche calls it before the thread waits.
fn release() {
    let _ = KEPT.try_with(|kept| {
        if let Ok(mut kept) = kept.try_borrow_mut() {
            if let Some(kept) = kept.as_mut() {
                kept.detach();
            }
        }
    });
}

/// Attaches this (skorche) thread to the interpreter, making its thread state the first
/// time, and keeps it attached after `f` returns (see the module documentation).
///
/// Only for threads skorche starts: a thread Python started has its own state already.
pub(crate) fn attach<R>(f: impl for<'py> FnOnce(pyo3::Python<'py>) -> R) -> R {
    KEPT.with(|kept| {
        let mut kept = kept.borrow_mut();
        match kept.as_mut() {
            None => {
                // SAFETY: this thread has no Python state and is not attached: Ensure makes
                // one and attaches it (taking the GIL), to be kept until the thread ends.
                let gil_state = unsafe { ffi::PyGILState_Ensure() };
                *kept = Some(Kept {
                    gil_state,
                    saved: std::ptr::null_mut(),
                    attached_since: Some(Instant::now()),
                });
                skorche::set_wait_hook(Some(release));
            }
            Some(k) => {
                if k.attached_since.is_some_and(|t| t.elapsed() > SLICE) {
                    k.detach(); // others' turn: whoever waits for the GIL takes it now
                }
                k.attach();
            }
        }
    });
    // Attached: PyO3's attach only counts a nesting level (no lock taken).
    pyo3::Python::attach(f)
}
