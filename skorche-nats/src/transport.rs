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
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_nats::jetstream::{consumer, object_store, stream};
use futures_util::StreamExt;
use skorche_worker::error::HandshakeError;
use skorche_worker::transport::{SpawnError, Transport, WorkerLink, WorkerSpec};

use crate::connection::Connection;
use crate::error::NatsError;
use crate::link::{self, LinkEvent};
use crate::wire::{self, Greeting, Manifest, WIRE_VERSION};

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

/// How long a run whose first answer was a refusal waits for a worker that accepts.
const REFUSAL_GRACE: Duration = Duration::from_millis(1500);

/// Settings of a [`NatsTransport`], made by [`NatsTransport::builder`].
#[derive(Debug, Clone)]
pub struct NatsOptions {
    url: String,
    job: String,
    ack_wait: Duration,
    inline_limit: usize,
    wait_for_workers: Duration,
    max_queued: i64,
}

impl NatsOptions {
    /// The job's name: workers started with the same `--job` serve this driver's runs
    /// (default [`DEFAULT_JOB`]). Letters, digits, `-` and `_`.
    pub fn job(mut self, job: impl Into<String>) -> Self {
        self.job = job.into();
        self
    }

    /// How long a batch may go unacknowledged before the server gives it to another worker
    /// (default [`DEFAULT_ACK_WAIT`]). Workers on a long batch tell the server every third of
    /// it, so this bounds how soon a dead host's work moves, not how long a task may run.
    pub fn ack_wait(mut self, ack_wait: Duration) -> Self {
        self.ack_wait = ack_wait;
        self
    }

    /// Values of at least this many encoded bytes go through the object store (default
    /// [`DEFAULT_INLINE_LIMIT`]).
    pub fn inline_limit(mut self, bytes: usize) -> Self {
        self.inline_limit = bytes;
        self
    }

    /// How long the first start of a stage waits for a worker to accept its run (default
    /// [`DEFAULT_WAIT_FOR_WORKERS`]); then the run fails, naming the server and the job.
    pub fn wait_for_workers(mut self, wait: Duration) -> Self {
        self.wait_for_workers = wait;
        self
    }

    /// Bound on batches waiting in a run's stream (default [`DEFAULT_MAX_QUEUED`]); the
    /// driver's credits usually keep far fewer in flight.
    pub fn max_queued(mut self, batches: i64) -> Self {
        self.max_queued = batches.max(1);
        self
    }

    /// Connects to the server.
    ///
    /// # Errors
    /// [`NatsError::Connect`] when the server cannot be reached, or the job's name is not
    /// made of letters, digits, `-` and `_`.
    pub fn connect(self) -> Result<Arc<NatsTransport>, NatsError> {
        check_job(&self.job)?;
        let conn = Connection::connect(&self.url)?;
        Ok(Arc::new(NatsTransport {
            conn: Arc::new(conn),
            opts: self,
            runs: Mutex::new(HashMap::new()),
        }))
    }
}

pub(crate) fn check_job(job: &str) -> Result<(), NatsError> {
    if job.is_empty()
        || !job
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(NatsError::Usage(format!(
            "job name {job:?}: use letters, digits, '-' and '_'"
        )));
    }
    Ok(())
}

/// The name of a job's manifest stream.
pub(crate) fn job_stream_name(job: &str) -> String {
    format!("SKJ_{job}")
}

/// The subject of a run's manifest.
pub(crate) fn manifest_subject(job: &str, run: &str) -> String {
    format!("skj.{job}.run.{run}")
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
            job: DEFAULT_JOB.to_string(),
            ack_wait: DEFAULT_ACK_WAIT,
            inline_limit: DEFAULT_INLINE_LIMIT,
            wait_for_workers: DEFAULT_WAIT_FOR_WORKERS,
            max_queued: DEFAULT_MAX_QUEUED,
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
        &self.opts.job
    }

    fn run_for(&self, spec: &WorkerSpec) -> Result<Arc<Run>, SpawnError> {
        // Held while a run is set up: the stage's other slots wait for it, not start another.
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        runs.retain(|_, r| r.strong_count() > 0);
        if let Some(run) = runs.get(&spec.stage).and_then(Weak::upgrade) {
            return Ok(run);
        }
        let run = Arc::new(Run::start(self.conn.clone(), &self.opts, spec)?);
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

/// One run of one stage: its streams, object store, manifest and results router.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) conn: Arc<Connection>,
    pub(crate) id: String,
    pub(crate) stage: String,
    pub(crate) objects: String,
    pub(crate) work_subject: String,
    pub(crate) inline_limit: usize,
    /// Where the router hands each link its results.
    pub(crate) links: Arc<Mutex<HashMap<u32, crossbeam_channel::Sender<LinkEvent>>>>,
    pub(crate) next_link: AtomicU32,
    pub(crate) closing: Arc<AtomicBool>,
    router: Mutex<Option<JoinHandle<()>>>,
    work_stream: String,
    results_stream: String,
    job: String,
    /// The subject of the run's manifest.
    key: String,
}

