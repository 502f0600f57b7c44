//! How a worker process ends: its exit codes, and the last words it prints.

/// Exit codes of a worker process.
pub mod exit_code {
    /// `End` received and all results sent.
    pub const OK: i32 = 0;
    /// The bootstrap environment is malformed.
    pub const BAD_ENV: i32 = 64;
    /// The coordinator is gone (hang-up, or the parent changed).
    pub const ORPHANED: i32 = 65;
    /// The task is unknown in this binary.
    pub const UNKNOWN_TASK: i32 = 66;
    /// The coordinator rejected the handshake.
    pub const REJECTED: i32 = 67;
    /// Rings could not be attached or the task state could not be built.
    pub const INIT_FAILED: i32 = 68;
    /// The coordinator sent an invalid message.
    pub const PROTOCOL: i32 = 69;
    /// The process was started as a worker but its `main` did not call
    /// [`enter`](crate::enter) and went on to start a pipeline.
    pub const NO_ENTER: i32 = 70;
}

/// A fatal worker error: logged with `tracing` and, since a worker usually has no subscriber,
/// also written to its stderr (which the coordinator's spawn inherits).
pub(crate) fn fatal(stage: &str, msg: &str) {
    tracing::error!(stage, pid = std::process::id(), "{msg}");
    eprintln!(
        "skorche worker (stage {stage:?}, pid {}): {msg}",
        std::process::id()
    );
}
