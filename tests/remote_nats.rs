//! Remote stages over several hosts through NATS JetStream (issue 13). Each test builds
//! simulated hosts (network namespaces on a bridge, `.ci/netns.sh`), starts a JetStream
//! server of its own on the bridge, starts `skorche-test-remote` workers inside the hosts
//! (`--once`: each exits 0 after the run it served), and drives the pipeline from this
//! process. The test binary and the worker binary register the same tasks
//! (`skorche::fixtures`, `skorche::worker::builtin`).
//!
//! Needs root and `nats-server`; without them every test fails saying so (CI has both).
#[path = "support/hosts.rs"]
mod hosts;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hosts::{Cluster, Watchdog};
use skorche::fixtures::{REMOTE_BYTES_LEN, REMOTE_BYTES_REVERSE, REMOTE_SERVED_BY};
use skorche::nats::{NatsTransport, Remote};
use skorche::worker::builtin;
use skorche::{FailureKind, Pipeline, PipelineError};

const WORKER: &str = env!("CARGO_BIN_EXE_skorche-test-remote");
const OTHER_WORKER: &str = env!("CARGO_BIN_EXE_skorche-test-remote-other");
/// Redelivery delay after a worker is lost: short, so the loss tests take seconds.
const ACK_WAIT: Duration = Duration::from_secs(2);
/// How long a test may take before the watchdog tears everything down.
const LIMIT: Duration = Duration::from_secs(120);
/// How long `--once` workers may take to exit after the run.
const EXIT_LIMIT: Duration = Duration::from_secs(30);

/// The driver's transport, once every worker started so far has connected (so each run
/// starts with all its hosts ready).
fn transport(cluster: &Cluster, job: &str) -> Arc<NatsTransport> {
    cluster.wait_workers_connected(Duration::from_secs(20));
    NatsTransport::builder(cluster.url())
        .job(job)
        .ack_wait(ACK_WAIT)
        .wait_for_workers(Duration::from_secs(20))
        .connect()
        .unwrap_or_else(|e| panic!("connecting the driver: {e}\n{}", cluster.server_log()))
}

/// After a run: every worker exits (0, except on `killed_hosts`), none is left as a zombie
/// or inside a host.
fn assert_clean_end(cluster: &mut Cluster, killed_hosts: &[usize], hosts: usize) {
    cluster.wait_workers(EXIT_LIMIT);
    cluster.assert_workers_exited_cleanly(killed_hosts);
    assert_eq!(
        hosts::zombie_children(),
        Vec::<i32>::new(),
        "zombie children"
    );
    for host in 1..=hosts {
        assert_eq!(
            cluster.pids_in(host),
            Vec::<i32>::new(),
            "processes left in host {host}"
        );
    }
}

/// Which host each worker pid runs in.
fn host_of_pid(cluster: &Cluster) -> BTreeMap<u32, usize> {
    cluster.workers.iter().map(|w| (w.pid(), w.host)).collect()
}

#[test]
fn the_worker_binary_registers_the_same_tasks_as_this_test() {
    let out = std::process::Command::new(WORKER)
        .arg("--print-registry")
        .output()
        .expect("running the worker binary");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(theirs, skorche::fixtures::registry_lines());
}

/// `0..n` → `served_by(ms)` → `n % 7` → `repeat_n` (flat-map), inside an ordered section
/// when `ordered`: remote (16 slots) when `nats` is given, on threads otherwise. Returns the
/// outputs and how many items each pid served.
fn served_pipeline(
    n: u64,
    ms: u64,
    nats: Option<&Arc<NatsTransport>>,
    ordered: bool,
) -> (Vec<u64>, BTreeMap<u32, u64>) {
    let served: Arc<Mutex<BTreeMap<u32, u64>>> = Arc::default();
    let p = Pipeline::new();
    let (q, point) = if ordered {
        let (q, point) = p.source(0..n).order_save(256);
        (q, Some(point))
    } else {
        (p.source(0..n), None)
    };
    let q = q.map_task(REMOTE_SERVED_BY.bind_with(&ms));
    let q = match nats {
        Some(nats) => q.remote(nats, 16),
        None => q.workers(4),
    };
    let seen = served.clone();
    let q = q
        .map(move |(n, pid)| {
            *seen.lock().unwrap().entry(pid).or_default() += 1;
            n % 7
        })
        .map_task(&builtin::REPEAT_N);
    let q = match nats {
        Some(nats) => q.remote(nats, 16),
        None => q.workers(4),
    };
    let q = match point {
        Some(point) => q.order_load(point),
        None => q.into_any(),
    };
    let out: Vec<u64> = p
        .run_iter(q)
        .and_then(|o| o.collect::<Result<_, _>>())
        .expect("the run");
    let served = served.lock().unwrap().clone();
    (out, served)
}

