//! Process-mode settings of one stage, as declared (the coordinator reads them at launch).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use skorche_worker::transport::Transport;

/// Process-mode settings of one stage.
#[derive(Debug, Clone)]
pub(crate) struct ProcessOptions {
    /// The worker executable; `None`: the driver itself (`std::env::current_exe()`).
    pub(crate) program: Option<PathBuf>,
    /// Another transport than local child processes (tests, remote workers).
    pub(crate) transport: Option<Arc<dyn Transport>>,
    /// Encoded values of at least this many bytes travel through the rings.
    pub(crate) shm_threshold: usize,
    /// Bytes of each ring (one for inputs, one for outputs, per worker).
    pub(crate) ring_capacity: usize,
    /// Fail the stage when one item takes longer than this in a worker.
    pub(crate) item_timeout: Option<Duration>,
    /// Most items in one message.
    pub(crate) max_batch: usize,
    /// Most messages unanswered per worker.
    pub(crate) window: usize,
    /// Bound on starting a worker and its handshake; `None`: the pipeline's, or 10 s.
    pub(crate) handshake_timeout: Option<Duration>,
    /// Restart workers that die; `None`: a dead worker fails the stage.
    pub(crate) restart: Option<RestartPolicy>,
}

impl ProcessOptions {
    /// Whether the stage's workers can read this process's rings (not so for workers on
    /// other hosts).
    pub(crate) fn shares_memory(&self) -> bool {
        self.transport.as_ref().is_none_or(|t| t.shares_memory())
    }

    /// Encoded values of at least this many bytes go through the rings: none when the
    /// workers cannot read them (the transport carries large values its own way).
    pub(crate) fn ring_threshold(&self) -> usize {
        if self.shares_memory() {
            self.shm_threshold
        } else {
            usize::MAX
        }
    }
}

/// How a stage replaces workers that die.
#[derive(Debug, Clone)]
pub(crate) struct RestartPolicy {
    /// Most restarts over the run, for the whole stage.
    pub(crate) max: usize,
    /// An item on which this many workers died in a row fails.
    pub(crate) poison_after: u32,
}

/// Default of [`RestartPolicy::poison_after`].
pub(crate) const POISON_AFTER: u32 = 3;

impl Default for ProcessOptions {
    fn default() -> Self {
        ProcessOptions {
            program: None,
            transport: None,
            shm_threshold: skorche_worker::transport::DEFAULT_SHM_THRESHOLD,
            // Room for a few large payloads in flight; memfd pages cost nothing until
            // written.
            ring_capacity: 64 << 20,
            item_timeout: None,
            // 256 u64s per message: the per-message cost (a syscall pair and a wake-up) is
            // amortized well before this.
            max_batch: 256,
            // One batch in the worker, one on its way: enough to hide the round trip.
            window: 2,
            handshake_timeout: None,
            restart: None,
        }
    }
}

impl ProcessOptions {
    /// Most items one worker of this stage holds at once: everything taken off the input
    /// queue and not yet emitted downstream: the batches it holds (in messages, rings and
    /// the worker itself), plus the one answered part its collector is emitting.
    pub(crate) fn items_per_worker(&self) -> usize {
        self.max_batch.max(1) * (self.window.max(1) + 1)
    }
}
