//! The remote worker: serves the runs a job's drivers publish, on any host that reaches the
//! server.
//!
//! A worker watches the job's key-value bucket. For each run it checks the driver's task
//! registry against its own (another build refuses, and says why to the driver), greets
//! the driver, and starts `threads` threads that each pull one batch at a time from the
//! run's work stream, run the task, publish the results and only then acknowledge the
//! batch. A worker that dies before acknowledging loses nothing: the server gives the batch
//! to another worker after the run's ack wait. While a batch runs, the worker tells the
//! server it is still on it, so a slow task is not taken for a dead worker.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::pull;
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::AckKind;
use futures_util::StreamExt;
use skorche_worker::codec::PayloadIo;
use skorche_worker::protocol::{FailureKind, Hello, Outcome, TaskFailure, PROTOCOL_VERSION};
use skorche_worker::registry::{self, panic_message, ErasedInstance, Resolved};
use skorche_worker::values::{ValueRef, Values};

use crate::connection::Connection;
use crate::error::NatsError;
use crate::job::{check_job, job_stream};
use crate::objects;
use crate::registry_check::{compare, local_registry};
use crate::transport::DEFAULT_JOB;
use crate::wire::{self, Greeting, Manifest, WireResults, WireWork, WIRE_VERSION};

/// How long one pull waits for a batch before the thread looks whether its run is over.
const PULL_WAIT: Duration = Duration::from_millis(500);

/// How often an idle thread checks that its run still exists.
const RUN_CHECK: Duration = Duration::from_secs(1);

/// Consecutive failed pulls after which a thread takes its run for gone.
const PULL_FAILURES: u32 = 6;

/// What a worker serves, and how.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    url: String,
    job: String,
    threads: usize,
    once: bool,
}

impl ServeOptions {
    /// Serve the runs published through the server at `url`, under the default job, on as
    /// many threads per run as this host has cores.
    pub fn new(url: impl Into<String>) -> Self {
        ServeOptions {
            url: url.into(),
            job: DEFAULT_JOB.to_string(),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            once: false,
        }
    }

    /// The job whose runs to serve (the driver's [`NatsOptions::job`](crate::NatsOptions::job)).
    pub fn job(mut self, job: impl Into<String>) -> Self {
        self.job = job.into();
        self
    }

    /// Threads per run: batches this worker runs at once for each stage.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Return once every run served has ended (instead of serving forever).
    pub fn once(mut self, once: bool) -> Self {
        self.once = once;
        self
    }
}

/// What a worker did, when it returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Served {
    /// Runs served.
    pub runs: usize,
    /// Batches answered.
    pub batches: u64,
}