fn sorted(mut v: Vec<u64>) -> Vec<u64> {
    v.sort_unstable();
    v
}

#[test]
fn a_remote_stage_over_three_hosts_gives_the_thread_mode_multiset() {
    const N: u64 = 3000;
    let (expected, _) = served_pipeline(N, 0, None, false);
    let mut cluster = Cluster::up(3);
    let _dog = Watchdog::arm("unordered remote run", &cluster, LIMIT);
    let job = cluster.job("multiset");
    cluster.start_workers(Path::new(WORKER), &job, 1, 4);
    let nats = transport(&cluster, &job);
    let (out, served) = served_pipeline(N, 1, Some(&nats), false);
    assert_eq!(sorted(out), sorted(expected));
    // Each host took part: the work was spread, not served by whichever worker came first.
    let hosts_of = host_of_pid(&cluster);
    let hosts_served: BTreeSet<usize> = served
        .keys()
        .map(|pid| {
            *hosts_of
                .get(pid)
                .unwrap_or_else(|| panic!("pid {pid} is no worker"))
        })
        .collect();
    assert_eq!(
        hosts_served,
        BTreeSet::from([1, 2, 3]),
        "items per pid: {served:?}"
    );
    drop(nats);
    assert_clean_end(&mut cluster, &[], 3);
}

#[test]
fn an_ordered_section_around_remote_stages_keeps_the_order() {
    const N: u64 = 2000;
    let (expected, _) = served_pipeline(N, 0, None, true);
    let mut cluster = Cluster::up(3);
    let _dog = Watchdog::arm("ordered remote run", &cluster, LIMIT);
    let job = cluster.job("ordered");
    cluster.start_workers(Path::new(WORKER), &job, 1, 4);
    let nats = transport(&cluster, &job);
    let (out, _) = served_pipeline(N, 1, Some(&nats), true);
    assert_eq!(out.len(), expected.len());
    assert!(
        out == expected,
        "the remote run's order differs from the thread run's"
    );
    drop(nats);
    assert_clean_end(&mut cluster, &[], 3);
}

/// Runs `0..n` through `served_by(ms)` on 3 hosts (one worker of 4 threads each), calling
/// `disrupt(cluster, host)` from another thread once `after` outputs have arrived, where
/// `host` is a host that has served items by then. Returns the outputs, the items each
/// pid served, the disrupted host and how many outputs had arrived at the disruption.
fn run_disrupted(
    cluster: &Arc<Mutex<Cluster>>,
    job: &str,
    n: u64,
    after: u64,
    disrupt: impl FnOnce(&Cluster, usize) + Send + 'static,
) -> (Vec<u64>, BTreeMap<u32, u64>, usize, u64) {
    let nats = transport(&cluster.lock().unwrap(), job);
    let hosts_of = host_of_pid(&cluster.lock().unwrap());
    let served: Arc<Mutex<BTreeMap<u32, u64>>> = Arc::default();
    let count = Arc::new(AtomicU64::new(0));
    let p = Pipeline::new();
    let seen = served.clone();
    let counted = count.clone();
    let q = p
        .source(0..n)
        .map_task(REMOTE_SERVED_BY.bind_with(&10u64))
        .remote(&nats, 16)
        .map(move |(n, pid)| {
            *seen.lock().unwrap().entry(pid).or_default() += 1;
            counted.fetch_add(1, Ordering::SeqCst);
            n
        });
    let disrupter = {
        let cluster = cluster.clone();
        let served = served.clone();
        let count = count.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            while count.load(Ordering::SeqCst) < after {
                assert!(
                    start.elapsed() < LIMIT,
                    "the run never reached {after} outputs"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            let at = count.load(Ordering::SeqCst);
            // The victim is a host other than the first that has served something, so
            // the host losing work had work to lose.
            let victim = served
                .lock()
                .unwrap()
                .keys()
                .filter_map(|pid| hosts_of.get(pid).copied())
                .filter(|&h| h != 1)
                .min()
                .expect("no host but the first served anything");
            disrupt(&cluster.lock().unwrap(), victim);
            (victim, at)
        })
    };
    let out: Vec<u64> = p
        .run_iter(q)
        .and_then(|o| o.collect::<Result<_, _>>())
        .expect("the run after losing a host");
    let (victim, at) = disrupter.join().expect("the disrupting thread");
    let served = served.lock().unwrap().clone();
    (out, served, victim, at)
}

