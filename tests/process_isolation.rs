//! Issue #8, isolation: a worker runs in its own process group and what its task spawned
//! dies with it; a run leaves nothing in the temp directory (even when the driver is
//! SIGKILLed during the handshake) and no skorche thread behind; a worker can open only its
//! own rings.
//!
//! Today (HEAD 04ceb65, before the fix; release build, 2 cores), every test fails:
//! - normal run: the `sleep 30` children of the workers are alive 1 s after the run (6 of
//!   6); they were in the driver's own process group.
//! - failed run: 3 of 3 sleepers alive 1 s after the error.
//! - temp directory: a normal run leaves nothing, but 5 of 5 drivers SIGKILLed during the
//!   handshake left 1 or 2 ipc-channel rendezvous directories (`.tmpXXXXXX/`) each.
//! - threads: `skorche-spawner` (the client's process-wide fork thread) is alive after each
//!   of the 20 runs. In some runs (3 of 20 rounds once, 0 of 20 another time) the last
//!   stage's collector, a scoped thread never joined explicitly, was also still running
//!   (`skorche:ids_aga`, state R, returning from a syscall, gone 30-70 µs later).
//! - memfds: each worker opened 4 of the driver's memfds read-write through
//!   `/proc/<ppid>/fd`.

#[path = "support/load.rs"]
mod load;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use load::process::{children_of, me, wait_exited, Watchdog, TEST_WORKER};
use load::{pgrp_of, private_worker, scratch_dir, skorche_threads};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use skorche::worker::builtin;
use skorche::Pipeline;

/// The thread test counts this process's threads, and the others spawn and kill processes:
/// one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// How long the spawned `sleep` processes would live if nothing killed them.
const SLEEP_SECS: u64 = 30;

/// Asserts that the `sleep` processes spawned by tasks are gone within 1 s.
fn assert_sleepers_die(case: &str, sleepers: &[i32]) {
    match wait_exited(sleepers, Duration::from_secs(1)) {
        Ok(took) => println!("{case}: sleepers {sleepers:?} gone {took:?} after the run"),
        Err(alive) => panic!(
            "{case}: processes spawned by the task are alive 1 s after the run: {alive:?} of \
             {sleepers:?}"
        ),
    }
}

#[test]
fn what_a_task_spawned_dies_with_its_worker_after_a_normal_run() {
    let _serial = serial();
    let _dog = Watchdog::arm("sleepers, normal run", Duration::from_secs(60));
    const N: usize = 6;
    // The source ends only once the reader has looked at every sleeper, so the workers are
    // still running when their sleepers' process groups are read.
    let (looked, wait_looked) = std::sync::mpsc::channel::<()>();
    let items = std::iter::repeat_n(SLEEP_SECS, N).chain(std::iter::from_fn(move || {
        let _ = wait_looked.recv_timeout(Duration::from_secs(20));
        None
    }));
    let p = Pipeline::new();
    p.worker_program(private_worker("sleepers-ok"));
    let q = p
        .source(items)
        .map_task(&builtin::SPAWN_SLEEPER)
        .processes(2)
        .name("spawns");
    let mut sleepers = Vec::new();
    // (pid, its process group) read while the run is going.
    let mut groups = Vec::new();
    for r in p.run_iter(q).unwrap() {
        let pid = r.unwrap() as i32;
        if let Some(g) = pgrp_of(pid) {
            groups.push((pid, g));
        }
        sleepers.push(pid);
        if sleepers.len() == N {
            let _ = looked.send(());
        }
    }
    let ours = pgrp_of(me()).unwrap();
    println!("sleepers (pid, process group) during the run: {groups:?}; ours {ours}");
    assert_sleepers_die("normal run", &sleepers);
    assert!(!groups.is_empty(), "no sleeper seen alive during the run");
    assert!(
        groups.iter().all(|&(_, g)| g != ours),
        "a worker shares the driver's process group {ours}: {groups:?}"
    );
}

#[test]
fn what_a_task_spawned_dies_with_its_worker_after_an_error() {
    let _serial = serial();
    let _dog = Watchdog::arm("sleepers, failed run", Duration::from_secs(60));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let p = Pipeline::new();
    p.worker_program(private_worker("sleepers-err"));
    let q = p
        .source(vec![SLEEP_SECS; 20])
        .map_task(&builtin::SPAWN_SLEEPER)
        .processes(2)
        .name("spawns")
        .try_map(move |pid: u64| {
            let mut seen = seen2.lock().unwrap();
            seen.push(pid as i32);
            if seen.len() == 3 {
                Err("the third sleeper fails the run")
            } else {
                Ok(pid)
            }
        })
        .name("fails");
    let err = p
        .run_iter(q)
        .unwrap()
        .collect::<Result<Vec<u64>, _>>()
        .unwrap_err();
    println!("{err}");
    let sleepers = seen.lock().unwrap().clone();
    assert_eq!(sleepers.len(), 3);
    assert_sleepers_die("failed run", &sleepers);
}

