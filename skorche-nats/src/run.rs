//! One run of one stage on the server: its streams, object store and manifest, the wait
//! for a worker that accepts it, and their removal when the run is dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_nats::jetstream::{consumer, object_store, stream};
use futures_util::StreamExt;
use skorche_worker::error::HandshakeError;
use skorche_worker::transport::{SpawnError, WorkerSpec};

use crate::connection::Connection;
use crate::job::{job_stream, job_stream_name, manifest_subject};
use crate::router::{self, Routes};
use crate::wire::{self, Greeting, Manifest, WIRE_VERSION};

/// What a run is set up with (from [`NatsOptions`](crate::NatsOptions)).
#[derive(Debug, Clone)]
pub(crate) struct RunSettings {
    pub(crate) job: String,
    pub(crate) ack_wait: Duration,
    pub(crate) inline_limit: usize,
    pub(crate) wait_for_workers: Duration,
    pub(crate) max_queued: i64,
}

/// How long a run whose first answer was a refusal waits for a worker that accepts.
const REFUSAL_GRACE: Duration = Duration::from_millis(1500);

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
    pub(crate) links: Routes,
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
    pub(crate) fn start(
        conn: Arc<Connection>,
        opts: &RunSettings,
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
        let router = router::start(
            conn.clone(),
            results,
            run.links.clone(),
            run.closing.clone(),
            (run.objects.clone(), run.stage.clone()),
        );
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
