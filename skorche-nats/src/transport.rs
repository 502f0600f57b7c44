//! The driver's side: [`NatsTransport`], a `Transport` whose workers run anywhere that can
//! reach the NATS server.
//!
//! Each stage run through it is a *run*: a work-queue stream the stage's batches go to, a
//! durable pull consumer every remote worker shares, a results stream, an object store for
//! large values, and a manifest in the job's key-value bucket that tells workers what to
//! run. The coordinator's worker slots become links: a link publishes its batches to the
//! work stream and receives the results addressed to it, in the order it sent the batches.
//! Everything of a run is deleted when its last link is dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use skorche_worker::transport::{SpawnError, Transport, WorkerLink, WorkerSpec};

use crate::connection::Connection;
use crate::error::NatsError;
use crate::job::check_job;
use crate::link;
use crate::run::{Run, RunSettings};

/// Default name of the job: the namespace a driver and its workers share on a server.
pub const DEFAULT_JOB: &str = "skorche";

/// Default redelivery delay: a batch whose worker stopped acknowledging it goes to another
/// worker after this long.
pub const DEFAULT_ACK_WAIT: Duration = Duration::from_secs(30);

/// Default size from which a value travels through the object store.
pub const DEFAULT_INLINE_LIMIT: usize = 256 * 1024;

/// Default bound on waiting for the first worker to accept a run.
pub const DEFAULT_WAIT_FOR_WORKERS: Duration = Duration::from_secs(30);

/// Default bound on batches queued in a run's work stream.
pub const DEFAULT_MAX_QUEUED: i64 = 4096;

/// Settings of a [`NatsTransport`], made by [`NatsTransport::builder`].
#[derive(Debug, Clone)]
pub struct NatsOptions {
    url: String,
    run: RunSettings,
}

impl NatsOptions {
    /// The job's name: workers started with the same `--job` serve this driver's runs
    /// (default [`DEFAULT_JOB`]). Letters, digits, `-` and `_`.
    pub fn job(mut self, job: impl Into<String>) -> Self {
        self.run.job = job.into();
        self
    }

    /// How long a batch may go unacknowledged before the server gives it to another worker
    /// (default [`DEFAULT_ACK_WAIT`]). Workers on a long batch tell the server every third of
    /// it, so this bounds how soon a dead host's work moves, not how long a task may run.
    pub fn ack_wait(mut self, ack_wait: Duration) -> Self {
        self.run.ack_wait = ack_wait;
        self
    }

    /// Values of at least this many encoded bytes go through the object store (default
    /// [`DEFAULT_INLINE_LIMIT`]).
    pub fn inline_limit(mut self, bytes: usize) -> Self {
        self.run.inline_limit = bytes;
        self
    }

    /// How long the first start of a stage waits for a worker to accept its run (default
    /// [`DEFAULT_WAIT_FOR_WORKERS`]); then the run fails, naming the server and the job.
    pub fn wait_for_workers(mut self, wait: Duration) -> Self {
        self.run.wait_for_workers = wait;
        self
    }

    /// Bound on batches waiting in a run's stream (default [`DEFAULT_MAX_QUEUED`]); the
    /// driver's credits usually keep far fewer in flight.
    pub fn max_queued(mut self, batches: i64) -> Self {
        self.run.max_queued = batches.max(1);
        self
    }

    /// Connects to the server.
    ///
    /// # Errors
    /// [`NatsError::Connect`] when the server cannot be reached, or the job's name is not
    /// made of letters, digits, `-` and `_`.
    pub fn connect(self) -> Result<Arc<NatsTransport>, NatsError> {
        check_job(&self.run.job)?;
        let conn = Connection::connect(&self.url)?;
        Ok(Arc::new(NatsTransport {
            conn: Arc::new(conn),
            opts: self,
            runs: Mutex::new(HashMap::new()),
        }))
    }
}

/// Runs stages' workers on any host that reaches a NATS server with JetStream.
///
/// Give it to a stage with [`Remote::remote`](crate::Remote::remote) (or
/// `Queue::transport`); start workers with `--skorche-nats-worker URL` (see [`crate::enter`]).
/// The driver needs no open port: workers and driver both connect to the server.
#[derive(Debug)]
pub struct NatsTransport {
    conn: Arc<Connection>,
    opts: NatsOptions,
    /// The live run of each stage (by stage name): a stage's slots share one run.
    runs: Mutex<HashMap<String, Weak<Run>>>,
}

impl NatsTransport {
    /// Settings for a transport through the server at `url` (`nats://host:4222`).
    pub fn builder(url: impl Into<String>) -> NatsOptions {
        NatsOptions {
            url: url.into(),
            run: RunSettings {
                job: DEFAULT_JOB.to_string(),
                ack_wait: DEFAULT_ACK_WAIT,
                inline_limit: DEFAULT_INLINE_LIMIT,
                wait_for_workers: DEFAULT_WAIT_FOR_WORKERS,
                max_queued: DEFAULT_MAX_QUEUED,
            },
        }
    }

    /// A transport through the server at `url` with the default settings.
    ///
    /// # Errors
    /// As [`NatsOptions::connect`].
    pub fn connect(url: impl Into<String>) -> Result<Arc<NatsTransport>, NatsError> {
        Self::builder(url).connect()
    }

    /// The server's address.
    pub fn url(&self) -> &str {
        &self.conn.url
    }

    /// The job's name.
    pub fn job(&self) -> &str {
        &self.opts.run.job
    }

    fn run_for(&self, spec: &WorkerSpec) -> Result<Arc<Run>, SpawnError> {
        // Held while a run is set up: the stage's other slots wait for it, not start another.
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        runs.retain(|_, r| r.strong_count() > 0);
        if let Some(run) = runs.get(&spec.stage).and_then(Weak::upgrade) {
            return Ok(run);
        }
        let run = Arc::new(Run::start(self.conn.clone(), &self.opts.run, spec)?);
        runs.insert(spec.stage.clone(), Arc::downgrade(&run));
        Ok(run)
    }
}

impl Transport for NatsTransport {
    fn start_worker(&self, spec: &WorkerSpec) -> Result<WorkerLink, SpawnError> {
        let run = self.run_for(spec)?;
        Ok(link::open(run))
    }

    fn shares_memory(&self) -> bool {
        false
    }
}