#[test]
fn killing_every_worker_of_a_host_mid_run_loses_nothing_and_repeats_nothing() {
    const N: u64 = 4000;
    let cluster = Cluster::up(3);
    let _dog = Watchdog::arm("run with a killed host", &cluster, LIMIT);
    let cluster = Arc::new(Mutex::new(cluster));
    let job = cluster.lock().unwrap().job("kill");
    cluster
        .lock()
        .unwrap()
        .start_workers(Path::new(WORKER), &job, 1, 4);
    let (out, served, victim, at) = run_disrupted(&cluster, &job, N, 600, |c, host| {
        let killed = c.kill_host(host);
        assert!(!killed.is_empty(), "nothing ran in host {host}");
    });
    assert!(at < N, "the host was killed after the run");
    // Exactly once each: nothing lost with the host, nothing emitted twice on redelivery.
    assert_eq!(sorted(out), (0..N).collect::<Vec<_>>());
    let victims: Vec<u32> = {
        let c = cluster.lock().unwrap();
        c.workers
            .iter()
            .filter(|w| w.host == victim)
            .map(|w| w.pid())
            .collect()
    };
    assert!(
        victims.iter().any(|pid| served.contains_key(pid)),
        "the killed host served nothing: {served:?}"
    );
    let mut cluster = Arc::into_inner(cluster).unwrap().into_inner().unwrap();
    assert_clean_end(&mut cluster, &[victim], 3);
    for w in cluster.workers.iter().filter(|w| w.host == victim) {
        assert_eq!(
            w.status
                .and_then(|s| std::os::unix::process::ExitStatusExt::signal(&s)),
            Some(9)
        );
    }
}

#[test]
fn cutting_a_hosts_link_mid_run_loses_nothing_and_repeats_nothing() {
    const N: u64 = 4000;
    let cluster = Cluster::up(3);
    let _dog = Watchdog::arm("run with a cut host", &cluster, LIMIT);
    let cluster = Arc::new(Mutex::new(cluster));
    let job = cluster.lock().unwrap().job("cut");
    cluster
        .lock()
        .unwrap()
        .start_workers(Path::new(WORKER), &job, 1, 4);
    let (out, _, victim, at) = run_disrupted(&cluster, &job, N, 600, |c, host| c.cut(host));
    assert!(at < N, "the link was cut after the run");
    assert_eq!(sorted(out), (0..N).collect::<Vec<_>>());
    let mut cluster = Arc::into_inner(cluster).unwrap().into_inner().unwrap();
    // Back on the network, the cut host's worker learns that its run is over and exits
    // like the others; whatever it still publishes for batches served elsewhere is dropped.
    cluster.heal(victim);
    assert_clean_end(&mut cluster, &[], 3);
}

#[test]
fn a_worker_with_another_registry_is_refused() {
    let mut cluster = Cluster::up(1);
    let _dog = Watchdog::arm("refused worker", &cluster, LIMIT);
    let job = cluster.job("refused");
    let other = cluster.start_worker(Path::new(OTHER_WORKER), 1, &job, 2);
    cluster.wait_workers_connected(Duration::from_secs(20));
    // The only worker refuses and exits. The run fails on that refusal, for all 4 slots of
    // the stage, well before the wait for workers runs out (each slot used to wait for it
    // again on its own: 4 x 20 s).
    let wait = Duration::from_secs(20);
    let nats = NatsTransport::builder(cluster.url())
        .job(&job)
        .wait_for_workers(wait)
        .connect()
        .expect("connecting the driver");
    let p = Pipeline::new();
    let q = p
        .source(0..10u64)
        .map_task(REMOTE_SERVED_BY.bind_with(&0u64))
        .remote(&nats, 4)
        .name("served");
    let started = std::time::Instant::now();
    let result = p.run_iter(q).and_then(|o| o.collect::<Result<Vec<_>, _>>());
    let took = started.elapsed();
    let err = result.expect_err("a run served only by a refusing worker");
    assert!(
        took < wait,
        "the refusal took {took:?} to fail the run, not less than the {wait:?} wait for workers"
    );
    let failure = match &err {
        PipelineError::Failed(f) => &f[0],
        other => panic!("expected a stage failure, got {other}"),
    };
    assert_eq!(failure.kind, FailureKind::Handshake, "{err}");
    assert!(failure.message.contains("remote_other_only"), "{err}");
    drop(nats);
    cluster.wait_workers(EXIT_LIMIT);
    let worker = &cluster.workers[other];
    assert_eq!(
        worker.status.unwrap().code(),
        Some(3),
        "{}",
        worker.stderr()
    );
    let stderr = worker.stderr();
    assert!(stderr.contains("skorche-nats worker: refused"), "{stderr}");
    assert!(stderr.contains("remote_other_only"), "{stderr}");
    assert_eq!(hosts::zombie_children(), Vec::<i32>::new());
}

