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
use std::time::{Duration, Instant};

use skorche_worker::error::HandshakeError;
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

/// How long a stage's failure to start a run is the answer for its other slots.
const FAILURE_MEMORY: Duration = Duration::from_secs(5);

/// A stage's run, or why it could not start.
#[derive(Debug)]
enum Live {
    Run(Weak<Run>),
    Failed(Instant, Failure),
}

/// A failure to start a run, kept to answer the stage's other slots.
#[derive(Debug, Clone)]
enum Failure {
    Handshake(HandshakeError),
    Remote {
        stage: String,
        endpoint: String,
        detail: String,
    },
}

impl Failure {
    fn of(e: &SpawnError) -> Option<Failure> {
        match e {
            SpawnError::Handshake(h) => Some(Failure::Handshake(h.clone())),
            SpawnError::Remote {
                stage,
                endpoint,
                detail,
            } => Some(Failure::Remote {
                stage: stage.clone(),
                endpoint: endpoint.clone(),
                detail: detail.clone(),
            }),
            _ => None,
        }
    }

    fn to_error(&self) -> SpawnError {
        match self.clone() {
            Failure::Handshake(h) => SpawnError::Handshake(h),
            Failure::Remote {
                stage,
                endpoint,
                detail,
            } => SpawnError::Remote {
                stage,
                endpoint,
                detail,
            },
        }
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
    runs: Mutex<HashMap<String, Live>>,
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
        runs.retain(|_, r| {
            matches!(r, Live::Run(w) if w.strong_count() > 0)
                || matches!(r, Live::Failed(at, _) if at.elapsed() < FAILURE_MEMORY)
        });
        match runs.get(&spec.stage) {
            Some(Live::Run(run)) => {
                if let Some(run) = run.upgrade() {
                    return Ok(run);
                }
            }
            // The stage's other slots, which waited while the first tried: the same answer
            // at once, not another wait for workers each.
            Some(Live::Failed(_, failure)) => return Err(failure.to_error()),
            None => {}
        }
        match Run::start(self.conn.clone(), &self.opts.run, spec) {
            Ok(run) => {
                let run = Arc::new(run);
                runs.insert(spec.stage.clone(), Live::Run(Arc::downgrade(&run)));
                Ok(run)
            }
            Err(e) => {
                if let Some(failure) = Failure::of(&e) {
                    runs.insert(spec.stage.clone(), Live::Failed(Instant::now(), failure));
                }
                Err(e)
            }
        }
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
