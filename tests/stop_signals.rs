//! SIGINT/SIGTERM to a driver whose pipeline opted in with `Pipeline::stop_on_signals`
//! (issue #9): the first signal stops it gracefully and it prints its report; a second one
//! aborts at once; afterwards a signal does what it did before (terminates the driver); no
//! worker and no /dev/shm entry is left. Without the opt-in, tests/fault_sigint.rs holds.
#[path = "support/process.rs"]
mod support;

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use support::*;

/// Each test checks that no child is left: they run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// `skorche-test-worker drive-graceful`'s exit code after an interrupted run.
const INTERRUPTED: i32 = 130;

/// A driver started with `drive-graceful <args>`, its stdout, and its two workers.
struct Driver {
    child: Child,
    stdout: BufReader<ChildStdout>,
    workers: Vec<i32>,
}

impl Driver {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(TEST_WORKER)
            .arg("drive-graceful")
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawning the driver");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let line = read_line(&mut stdout);
        assert!(line.starts_with("started"), "{line:?}");
        let pid = child.id() as i32;
        let start = Instant::now();
        let workers = loop {
            let w = worker_children_of(pid);
            if w.len() == 2 {
                break w;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "workers: {w:?}");
            std::thread::sleep(Duration::from_millis(5));
        };
        // Let items flow.
        std::thread::sleep(Duration::from_millis(300));
        Driver {
            child,
            stdout,
            workers,
        }
    }

    fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), sig).unwrap();
    }

    fn alive(&self) -> bool {
        !has_exited(self.child.id() as i32)
    }

    /// The `interrupted <yielded> <outcome> <items_out>` line and the report after it.
    fn read_interrupted(&mut self) -> (u64, String, u64, String) {
        let line = read_line(&mut self.stdout);
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields.first(), Some(&"interrupted"), "{line:?}");
        let num = |i: usize| fields[i].parse::<u64>().unwrap();
        let mut report = String::new();
        loop {
            let l = read_line(&mut self.stdout);
            report.push_str(&l);
            if l.starts_with("total wall time") || l.is_empty() {
                break;
            }
        }
        (num(1), fields[2].to_string(), num(3), report)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // A failed test must not leave its driver behind for the next one.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_line(r: &mut impl BufRead) -> String {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    line
}

/// Waits for every worker of `d` to exit; checks no /dev/shm entry is left.
fn assert_workers_gone(d: &Driver, shm: &std::collections::BTreeSet<String>) {
    wait_exited(&d.workers, Duration::from_secs(5))
        .unwrap_or_else(|alive| panic!("workers still alive after 5 s: {alive:?}"));
    assert_no_new_shm(shm);
}

#[test]
fn sigint_to_a_driver_with_stop_on_signals_prints_its_report() {
    let _serial = serial();
    let shm = shm_entries();
    let _dog = Watchdog::arm("graceful sigint", LIMIT);
    // Endless in practice; each item sleeps 2 ms; grace 10 s.
    let mut d = Driver::start(&["100000000", "2", "10000"]);
    d.signal(Signal::SIGINT);
    let sent = Instant::now();
    let (yielded, outcome, items_out, report) = d.read_interrupted();
    let status = d.child.wait().unwrap();
    let took = sent.elapsed();
    println!("SIGINT -> driver exited in {took:?}: {status:?}\n{report}");
    assert_eq!(status.code(), Some(INTERRUPTED), "{status:?}");
    assert_eq!(outcome, "Drained");
    assert!(yielded > 0);
    assert_eq!(yielded, items_out, "every item the stage emitted was read");
    assert!(report.contains("graceful_sleep"), "{report}");
    assert!(
        took < Duration::from_secs(10),
        "longer than the grace period"
    );
    assert_workers_gone(&d, &shm);
    assert_no_children();
}

#[test]
fn a_second_sigint_stops_at_once() {
    let _serial = serial();
    let shm = shm_entries();
    let _dog = Watchdog::arm("second sigint", LIMIT);
    // Every item sleeps an hour: the drain cannot finish; grace 60 s.
    let mut d = Driver::start(&["100000000", "3600000", "60000"]);
    d.signal(Signal::SIGINT);
    std::thread::sleep(Duration::from_millis(300));
    assert!(d.alive(), "the driver waits for its items in flight");
    d.signal(Signal::SIGINT);
    let second = Instant::now();
    let (yielded, outcome, _, report) = d.read_interrupted();
    let status = d.child.wait().unwrap();
    let took = second.elapsed();
    println!("second SIGINT -> driver exited in {took:?}: {status:?}\n{report}");
    assert_eq!(status.code(), Some(INTERRUPTED), "{status:?}");
    assert_eq!(outcome, "Forced");
    assert_eq!(yielded, 0);
    assert!(
        took < Duration::from_secs(60),
        "the second signal waited for the grace"
    );
    assert_workers_gone(&d, &shm);
    assert_no_children();
}

#[test]
fn after_the_run_a_signal_does_what_it_did_before() {
    let _serial = serial();
    let shm = shm_entries();
    let _dog = Watchdog::arm("signal after the run", LIMIT);
    let mut d = Driver::start(&["100000000", "2", "10000", "linger"]);
    // SIGTERM stops the run gracefully too.
    d.signal(Signal::SIGTERM);
    let (_, outcome, _, _) = d.read_interrupted();
    assert_eq!(outcome, "Drained");
    assert_eq!(read_line(&mut d.stdout).trim(), "lingering");
    assert_workers_gone(&d, &shm);
    assert!(d.alive(), "the driver lingers after its run");
    // No run watches the signals now: SIGINT terminates the driver, as by default.
    d.signal(Signal::SIGINT);
    let status = d.child.wait().unwrap();
    println!("SIGINT after the run: {status:?}");
    assert_eq!(status.signal(), Some(Signal::SIGINT as i32), "{status:?}");
    let mut rest = String::new();
    d.stdout.read_to_string(&mut rest).unwrap();
    assert!(rest.is_empty(), "{rest:?}");
    assert_no_children();
}
