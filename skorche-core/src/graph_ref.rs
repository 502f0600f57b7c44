//! The declaration shared by a [`Pipeline`](crate::Pipeline) and its [`Queue`](crate::Queue)s.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::graph::Graph;

/// A handle on the graph under declaration. Behind a lock so that a pipeline and its queues
/// can be declared on one thread and run on another (they are `Send`). Declaring calls no
/// user code while it holds the lock, so the lock is never taken twice by one thread.
#[derive(Default, Clone)]
pub(crate) struct GraphRef(Arc<Mutex<Graph>>);

impl GraphRef {
    /// The graph, to read.
    pub(crate) fn borrow(&self) -> MutexGuard<'_, Graph> {
        self.lock()
    }

    /// The graph, to change.
    pub(crate) fn borrow_mut(&self) -> MutexGuard<'_, Graph> {
        self.lock()
    }

    /// A declaration that panicked (a misuse reported with a panic, caught by the caller)
    /// left the graph as consistent as it was between two calls: the poison is ignored.
    fn lock(&self) -> MutexGuard<'_, Graph> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `a` and `b` are the same pipeline's graph.
    pub(crate) fn ptr_eq(a: &GraphRef, b: &GraphRef) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }

    /// The graph, taken out for the run: queues still held elsewhere keep an empty one.
    pub(crate) fn take(self) -> Graph {
        match Arc::try_unwrap(self.0) {
            Ok(m) => m.into_inner().unwrap_or_else(|e| e.into_inner()),
            Err(shared) => std::mem::take(&mut *shared.lock().unwrap_or_else(|e| e.into_inner())),
        }
    }
}
