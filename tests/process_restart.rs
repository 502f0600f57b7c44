//! Dead workers come back: with `restart_workers`, a worker killed by a real signal is
//! replaced, the items it held go to its successor, and nothing is lost or emitted twice.
#[path = "support/process.rs"]
mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rand::Rng;
use skorche::worker::builtin::{self, checksum, produce_bytes};
use skorche::{FailureKind, Pipeline};
use support::*;

/// SIGKILLs a random live worker of this test process every `every` until dropped; counts
/// the kills.
struct Chaos {
    stop: Arc<AtomicBool>,
    kills: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Chaos {
    fn start(every: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let kills = Arc::new(AtomicU64::new(0));
        let (stop2, kills2) = (stop.clone(), kills.clone());
        let thread = std::thread::spawn(move || {
            let mut rng = rand::thread_rng();
            while !stop2.load(Ordering::Relaxed) {
                std::thread::sleep(every);
                let workers = worker_children_of(me());
                if workers.is_empty() {
                    continue;
                }
                let victim = workers[rng.gen_range(0..workers.len())];
                if kill(Pid::from_raw(victim), Signal::SIGKILL).is_ok() {
                    kills2.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Chaos {
            stop,
            kills,
            thread: Some(thread),
        }
    }

    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.kills.load(Ordering::Relaxed)
    }
}

/// A pipeline whose process stages run the test worker.
fn pipeline() -> Pipeline {
    let p = Pipeline::new();
    p.worker_program(TEST_WORKER);
    p
}

/// Runs `q` to its end, which must be an error; prints it and returns it.
fn run_to_error<T: Send + 'static, K>(
    p: Pipeline,
    q: skorche::Queue<T, K>,
) -> skorche::PipelineError {
    let err = p
        .run_iter(q)
        .unwrap()
        .collect::<Result<Vec<T>, _>>()
        .err()
        .expect("the run must fail");
    println!("{err}");
    err
}

/// The chaos tests and the others of this file do not overlap (they kill every worker
/// child of this process).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn chaos_kills_lose_nothing_and_duplicate_nothing() {
    let _s = serial();
    let _dog = Watchdog::arm("chaos identity", Duration::from_secs(120));
    const N: u64 = 1_000_000;
    let p = pipeline();
    let q = p
        .source(0..N)
        .map_task(&builtin::IDENTITY_U64)
        .processes(2)
        .restart_workers(10_000)
        .poison_after(1_000) // kills every 100 ms are not the items' fault
        .name("ids");
    let chaos = Chaos::start(Duration::from_millis(100));
    let started = Instant::now();
    let (mut out, report) = p.run_iter(q).unwrap().collect_report().unwrap();
    let kills = chaos.stop();
    out.sort_unstable();
    let lost_or_doubled = out.len() as i64 - N as i64;
    assert_eq!(lost_or_doubled, 0, "{} outputs for {N} inputs", out.len());
    assert!(
        out.iter().copied().eq(0..N),
        "the output is not the input's multiset"
    );
    let ids = report.stage("ids").unwrap();
    println!(
        "{N} items in {:?}; {kills} kills, {} restarts, {:?} recovering",
        started.elapsed(),
        ids.restarts,
        ids.recovering
    );
    assert!(
        kills == 0 || ids.restarts > 0,
        "kills happened but no restart was counted"
    );
    assert_no_children();
}

#[test]
fn chaos_kills_keep_order_inside_an_ordered_section() {
    let _s = serial();
    let _dog = Watchdog::arm("chaos ordered", Duration::from_secs(120));
    const N: u64 = 1_000_000;
    let p = pipeline();
    let (q, point) = p.source(0..N).order_save(512);
    let q = q
        .map_task(&builtin::IDENTITY_U64)
        .processes(2)
        .restart_workers(10_000)
        .poison_after(1_000) // kills every 100 ms are not the items' fault
        .order_load(point);
    let chaos = Chaos::start(Duration::from_millis(100));
    let out: Vec<u64> = p.run_iter(q).unwrap().collect::<Result<_, _>>().unwrap();
    let kills = chaos.stop();
    println!("{kills} kills");
    assert!(out.iter().copied().eq(0..N), "not the input, in order");
    assert_no_children();
}

#[test]
fn chaos_kills_with_8_mib_payloads_through_shared_memory() {
    let _s = serial();
    let _dog = Watchdog::arm("chaos 8 MiB", Duration::from_secs(120));
    let shm = shm_entries();
    const N: u64 = 120;
    let len = 8u64 << 20;
    let p = pipeline();
    let q = p
        .source((0..N).map(move |seed| (seed, len)))
        .map_task(&builtin::PRODUCE_BYTES)
        .processes(2)
        .restart_workers(10_000)
        // Kills every 100 ms are not the items' fault: on a loaded machine an 8 MiB item
        // can outlive three of them, which the default poison rule (3) would charge it.
        .poison_after(1_000)
        .name("produce")
        .map(|bytes: Vec<u8>| checksum(&bytes));
    let chaos = Chaos::start(Duration::from_millis(100));
    let (mut sums, report) = p.run_iter(q).unwrap().collect_report().unwrap();
    let kills = chaos.stop();
    sums.sort_unstable();
    let mut expected: Vec<u64> = (0..N)
        .map(|seed| checksum(&produce_bytes((seed, len))))
        .collect();
    expected.sort_unstable();
    assert_eq!(sums, expected);
    let produce = report.stage("produce").unwrap();
    println!(
        "{kills} kills, {} restarts, {} values via shm",
        produce.restarts, produce.via_shm
    );
    assert_eq!(produce.ring_bytes_left, 0, "ring records leaked");
    assert_no_children();
    assert_no_new_shm(&shm);
}

#[test]
fn an_item_that_kills_its_worker_three_times_fails_the_stage_naming_it() {
    let _s = serial();
    let _dog = Watchdog::arm("poison", Duration::from_secs(60));
    let p = pipeline();
    let q = p
        .source(0..1_000u64)
        .map_task(builtin::ABORT_ON.bind_with(&321u64))
        .processes(2)
        .restart_workers(100)
        .name("poisoned");
    let err = run_to_error(p, q);
    let f = &err.failures()[0];
    assert_eq!((f.stage.as_str(), f.seq), ("poisoned", Some(321)));
    assert_eq!(f.kind, FailureKind::WorkerDied);
    assert!(f.message.contains("3 times"), "{}", f.message);
    assert!(f.message.contains("SIGABRT"), "{}", f.message);
    assert_no_children();
}

#[test]
fn restarts_are_limited() {
    let _s = serial();
    let _dog = Watchdog::arm("restart limit", Duration::from_secs(60));
    let p = pipeline();
    // Every item from 100 on aborts its worker: two restarts are allowed, so the third
    // death ends the run, naming the limit.
    let q = p
        .source(0..1_000u64)
        .map_task(builtin::ABORT_ON.bind_with(&100u64))
        .processes(1)
        .restart_workers(2)
        .poison_after(10)
        .name("limited");
    let err = run_to_error(p, q);
    let f = &err.failures()[0];
    assert_eq!(f.stage, "limited");
    assert!(
        f.message.contains("limit of 2 worker restarts"),
        "{}",
        f.message
    );
    assert_no_children();
}

#[test]
fn a_hung_item_is_charged_and_its_worker_restarted() {
    let _s = serial();
    let _dog = Watchdog::arm("timeout restart", Duration::from_secs(60));
    let p = pipeline();
    // SLEEP_THEN_PID sleeps the given ms: item 5 sleeps 60 s, beyond the 300 ms limit, on
    // every worker it is given to, so it is charged three times and fails the stage; items
    // handed over meanwhile are not lost.
    let q = p
        .source((0..20u64).map(|i| (i, if i == 5 { 60_000 } else { 1 })))
        .map_task(&builtin::SLEEP_THEN_PID)
        .processes(2)
        .item_timeout(Duration::from_millis(300))
        .restart_workers(10)
        .name("hangs");
    let started = Instant::now();
    let err = run_to_error(p, q);
    println!("failed after {:?}", started.elapsed());
    let f = &err.failures()[0];
    assert_eq!(f.seq, Some(5));
    assert!(f.message.contains("3 times"), "{}", f.message);
    assert!(f.message.contains("ran longer than"), "{}", f.message);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_no_children();
}

#[test]
fn a_restarted_worker_killed_before_its_handshake_is_restarted_again() {
    use std::os::unix::fs::PermissionsExt;
    let _s = serial();
    let _dog = Watchdog::arm("killed before the handshake", Duration::from_secs(60));
    // Launch 1 serves until the test kills it; launch 2 is killed before it can greet (the
    // script SIGKILLs itself); launch 3 serves to the end.
    let dir = std::env::temp_dir().join(format!("skorche-early-death-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let count = dir.join("launches");
    let script = dir.join("worker.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nn=$(cat '{c}' 2>/dev/null || echo 0)\nn=$((n + 1))\necho $n > '{c}'\n\
             if [ \"$n\" = 2 ]; then kill -9 $$; fi\nexec '{TEST_WORKER}' \"$@\"\n",
            c = count.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    const N: u64 = 1_000_000;
    let p = Pipeline::new();
    p.worker_program(&script);
    let q = p
        .source(0..N)
        .map_task(&builtin::IDENTITY_U64)
        .processes(1)
        .restart_workers(5)
        .name("twice");
    let mut out = p.run_iter(q).unwrap();
    let mut got = vec![out.next().unwrap().unwrap()];
    for victim in worker_children_of(me()) {
        let _ = kill(Pid::from_raw(victim), Signal::SIGKILL);
    }
    let (rest, report) = out.collect_report().unwrap();
    got.extend(rest);
    got.sort_unstable();
    assert!(got.iter().copied().eq(0..N), "not the input");
    let launches: u32 = std::fs::read_to_string(&count)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(launches, 3);
    assert_eq!(report.stage("twice").unwrap().restarts, 2);
    let _ = std::fs::remove_dir_all(&dir);
    assert_no_children();
}
