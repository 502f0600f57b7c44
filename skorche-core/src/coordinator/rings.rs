//! The run's shared-memory rings, and the gate that closes their descriptors.
//!
//! A worker must reach only its own rings. Each gets its rings' descriptors by inheritance;
//! the driver keeps its own copy only until every worker of the run has started, then
//! closes them all (the mappings stay). Until then no worker gets an item, so no task runs
//! while another worker's rings are reachable through the driver's `/proc/<pid>/fd`.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use skorche_worker::rings::Ring;

/// The output rings of one process stage's workers, shared with the stage downstream when
/// it forwards their records.
pub(crate) type SharedRings = Arc<Vec<Arc<Ring>>>;

/// Counts the run's workers still starting; opens when the last has.
#[derive(Debug)]
pub(crate) struct StartGate {
    state: Mutex<GateState>,
    opened: Condvar,
}

#[derive(Debug)]
struct GateState {
    /// Workers still starting, plus one while stages are still being launched.
    pending: usize,
    rings: Vec<Arc<Ring>>,
}

impl StartGate {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(StartGate {
            state: Mutex::new(GateState {
                pending: 1,
                rings: Vec::new(),
            }),
            opened: Condvar::new(),
        })
    }

    /// A stage will start `n` workers.
    pub(crate) fn expect(&self, n: usize) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).pending += n;
    }

    /// A ring whose descriptor is closed when the gate opens.
    pub(crate) fn register(&self, ring: Arc<Ring>) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .rings
            .push(ring);
    }

    /// One worker has started (or failed to); also called once when every stage launched.
    pub(crate) fn arrive(&self) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.pending = st.pending.saturating_sub(1);
        if st.pending == 0 {
            for ring in st.rings.drain(..) {
                ring.forget_fd();
            }
            self.opened.notify_all();
        }
    }

    /// Waits until every worker has started; `false` if `stop()` said so first.
    pub(crate) fn wait(&self, poll: Duration, stop: impl Fn() -> bool) -> bool {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while st.pending > 0 {
            if stop() {
                return false;
            }
            st = self
                .opened
                .wait_timeout(st, poll)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }
}