/// Serves the job's runs until the process is stopped (or, with
/// [`ServeOptions::once`], until the runs it served have ended).
///
/// # Errors
/// [`NatsError::Refused`] when a run's driver has another task registry (the driver is
/// told too); [`NatsError::Connect`] / [`NatsError::JetStream`] when the server cannot be
/// reached or used.
pub fn serve(opts: &ServeOptions) -> Result<Served, NatsError> {
    check_job(&opts.job)?;
    let conn = Arc::new(Connection::connect(&opts.url)?);
    let job = opts.job.clone();
    let mut watch = conn
        .block_on(async {
            let stream = job_stream(&conn, &job).await?;
            stream
                .create_consumer(pull::OrderedConfig {
                    filter_subject: format!("skj.{job}.run.*"),
                    deliver_policy: DeliverPolicy::LastPerSubject,
                    ..Default::default()
                })
                .await
                .map_err(|e| e.to_string())?
                .messages()
                .await
                .map_err(|e| e.to_string())
        })
        .map_err(|e| NatsError::js(format!("watch the runs of job {job}"), e))?;
    let me = worker_name();
    let own = local_registry();
    tracing::info!(
        worker = me,
        job = opts.job,
        url = opts.url,
        "remote worker waiting for runs"
    );
    let mut serving: HashMap<String, Vec<JoinHandle<u64>>> = HashMap::new();
    let mut served = Served::default();
    let mut seen = std::collections::HashSet::new();
    let mut idle_since = Instant::now();
    loop {
        serving.retain(|_, threads| {
            if threads.iter().all(JoinHandle::is_finished) {
                for t in threads.drain(..) {
                    served.batches += t.join().unwrap_or(0);
                }
                false
            } else {
                true
            }
        });
        if !serving.is_empty() {
            idle_since = Instant::now();
        } else if opts.once && served.runs > 0 && idle_since.elapsed() >= PULL_WAIT * 2 {
            return Ok(served);
        }
        let next = conn.block_on_for(PULL_WAIT, watch.next());
        let entry = match next {
            None => continue,
            Some(None) => return Err(NatsError::js("watch the job's runs", "the watch ended")),
            Some(Some(Err(e))) => return Err(NatsError::js("watch the job's runs", e)),
            Some(Some(Ok(entry))) => entry,
        };
        if !seen.insert(entry.subject.to_string()) || entry.payload.is_empty() {
            continue;
        }
        let manifest: Manifest = match wire::decode("manifest", &entry.payload) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(worker = me, subject = %entry.subject, "ignoring a run: {e}");
                continue;
            }
        };
        let task = match accept(&manifest, &own) {
            Ok(task) => task,
            Err(reason) => {
                greet(&conn, &manifest, &me, None, Some(reason.clone()));
                return Err(NatsError::Refused {
                    run: manifest.run,
                    stage: manifest.stage,
                    reason,
                });
            }
        };
        let hello = Hello {
            version: PROTOCOL_VERSION,
            pid: std::process::id(),
            task: task.identity(),
        };
        greet(&conn, &manifest, &me, Some(hello), None);
        tracing::info!(
            worker = me,
            stage = manifest.stage,
            run = manifest.run,
            "serving a run"
        );
        let run = Arc::new(RunCx {
            conn: conn.clone(),
            manifest,
            worker: me.clone(),
            task: Arc::new(task),
            over: AtomicBool::new(false),
        });
        let threads = (0..opts.threads)
            .map(|i| {
                let run = run.clone();
                std::thread::Builder::new()
                    .name(format!("skorche-nats-{i}"))
                    .spawn(move || serve_run(&run))
                    .map_err(|e| NatsError::js("start a worker thread", e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        serving.insert(run.manifest.run.clone(), threads);
        served.runs += 1;
    }
}

/// Whether this worker serves the run: the same wire version, the same registry, and a task
/// it can resolve.
fn accept(
    manifest: &Manifest,
    own: &[skorche_worker::protocol::TaskIdentity],
) -> Result<Resolved, String> {
    if manifest.wire != WIRE_VERSION {
        return Err(format!(
            "the driver speaks skorche-nats wire version {}, this worker {WIRE_VERSION}",
            manifest.wire
        ));
    }
    compare(&manifest.registry, own)?;
    registry::resolve(&manifest.task.name).map_err(|u| u.reason)
}

fn greet(
    conn: &Connection,
    manifest: &Manifest,
    me: &str,
    hello: Option<Hello>,
    refused: Option<String>,
) {
    let greeting = Greeting {
        worker: me.to_string(),
        hello,
        refused,
    };
    let Ok(bytes) = wire::encode("greeting", &greeting) else {
        return;
    };
    let subject = manifest.hello_subject.clone();
    let sent = conn.block_on(async {
        conn.client.publish(subject, bytes.into()).await?;
        conn.client.flush().await.map_err(|e| e.to_string().into())
    });
    if let Err(e) = sent as Result<(), Box<dyn std::error::Error + Send + Sync>> {
        tracing::warn!(worker = me, "cannot greet the driver: {e}");
    }
}

/// `host:pid`.
fn worker_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into());
    format!("{}:{}", host.trim(), std::process::id())
}

/// What a worker thread of one run shares with the others.
struct RunCx {
    conn: Arc<Connection>,
    manifest: Manifest,
    worker: String,
    task: Arc<Resolved>,
    over: AtomicBool,
}

