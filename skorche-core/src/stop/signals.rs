//! SIGINT and SIGTERM as stop requests, for runs of a pipeline declared with
//! [`Pipeline::stop_on_signals`](crate::Pipeline::stop_on_signals).
//!
//! While such a run lives, a thread (`skorche:signals`) waits for the signals through
//! `signal-hook`'s iterator (its handler only writes to a pipe) and turns each one into a
//! [`StopHandle::stop`]: the first starts a graceful stop, the second aborts. The thread is
//! closed and joined when the run ends.
//!
//! Afterwards the signals do what they did before the first such run. `signal-hook` cannot
//! take its handler out again (its actions are removed, the handler stays and calls the
//! previous one only if it was a function), so:
//! - a signal whose disposition was the default one gets a permanent `signal-hook` action
//!   that runs the default action (terminating the process by that signal) whenever no such
//!   run lives;
//! - an ignored signal stays ignored (the handler does nothing for it);
//! - a handler installed before is called by `signal-hook`'s as before (also during the
//!   run).
//!
//! The previous disposition is read from `/proc/self/status` (`SigIgn`, `SigCgt`), without
//! `unsafe`; where that file does not exist it is taken to be the default.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};

use crate::stop::StopHandle;

/// The signals that stop a run.
const STOP_SIGNALS: [i32; 2] = [SIGINT, SIGTERM];

/// What this process's stop signals do outside runs that watch them.
#[derive(Debug)]
struct Dispositions {
    /// Whether the permanent actions below are registered (once per process).
    installed: bool,
    /// Runs watching signals now.
    active: usize,
    /// Per signal whose previous disposition was the default: true while no run watches,
    /// and then the signal's default action runs.
    default_when_idle: Vec<Arc<AtomicBool>>,
}

static DISPOSITIONS: Mutex<Dispositions> = Mutex::new(Dispositions {
    installed: false,
    active: 0,
    default_when_idle: Vec::new(),
});

fn dispositions() -> std::sync::MutexGuard<'static, Dispositions> {
    DISPOSITIONS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Watches SIGINT and SIGTERM for one run; dropping it closes the watch and joins its thread.
#[derive(Debug)]
pub(crate) struct SignalWatcher {
    handle: Handle,
    thread: Option<JoinHandle<()>>,
}

impl SignalWatcher {
    /// Starts watching: each signal calls `stop.stop()`.
    pub(crate) fn start(stop: StopHandle) -> std::io::Result<Self> {
        let mut d = dispositions();
        // Read before our own handler is installed, which would mark the signals caught.
        let defaults: Vec<i32> = if d.installed {
            Vec::new()
        } else {
            STOP_SIGNALS
                .into_iter()
                .filter(|&s| previously_default(s))
                .collect()
        };
        let mut signals = Signals::new(STOP_SIGNALS)?;
        if !d.installed {
            for sig in defaults {
                // False while this run lives; set when the last watching run ends.
                let flag = Arc::new(AtomicBool::new(false));
                signal_hook::flag::register_conditional_default(sig, flag.clone())?;
                d.default_when_idle.push(flag);
            }
            d.installed = true;
        }
        let handle = signals.handle();
        let thread = std::thread::Builder::new()
            .name("skorche:signals".into())
            .spawn(move || {
                for sig in signals.forever() {
                    tracing::info!(signal = sig, "stop requested by a signal");
                    stop.stop();
                }
                // `signals` drops here: its actions are unregistered.
            });
        let thread = match thread {
            Ok(t) => t,
            Err(e) => {
                handle.close();
                return Err(e);
            }
        };
        d.active += 1;
        for flag in &d.default_when_idle {
            flag.store(false, Ordering::SeqCst);
        }
        Ok(SignalWatcher {
            handle,
            thread: Some(thread),
        })
    }
}

impl Drop for SignalWatcher {
    fn drop(&mut self) {
        {
            let mut d = dispositions();
            d.active -= 1;
            if d.active == 0 {
                // From now on a signal does what it did before any run watched it.
                for flag in &d.default_when_idle {
                    flag.store(true, Ordering::SeqCst);
                }
            }
        }
        self.handle.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Whether `sig`'s disposition is the default one (neither ignored nor caught), per
/// `/proc/self/status`; `true` where that cannot be read.
fn previously_default(sig: i32) -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return true;
    };
    let mask = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(0)
    };
    let bit = 1u64 << (sig - 1);
    (mask("SigIgn:") | mask("SigCgt:")) & bit == 0
}
