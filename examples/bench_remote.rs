//! Throughput of a remote stage on 1, 2 and 4 hosts, against raw JetStream.
//!
//! ```text
//! sudo cargo run --release --features nats,test-fixtures --example bench_remote [items-per-host]
//! ```
//!
//! Needs root and `nats-server` (as the multi-host tests). Builds 4 simulated hosts
//! (network namespaces, `.ci/netns.sh`) and a JetStream server of its own on the bridge
//! (10.77.0.1), then runs `0..n` through `remote_wait10_double` (each item waits 10 ms:
//! sleep, not CPU, since this machine has 2 cores) with one worker process of 4 threads in
//! each of 1, 2 and 4 hosts; the workers are this program, started in the namespaces with
//! `--skorche-nats-worker`. The ideal is 400 items/s per host; the target is at least 3x
//! the 1-host throughput on 4 hosts.
//!
//! In the same run, as the baseline: raw JetStream through async-nats from the driver's
//! side (a work-queue stream, publishes acknowledged 256 at a time, then one durable pull
//! consumer receiving and acking each message), for 128 B and 512 KiB messages.
#[path = "../tests/support/hosts.rs"]
mod hosts;

use std::time::{Duration, Instant};

use hosts::Cluster;
use skorche::fixtures::REMOTE_WAIT10_DOUBLE;
use skorche::nats::{NatsTransport, Remote};
use skorche::Pipeline;

/// Threads of each worker process: "4 workers per host".
const THREADS: usize = 4;
/// Slots of the remote stage: one per worker thread on 4 hosts.
const IN_FLIGHT: usize = 16;
/// Items per host in a round by default: about 4 s of work at the ideal rate.
const ITEMS_PER_HOST: u64 = 1600;

fn main() {
    // The workers are this program: they serve and exit here.
    skorche::nats::enter();
    if let Err(missing) = hosts::check_prerequisites() {
        eprintln!("bench_remote: {missing}");
        std::process::exit(1);
    }
    let per_host = std::env::args()
        .nth(1)
        .map(|s| s.parse::<u64>().expect("items per host: a number"))
        .unwrap_or(ITEMS_PER_HOST);
    let me = std::env::current_exe().expect("the path of this program");
    let mut cluster = Cluster::up(4);
    let _dog = hosts::Watchdog::arm("bench_remote", &cluster, Duration::from_secs(600));

    println!(
        "remote stage, items wait 10 ms each, {THREADS} worker threads per host, {IN_FLIGHT} slots"
    );
    println!("| hosts | items | seconds | items/s | ideal items/s | vs 1 host |");
    println!("|---|---|---|---|---|---|");
    let mut first = None;
    for hosts in [1usize, 2, 4] {
        let job = cluster.job(&format!("bench{hosts}"));
        let started = cluster.workers.len();
        for host in 1..=hosts {
            cluster.start_worker(&me, host, &job, THREADS);
        }
        // Every worker connects before the clock starts, so the round measures serving,
        // not process start-up.
        cluster.wait_workers_connected(Duration::from_secs(20));
        let nats = NatsTransport::builder(cluster.url())
            .job(&job)
            .wait_for_workers(Duration::from_secs(20))
            .connect()
            .expect("connecting the driver");
        let n = per_host * hosts as u64;
        let p = Pipeline::new();
        let q = p
            .source(0..n)
            .map_task(&REMOTE_WAIT10_DOUBLE)
            .remote(&nats, IN_FLIGHT);
        let start = Instant::now();
        let sum: u64 = p
            .run_iter(q)
            .expect("starting the run")
            .map(|r| r.expect("the run"))
            .sum();
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(sum, n * (n - 1), "outputs lost or repeated");
        drop(nats);
        cluster.wait_workers(Duration::from_secs(30));
        for w in &cluster.workers[started..] {
            assert!(
                w.status.is_some_and(|s| s.success()),
                "worker failed: {}",
                w.stderr()
            );
        }
        let rate = n as f64 / secs;
        let base = *first.get_or_insert(rate);
        let ideal = (hosts * THREADS) as f64 * 1000.0 / 10.0;
        println!(
            "| {hosts} | {n} | {secs:.2} | {rate:.0} | {ideal:.0} | {:.2}x |",
            rate / base
        );
    }

    let url = cluster.url();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    println!();
    println!("raw JetStream on the same server (async-nats, from the root namespace)");
    println!("| message | messages | publish msg/s | publish MiB/s | consume+ack msg/s | consume+ack MiB/s |");
    println!("|---|---|---|---|---|---|");
    for (size, count) in [(128usize, 50_000usize), (512 << 10, 400)] {
        let (publish, consume) = runtime
            .block_on(raw_jetstream(&url, size, count))
            .expect("raw JetStream round");
        let mib = |rate: f64| rate * size as f64 / f64::from(1 << 20);
        println!(
            "| {} | {count} | {publish:.0} | {:.1} | {consume:.0} | {:.1} |",
            if size < 1024 {
                format!("{size} B")
            } else {
                format!("{} KiB", size >> 10)
            },
            mib(publish),
            mib(consume)
        );
    }
}

/// Publishes `count` messages of `size` bytes to a fresh work-queue stream (awaiting the
/// server's acks 256 at a time), then consumes and acks them all through one durable pull
/// consumer (pulls of at most 8 MiB); returns both rates in messages per second.
async fn raw_jetstream(
    url: &str,
    size: usize,
    count: usize,
) -> Result<(f64, f64), async_nats::Error> {
    use async_nats::jetstream::{consumer, stream};
    use futures_util::StreamExt;

    let client = async_nats::connect(url).await?;
    let js = async_nats::jetstream::new(client);
    let name = format!("RAW_{size}");
    let subject = format!("raw.{size}");
    let _ = js.delete_stream(&name).await;
    let stream = js
        .create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![subject.clone()],
            retention: stream::RetentionPolicy::WorkQueue,
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await?;
    let payload = vec![0xA5u8; size];

    let start = Instant::now();
    let mut acks = Vec::with_capacity(256);
    for _ in 0..count {
        acks.push(js.publish(subject.clone(), payload.clone().into()).await?);
        if acks.len() == 256 {
            for ack in acks.drain(..) {
                ack.await?;
            }
        }
    }
    for ack in acks.drain(..) {
        ack.await?;
    }
    let publish = count as f64 / start.elapsed().as_secs_f64();

    let consumer = stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some("raw".into()),
            ack_policy: consumer::AckPolicy::Explicit,
            ..Default::default()
        })
        .await?;
    let start = Instant::now();
    // A pull of the default 200 messages of 512 KiB is 100 MiB: past the server's pending
    // limit for one client, it would be cut off as a slow consumer and the pull would wait
    // out its expiry. Pulls of at most 8 MiB avoid that.
    let batch = (8 << 20) / size.max(1);
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(batch.clamp(1, 500))
        .messages()
        .await?;
    let mut received = 0;
    while received < count {
        let message = messages
            .next()
            .await
            .ok_or("the consumer's stream ended")??;
        message.ack().await?;
        received += 1;
    }
    let consume = count as f64 / start.elapsed().as_secs_f64();
    js.delete_stream(&name).await?;
    Ok((publish, consume))
}
