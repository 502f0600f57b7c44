//! A per-thread function called before a pipeline thread waits on a queue.
//!
//! A binding that holds a lock of its own across items (an interpreter lock: Python's GIL)
//! keeps it between items for speed, and must let go of it whenever the thread is about to
//! wait, or the thread it waits for may be waiting for the lock. Every wait of a pipeline
//! thread on a queue (an empty input, a full output, a parked worker) calls the hook first.

use std::cell::Cell;

thread_local! {
    static HOOK: Cell<Option<fn()>> = const { Cell::new(None) };
}

/// Sets the function the calling thread runs each time it is about to wait on a pipeline
/// queue (`None`: none). Call it from a task running on a pipeline thread (each worker
/// thread is a thread of its own; the setting dies with it).
///
/// ```
/// use skorche_core::{set_wait_hook, Pipeline};
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// static WAITS: AtomicUsize = AtomicUsize::new(0);
/// fn count_wait() {
///     WAITS.fetch_add(1, Ordering::Relaxed);
/// }
///
/// let p = Pipeline::new();
/// let out = p.source(0..100u32).map(|x| {
///     set_wait_hook(Some(count_wait)); // a release of a lock held across items, say
///     x
/// });
/// let v: Vec<u32> = p.run_iter(out)?.collect::<Result<_, _>>()?;
/// assert_eq!(v.len(), 100);
/// # Ok::<(), skorche_core::PipelineError>(())
/// ```
pub fn set_wait_hook(hook: Option<fn()>) {
    let _ = HOOK.try_with(|h| h.set(hook));
}

/// Runs this thread's hook, if it has one.
#[inline]
pub(crate) fn before_wait() {
    if let Ok(Some(hook)) = HOOK.try_with(Cell::get) {
        hook();
    }
}
