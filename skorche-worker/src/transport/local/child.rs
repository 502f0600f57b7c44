//! One worker child process: kill (its whole process group), wait, reap, exactly once.

use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::transport::ExitCause;

/// A spawned worker. Reaping happens only under the lock, so a kill never signals a reused
/// pid; the process group is signalled too, so what the task started dies with the worker.
#[derive(Debug)]
pub(crate) struct ChildSlot {
    pub(crate) stage: String,
    pub(crate) pid: u32,
    state: Mutex<ChildState>,
    /// The thread this child was forked from must outlive it (its death signal is tied to
    /// that thread); dropped after the child is reaped.
    _spawner: std::sync::Arc<super::spawner::Spawner>,
}

#[derive(Debug)]
struct ChildState {
    child: Child,
    status: Option<ExitStatus>,
}

impl ChildSlot {
    pub(crate) fn new(
        stage: String,
        child: Child,
        spawner: std::sync::Arc<super::spawner::Spawner>,
    ) -> Self {
        ChildSlot {
            stage,
            _spawner: spawner,
            pid: child.id(),
            state: Mutex::new(ChildState {
                child,
                status: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ChildState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn group(&self) -> Pid {
        Pid::from_raw(self.pid as i32)
    }

    /// SIGKILL to the worker's process group (the worker and whatever its task started).
    pub(crate) fn kill(&self) {
        let st = self.lock();
        if st.status.is_none() {
            // The group id is the worker's pid: it cannot be reused while the worker is
            // unreaped (we hold the lock), so this signals our group and nothing else.
            let _ = killpg(self.group(), Signal::SIGKILL);
        }
    }

    pub(crate) fn try_wait(&self) -> Option<ExitStatus> {
        let mut st = self.lock();
        if st.status.is_none() {
            if let Ok(Some(s)) = st.child.try_wait() {
                st.status = Some(s);
                self.kill_leftovers();
            }
        }
        st.status
    }

    /// Blocks until the worker exits, reaps it, and kills what is left of its group.
    pub(crate) fn wait(&self) -> ExitStatus {
        if let Some(s) = self.lock().status {
            return s;
        }
        // Block without reaping and without the lock, so `kill` stays usable meanwhile.
        let flags = nix::sys::wait::WaitPidFlag::WEXITED | nix::sys::wait::WaitPidFlag::WNOWAIT;
        while let Err(nix::errno::Errno::EINTR) =
            nix::sys::wait::waitid(nix::sys::wait::Id::Pid(self.group()), flags)
        {}
        let mut st = self.lock();
        if st.status.is_none() {
            let status = st.child.wait().unwrap_or_else(|e| {
                tracing::error!(
                    stage = self.stage,
                    pid = self.pid,
                    "cannot reap worker: {e}"
                );
                ExitStatus::from_raw(0xff00)
            });
            st.status = Some(status);
            self.kill_leftovers();
        }
        st.status.expect("set above")
    }

    /// Processes the task started and left behind die with the worker. After the leader is
    /// reaped the group id stays reserved while any member lives, so this reaches only them.
    fn kill_leftovers(&self) {
        let _ = killpg(self.group(), Signal::SIGKILL);
    }

    /// Waits up to `grace` for the worker to exit by itself, then kills it; always reaps.
    pub(crate) fn reap_within(&self, grace: Duration) -> ExitStatus {
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(s) = self.try_wait() {
                return s;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        self.kill();
        self.wait()
    }

    pub(crate) fn cause(status: ExitStatus) -> ExitCause {
        match (status.signal(), status.code()) {
            (Some(sig), _) => ExitCause::Signal(sig),
            (None, Some(code)) => ExitCause::Code(code),
            (None, None) => ExitCause::Unknown,
        }
    }
}

impl Drop for ChildSlot {
    fn drop(&mut self) {
        if self.try_wait().is_none() {
            tracing::debug!(
                stage = self.stage,
                pid = self.pid,
                "killing unreaped worker"
            );
            self.kill();
            self.wait();
        }
    }
}