/// Spawns `skorche-test-worker drive <n>` with `TMPDIR` set to `tmp`.
fn driver_in(tmp: &Path, items: u64) -> std::process::Child {
    Command::new(TEST_WORKER)
        .args(["drive", &items.to_string()])
        .env("TMPDIR", tmp)
        .stdout(Stdio::null())
        .spawn()
        .expect("spawning the driver")
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A driver process runs with its own empty `TMPDIR`: after a normal run, and after a
/// SIGKILL while its workers are in their handshake, the directory is empty again.
#[test]
fn nothing_is_left_in_the_temp_directory() {
    let _serial = serial();
    let _dog = Watchdog::arm("temp directory", Duration::from_secs(120));
    let root = scratch_dir("tmpdir");

    let tmp = root.join("normal");
    std::fs::create_dir_all(&tmp).unwrap();
    let status = driver_in(&tmp, 50).wait().unwrap();
    assert!(status.success(), "{status:?}");
    let normal_left = entries(&tmp);
    println!("normal run: left {normal_left:?}");

    let mut leaks = Vec::new();
    const ROUNDS: usize = 5;
    for round in 0..ROUNDS {
        let tmp = root.join(format!("killed-{round}"));
        std::fs::create_dir_all(&tmp).unwrap();
        let mut driver = driver_in(&tmp, 100_000_000);
        let pid = driver.id() as i32;
        let start = Instant::now();
        while children_of(pid).is_empty() {
            assert!(start.elapsed() < Duration::from_secs(30), "no worker");
            std::thread::yield_now();
        }
        let mut seen = children_of(pid);
        kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
        seen.extend(children_of(pid));
        driver.wait().unwrap();
        wait_exited(&seen, Duration::from_secs(5))
            .unwrap_or_else(|alive| panic!("round {round}: workers survive: {alive:?}"));
        let left = entries(&tmp);
        println!("killed during the handshake, round {round}: left {left:?}");
        if !left.is_empty() {
            leaks.push((round, left));
        }
    }
    let _ = std::fs::remove_dir_all(&root);
    assert!(
        normal_left.is_empty(),
        "a normal run left {normal_left:?} in TMPDIR"
    );
    assert!(
        leaks.is_empty(),
        "{} of {ROUNDS} killed drivers left entries in TMPDIR: {leaks:?}",
        leaks.len()
    );
}

/// Right after `run()` returns, no thread of this process whose name starts with `skorche`
/// (`skorche:<stage>`, `skorche:supervisor`, but also `skorche-spawner`, `skorche-accept-*`)
/// is still running. Threads already exiting (`PF_EXITING` set) are not counted: a joined
/// thread may stay listed for a few µs while the kernel finishes its exit.
#[test]
fn no_skorche_thread_outlives_a_process_run() {
    let _serial = serial();
    let _dog = Watchdog::arm("threads", Duration::from_secs(60));
    let program = private_worker("threads");
    let mut leftovers = Vec::new();
    for round in 0..20 {
        let p = Pipeline::new();
        p.worker_program(&program);
        let q = p
            .source(0..2_000u64)
            .map_task(&builtin::IDENTITY_U64)
            .processes(2)
            .name("ids")
            .map_task(&builtin::IDENTITY_U64)
            .processes(2)
            .name("ids_again");
        drop(q);
        p.run().unwrap();
        let left = skorche_threads();
        if !left.is_empty() {
            leftovers.push((round, left));
        }
    }
    println!("threads left after run(): {leftovers:?}");
    assert!(
        leftovers.is_empty(),
        "threads alive after run() returned (round, names): {leftovers:?}"
    );
}

/// From inside a task, a worker tries to open read-write every memfd its parent (the
/// driver) holds, through `/proc/<ppid>/fd`: it must not manage a single one (its own rings
/// come by inheritance).
#[test]
fn a_worker_cannot_open_the_drivers_memfds() {
    let _serial = serial();
    let _dog = Watchdog::arm("memfds", Duration::from_secs(60));
    let p = Pipeline::new();
    p.worker_program(private_worker("memfds"));
    let q = p
        .source(0..4u64)
        .map_task(&builtin::OPEN_PARENT_MEMFDS)
        .processes(2)
        .name("snoop");
    let opened: Vec<u64> = p.run_iter(q).unwrap().collect::<Result<_, _>>().unwrap();
    println!("memfds of the driver opened read-write by its workers: {opened:?}");
    assert!(
        opened.iter().all(|&n| n == 0),
        "workers opened the driver's memfds: {opened:?}"
    );
}
