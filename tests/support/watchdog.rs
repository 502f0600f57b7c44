//! A watchdog that aborts the test process when a test hangs, shared by the process tests
//! (`process.rs`) and the multi-host harness (`hosts.rs`).

use std::sync::mpsc;
use std::time::Duration;

/// Aborts the whole test process if not dropped within `limit`: a hang fails loudly
/// instead of blocking the suite (and the abort takes the worker children along through
/// their parent-death signal).
#[derive(Debug)]
pub struct Watchdog {
    done: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    pub fn arm(what: &'static str, limit: Duration) -> Self {
        Self::arm_then(what, limit, || {})
    }

    /// As [`Watchdog::arm`], running `tear_down` before the abort (what an abort would
    /// leave behind: servers, namespaces).
    pub fn arm_then(
        what: &'static str,
        limit: Duration,
        tear_down: impl FnOnce() + Send + 'static,
    ) -> Self {
        let (tx, rx) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                eprintln!("watchdog: {what} did not finish within {limit:?}; aborting");
                tear_down();
                std::process::abort();
            }
        });
        Watchdog {
            done: Some(tx),
            thread: Some(thread),
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.done.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
