//! Where a stage runs: threads or worker processes.

/// Where a stage runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Mode {
    /// On this many threads of the driver process.
    Threads(usize),
    /// In this many worker processes.
    Processes(usize),
}

impl Mode {
    /// How many workers (threads or processes) run the stage.
    pub fn count(self) -> usize {
        match self {
            Mode::Threads(n) | Mode::Processes(n) => n,
        }
    }
}
