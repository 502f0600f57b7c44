//! The pipeline's process settings: defaults for the stages that run in worker processes.

use crate::pipeline::Pipeline;

impl Pipeline {
    /// Registered-task stages declared from now on run in `n` worker processes
    /// ([`Queue::processes`](crate::Queue::processes) or [`Queue::workers`](crate::Queue::workers) per stage overrides it, and so does a
    /// scale declared with the task in `task!`).
    ///
    /// # Panics
    /// If `n` is 0: a stage needs at least one worker.
    #[track_caller]
    pub fn default_processes(&self, n: usize) -> &Self {
        assert!(
            n > 0,
            "default_processes(0): a stage needs at least one worker"
        );
        self.graph().borrow_mut().default_processes = Some(n);
        self
    }

    /// The executable process stages spawn as workers. By default it is the driver itself
    /// (`std::env::current_exe()`), whose `main` must then call `skorche::worker::enter()`
    /// first thing; a separate binary (such as `skorche-worker`, or one of your own that
    /// links your tasks) can be named instead. A wrapper script must `exec` the worker, so
    /// that the worker is the coordinator's child (it checks, and exits otherwise).
    ///
    /// A driver whose `main` forgets `enter()` does not fork without end: in a worker process
    /// [`Pipeline::start`] (and so `run`) exits the process at once, and the driver's error
    /// says to call `skorche::worker::enter()` first in `main`.
    pub fn worker_program(&self, path: impl Into<std::path::PathBuf>) -> &Self {
        self.graph().borrow_mut().worker_program = Some(path.into());
        self
    }

    /// The bound on starting one worker process and completing its handshake, for every
    /// process stage that does not set its own (default 10 s). A worker that neither greets
    /// nor exits in time is killed and the run fails naming the stage.
    pub fn handshake_timeout(&self, limit: std::time::Duration) -> &Self {
        self.graph().borrow_mut().handshake_timeout = Some(limit);
        self
    }
}