/// One thread of a run: pulls a batch at a time until the run's stream is gone. Returns
/// the batches it answered.
fn serve_run(run: &RunCx) -> u64 {
    let m = &run.manifest;
    let mut instance = match run.task.instantiate(&m.params) {
        Ok(i) => i,
        Err(f) => {
            tracing::error!(
                worker = run.worker,
                stage = m.stage,
                "cannot build the task: {f}"
            );
            return 0;
        }
    };
    let io = PayloadIo::new(Vec::new(), None, usize::MAX, None);
    let consumer = run.conn.block_on(
        run.conn
            .js
            .get_consumer_from_stream::<pull::Config, _, _>(&m.work_consumer, &m.work_stream),
    );
    let Ok(consumer) = consumer else {
        return 0;
    };
    let mut answered = 0;
    let mut failures = 0;
    let mut last_check = Instant::now();
    while !run.over.load(Ordering::Acquire) {
        let batch = run.conn.block_on(async {
            let mut batch = consumer
                .fetch()
                .max_messages(1)
                .expires(PULL_WAIT)
                .messages()
                .await?;
            let mut msgs = Vec::new();
            while let Some(msg) = batch.next().await {
                msgs.push(msg?);
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(msgs)
        });
        match batch {
            Ok(msgs) if msgs.is_empty() => {
                // A pull on a removed consumer may just come back empty: look at the stream
                // itself now and then.
                if last_check.elapsed() >= RUN_CHECK {
                    last_check = Instant::now();
                    if !run_exists(run) {
                        run.over.store(true, Ordering::Release);
                    }
                }
            }
            Ok(msgs) => {
                failures = 0;
                for msg in msgs {
                    match answer(run, instance.as_mut(), &io, msg) {
                        Ok(()) => answered += 1,
                        Err(e) => tracing::warn!(worker = run.worker, stage = m.stage, "{e}"),
                    }
                }
            }
            Err(e) => {
                failures += 1;
                if failures >= PULL_FAILURES {
                    // The driver removed the run (it ended), or the server is gone.
                    tracing::debug!(worker = run.worker, stage = m.stage, "run over: {e}");
                    run.over.store(true, Ordering::Release);
                } else {
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
    answered
}

/// Whether the run's work stream is still there (the driver removes it when the run ends).
fn run_exists(run: &RunCx) -> bool {
    let stream = &run.manifest.work_stream;
    match run.conn.block_on(run.conn.js.get_stream(stream)) {
        Ok(_) => true,
        Err(e) => {
            use async_nats::jetstream::context::GetStreamErrorKind;
            // Only a definite "no such stream" ends the run; a flaky link is retried.
            !matches!(e.kind(), GetStreamErrorKind::JetStream(j) if j.error_code() == async_nats::jetstream::ErrorCode::STREAM_NOT_FOUND)
        }
    }
}

/// Runs one batch and publishes its results, then acknowledges it.
fn answer(
    run: &RunCx,
    instance: &mut dyn ErasedInstance,
    io: &PayloadIo,
    msg: async_nats::jetstream::Message,
) -> Result<(), NatsError> {
    let m = &run.manifest;
    let work: WireWork = match wire::decode("work", &msg.payload) {
        Ok(w) => w,
        Err(e) => {
            // Never decodable, by any worker: do not redeliver it.
            let _ = run.conn.block_on(msg.ack_with(AckKind::Term));
            return Err(e);
        }
    };
    // Tell the server the batch is in hand while it runs (a long task is not a dead worker).
    let ticker = {
        let msg = msg.clone();
        let every = Duration::from_millis((m.ack_wait_ms / 3).max(100));
        run.conn.spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let _ = msg.ack_with(AckKind::Progress).await;
            }
        })
    };
    let result = run_batch(run, instance, io, work);
    ticker.abort();
    let (link, batch, bytes) = result?;
    let subject = format!("{}.{link}", m.results_prefix);
    let id = format!("{}.{link}.{batch}", m.run);
    run.conn.publish(&subject, &id, bytes, &|| true)?;
    // The results are stored (their publish was acknowledged): an acknowledgement lost now
    // only makes the batch run again, and its second answer is dropped by message id and by
    // the driver's link. So it is not waited for.
    run.conn
        .block_on(msg.ack())
        .map_err(|e| NatsError::js("acknowledge a batch", e))
}

/// Runs the task on every input of a batch; returns the encoded results message.
fn run_batch(
    run: &RunCx,
    instance: &mut dyn ErasedInstance,
    io: &PayloadIo,
    work: WireWork,
) -> Result<(u32, u64, Vec<u8>), NatsError> {
    let m = &run.manifest;
    let started = Instant::now();
    let (inputs, _) = objects::from_wire(&run.conn, &m.objects, work.items)?;
    let mut outcomes = Vec::with_capacity(inputs.len());
    let mut outputs = Values::with_capacity(inputs.len());
    let mut scratch = Values::default();
    for item in inputs.iter() {
        io.begin_call();
        let outcome = match catch_unwind(AssertUnwindSafe(|| {
            instance.call_value(item, io, &mut scratch)
        })) {
            Ok(Ok(count)) => Outcome::Done(count),
            Ok(Err(failure)) => Outcome::Failed(failure),
            Err(payload) => {
                scratch.clear();
                Outcome::Failed(TaskFailure::new(
                    FailureKind::Codec,
                    format!(
                        "panic while decoding the input or encoding an output: {}",
                        panic_message(&*payload)
                    ),
                ))
            }
        };
        outcomes.push(outcome);
        outputs.append(&mut scratch);
    }
    let prefix = format!("out.{}.{}", work.link, work.batch);
    let inline: Vec<&[u8]> = outputs
        .iter()
        .filter_map(|v| match v {
            ValueRef::Inline(b) => Some(b),
            ValueRef::Shm(_) => None,
        })
        .collect();
    let (outputs, _) = objects::to_wire(
        &run.conn,
        &m.objects,
        &prefix,
        inline.into_iter(),
        m.inline_limit,
    )?;
    let results = WireResults {
        link: work.link,
        batch: work.batch,
        worker: run.worker.clone(),
        outcomes,
        outputs,
        busy_ns: started.elapsed().as_nanos() as u64,
    };
    Ok((work.link, work.batch, wire::encode("results", &results)?))
}