#[test]
fn a_refused_worker_leaves_the_run_to_the_others() {
    const N: u64 = 500;
    let mut cluster = Cluster::up(2);
    let _dog = Watchdog::arm("run with one refused worker", &cluster, LIMIT);
    let job = cluster.job("mixed");
    cluster.start_worker(Path::new(WORKER), 1, &job, 4);
    let other = cluster.start_worker(Path::new(OTHER_WORKER), 2, &job, 4);
    let nats = transport(&cluster, &job);
    let p = Pipeline::new();
    let q = p
        .source(0..N)
        .map_task(REMOTE_SERVED_BY.bind_with(&1u64))
        .remote(&nats, 8);
    let out: Vec<(u64, u32)> = p
        .run_iter(q)
        .and_then(|o| o.collect::<Result<_, _>>())
        .expect("the run of the accepted worker");
    let good = cluster.workers[0].pid();
    assert_eq!(
        sorted(out.iter().map(|&(n, _)| n).collect()),
        (0..N).collect::<Vec<_>>()
    );
    assert!(
        out.iter().all(|&(_, pid)| pid == good),
        "served by a refused worker"
    );
    drop(nats);
    cluster.wait_workers(EXIT_LIMIT);
    assert_eq!(
        cluster.workers[other].status.unwrap().code(),
        Some(3),
        "{}",
        cluster.workers[other].stderr()
    );
    assert!(
        cluster.workers[0].status.unwrap().success(),
        "{}",
        cluster.workers[0].stderr()
    );
}

#[test]
fn large_values_cross_hosts_intact() {
    const MIB: u64 = 1 << 20;
    const N: u64 = 12;
    let mut cluster = Cluster::up(2);
    let _dog = Watchdog::arm("large values", &cluster, LIMIT);
    let job = cluster.job("large");
    cluster.start_workers(Path::new(WORKER), &job, 1, 2);
    let nats = transport(&cluster, &job);
    let p = Pipeline::new();
    // Small in, 2 MiB out; 2 MiB in, 2 MiB out; 2 MiB in, small out. Lengths differ by
    // item, so each output says which input it came from.
    let big = p
        .source(0..N)
        .map(|i| (i, 2 * MIB + i))
        .map_task(&builtin::PRODUCE_BYTES)
        .remote(&nats, 4)
        .map_task(&REMOTE_BYTES_REVERSE)
        .remote(&nats, 4);
    let verified: Arc<Mutex<Vec<u64>>> = Arc::default();
    let seen = verified.clone();
    let lens = big
        .map(move |bytes: Vec<u8>| {
            let len = bytes.len() as u64;
            let mut expected = builtin::produce_bytes((len - 2 * MIB, len));
            expected.reverse();
            assert!(bytes == expected, "the {len}-byte value came back altered");
            seen.lock().unwrap().push(len);
            bytes
        })
        .map_task(&REMOTE_BYTES_LEN)
        .remote(&nats, 4);
    let lens: Vec<u64> = p
        .run_iter(lens)
        .and_then(|o| o.collect::<Result<_, _>>())
        .expect("the run of large values");
    let expected: Vec<u64> = (0..N).map(|i| 2 * MIB + i).collect();
    assert_eq!(sorted(lens), expected);
    assert_eq!(sorted(verified.lock().unwrap().clone()), expected);
    drop(nats);
    assert_clean_end(&mut cluster, &[], 2);
}

#[test]
fn a_failing_item_on_a_remote_host_is_skipped_under_skip_failures() {
    const N: u64 = 2000;
    let mut cluster = Cluster::up(2);
    let _dog = Watchdog::arm("skipped failure", &cluster, LIMIT);
    let job = cluster.job("skip");
    cluster.start_workers(Path::new(WORKER), &job, 1, 4);
    let nats = transport(&cluster, &job);
    let p = Pipeline::new();
    let q = p
        .source(0..N)
        .skip_failures()
        .map_task(builtin::FAIL_ON.bind_with(&1234u64))
        .remote(&nats, 16)
        .name("fail_on_1234");
    let (out, report) = p
        .run_iter(q)
        .and_then(|o| o.collect_report())
        .expect("a run that skips its failure");
    let expected: Vec<u64> = (0..N).filter(|&n| n != 1234).collect();
    assert_eq!(sorted(out), expected);
    let stage = report.stage("fail_on_1234").expect("the stage's report");
    assert_eq!(stage.skipped, 1, "{report}");
    assert_eq!(stage.causes[0].seq, Some(1234), "{report}");
    assert_eq!(stage.causes[0].kind, FailureKind::Task, "{report}");
    drop(nats);
    assert_clean_end(&mut cluster, &[], 2);
}