static RUNS: AtomicU64 = AtomicU64::new(0);

/// A run id unique across hosts and restarts: time, process and a counter.
fn new_run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{nanos:x}{:x}{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    )
}

impl Run {
    fn start(
        conn: Arc<Connection>,
        opts: &NatsOptions,
        spec: &WorkerSpec,
    ) -> Result<Run, SpawnError> {
        let id = new_run_id();
        let remote = |detail: String| SpawnError::Remote {
            stage: spec.stage.clone(),
            endpoint: conn.url.clone(),
            detail,
        };
        let work_stream = format!("SKW_{id}");
        let results_stream = format!("SKR_{id}");
        let objects = format!("SKO_{id}");
        let job = opts.job.clone();
        let key = manifest_subject(&job, &id);
        let mut run = Run {
            conn: conn.clone(),
            id: id.clone(),
            stage: spec.stage.clone(),
            objects: objects.clone(),
            work_subject: format!("sk.{id}.work"),
            inline_limit: opts.inline_limit,
            links: Arc::new(Mutex::new(HashMap::new())),
            next_link: AtomicU32::new(0),
            closing: Arc::new(AtomicBool::new(false)),
            router: Mutex::new(None),
            work_stream: work_stream.clone(),
            results_stream: results_stream.clone(),
            job: job.clone(),
            key: key.clone(),
        };
        // From here on, dropping `run` deletes whatever was created.
        let results = conn
            .block_on(async {
                let js = &conn.js;
                js.create_stream(stream::Config {
                    name: work_stream.clone(),
                    subjects: vec![run.work_subject.clone()],
                    retention: stream::RetentionPolicy::WorkQueue,
                    storage: stream::StorageType::Memory,
                    max_messages: opts.max_queued,
                    discard: stream::DiscardPolicy::New,
                    duplicate_window: Duration::from_secs(120),
                    ..Default::default()
                })
                .await
                .map_err(|e| format!("create stream {work_stream}: {e}"))?
                .create_consumer(consumer::pull::Config {
                    durable_name: Some("work".into()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: opts.ack_wait,
                    max_ack_pending: opts.max_queued,
                    ..Default::default()
                })
                .await
                .map_err(|e| format!("create consumer of {work_stream}: {e}"))?;
                let results = js
                    .create_stream(stream::Config {
                        name: results_stream.clone(),
                        subjects: vec![format!("sk.{id}.res.*")],
                        retention: stream::RetentionPolicy::WorkQueue,
                        storage: stream::StorageType::Memory,
                        duplicate_window: Duration::from_secs(120),
                        ..Default::default()
                    })
                    .await
                    .map_err(|e| format!("create stream {results_stream}: {e}"))?
                    .create_consumer(consumer::pull::Config {
                        durable_name: Some("results".into()),
                        ack_policy: consumer::AckPolicy::Explicit,
                        ..Default::default()
                    })
                    .await
                    .map_err(|e| format!("create consumer of {results_stream}: {e}"))?;
                js.create_object_store(object_store::Config {
                    bucket: objects.clone(),
                    storage: stream::StorageType::Memory,
                    ..Default::default()
                })
                .await
                .map_err(|e| format!("create object store {objects}: {e}"))?;
                Ok::<_, String>(results)
            })
            .map_err(remote)?;
        let hello_subject = format!("sk.{id}.hello");
        let mut hellos = conn
            .block_on(conn.client.subscribe(hello_subject.clone()))
            .map_err(|e| remote(format!("subscribe to {hello_subject}: {e}")))?;
        let manifest = Manifest {
            wire: WIRE_VERSION,
            run: id.clone(),
            stage: spec.stage.clone(),
            task: spec.task.clone(),
            params: spec.params.clone(),
            registry: crate::registry_check::local_registry(),
            work_stream: work_stream.clone(),
            work_consumer: "work".into(),
            results_prefix: format!("sk.{id}.res"),
            hello_subject,
            objects: objects.clone(),
            inline_limit: opts.inline_limit,
            ack_wait_ms: opts.ack_wait.as_millis() as u64,
        };
        let manifest = wire::encode("manifest", &manifest).map_err(|e| remote(e.to_string()))?;
        conn.block_on(async {
            job_stream(&conn, &job).await?;
            let ack = conn
                .js
                .publish(key.clone(), manifest.into())
                .await
                .map_err(|e| format!("publish the manifest {key}: {e}"))?;
            ack.await
                .map_err(|e| format!("publish the manifest {key}: {e}"))
        })
        .map_err(remote)?;
        tracing::info!(
            stage = spec.stage,
            run = id,
            job = opts.job,
            "remote run published, waiting for a worker"
        );
        let accepted = run.await_worker(&mut hellos, spec, opts.wait_for_workers);
        let router = link::start_router(&run, results);
        *run.router.get_mut().unwrap_or_else(|e| e.into_inner()) = Some(router);
        match accepted {
            Ok(worker) => {
                tracing::info!(
                    stage = spec.stage,
                    run = id,
                    worker,
                    "a remote worker accepted the run"
                );
                Ok(run)
            }
            Err(e) => Err(e),
        }
    }

    /// Waits for the first worker that accepts the run. A refusal fails the run unless a
    /// worker accepts soon after; no answer at all fails it after `wait`.
    fn await_worker(
        &mut self,
        hellos: &mut async_nats::Subscriber,
        spec: &WorkerSpec,
        wait: Duration,
    ) -> Result<String, SpawnError> {
        let deadline = Instant::now() + wait;
        let mut refusal: Option<(Instant, SpawnError)> = None;
        loop {
            let now = Instant::now();
            let until = match &refusal {
                Some((at, _)) => (*at + REFUSAL_GRACE).min(deadline),
                None => deadline,
            };
            if now >= until {
                break;
            }
            let next = self.conn.block_on_for(until - now, hellos.next());
            let Some(Some(msg)) = next else {
                continue;
            };
            let greeting: Greeting = match wire::decode("greeting", &msg.payload) {
                Ok(g) => g,
                Err(e) => {
                    tracing::warn!(stage = spec.stage, "ignoring a greeting: {e}");
                    continue;
                }
            };
            let verdict = match (&greeting.hello, &greeting.refused) {
                (_, Some(reason)) => Err(HandshakeError::Refused {
                    stage: spec.stage.clone(),
                    worker: greeting.worker.clone(),
                    reason: reason.clone(),
                }),
                (Some(hello), None) => {
                    skorche_worker::handshake::validate(&spec.stage, &spec.task, hello)
                }
                (None, None) => continue,
            };
            match verdict {
                Ok(()) => return Ok(greeting.worker),
                Err(e) => {
                    tracing::warn!(stage = spec.stage, "{e}");
                    if refusal.is_none() {
                        refusal = Some((Instant::now(), SpawnError::Handshake(e)));
                    }
                }
            }
        }
        Err(match refusal {
            Some((_, e)) => e,
            None => SpawnError::Remote {
                stage: spec.stage.clone(),
                endpoint: self.conn.url.clone(),
                detail: format!(
                    "no worker accepted the run within {wait:?}: start workers with \
                     `--skorche-nats-worker {} --job <job>` (the driver's binary or a worker \
                     binary of the same build)",
                    self.conn.url
                ),
            },
        })
    }
}

/// The job's manifest stream (one message per live run, the last per subject kept), created
/// if it does not exist. A plain stream rather than a key-value bucket: the client's bucket
/// API asks for account fields that servers before 2.10 do not send.
pub(crate) async fn job_stream(conn: &Connection, job: &str) -> Result<stream::Stream, String> {
    let name = job_stream_name(job);
    conn.js
        .get_or_create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![format!("skj.{job}.run.*")],
            max_messages_per_subject: 1,
            storage: stream::StorageType::File,
            // A driver killed before it removed its manifest leaves it for a day at most
            // (workers find such a run's streams gone and leave it at once).
            max_age: Duration::from_secs(24 * 3600),
            ..Default::default()
        })
        .await
        .map_err(|e| format!("open stream {name}: {e}"))
}

impl Drop for Run {
    fn drop(&mut self) {
        self.closing.store(true, Ordering::Release);
        if let Some(router) = self.router.get_mut().ok().and_then(Option::take) {
            let _ = router.join();
        }
        let conn = self.conn.clone();
        conn.block_on(async {
            if let Ok(stream) = conn.js.get_stream(job_stream_name(&self.job)).await {
                let _ = stream.purge().filter(self.key.as_str()).await;
            }
            // Deleting the work stream is what tells workers the run is over.
            let _ = conn.js.delete_stream(&self.work_stream).await;
            let _ = conn.js.delete_stream(&self.results_stream).await;
            let _ = conn.js.delete_object_store(&self.objects).await;
        });
        tracing::debug!(
            stage = self.stage,
            run = self.id,
            "remote run removed from the server"
        );
    }
}
