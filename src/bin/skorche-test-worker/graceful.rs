//! `skorche-test-worker drive-graceful <n-items> <item-ms> <grace-ms> [linger]`: a driver
//! whose pipeline stops gracefully on SIGINT/SIGTERM (`Pipeline::stop_on_signals`), for
//! tests/stop_signals.rs.
//!
//! The pipeline: `0..n` → `(i, item-ms)` → `sleep_then_pid` in 2 worker processes (this
//! binary) named `graceful_sleep`, grace period `grace-ms`. Prints `started <pid>` first.
//! - If the run ends normally: prints `done <count>`, exits 0.
//! - If it is interrupted: prints `interrupted <yielded> <outcome> <items_out>` (items read
//!   from the output, `Drained`/`GraceExpired`/`Forced`, and the `graceful_sleep` stage's
//!   `items_out` in the report), then the report table, and exits 130 (128 + SIGINT, the
//!   shell's code for a run ended by Ctrl-C) — unless `linger` was given: then it prints
//!   `lingering` and sleeps up to 120 s, for a test to check that a signal now does what
//!   it did before the run (terminates the process).
//! - On another error: prints it to stderr, exits 1.

use std::io::Write;
use std::time::Duration;

use skorche::PipelineError;

/// Exit code of an interrupted run.
const INTERRUPTED: i32 = 130;

pub fn drive(args: &[String]) -> i32 {
    let num = |i: usize, default: u64| {
        args.get(i)
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(default)
    };
    let (n, item_ms, grace_ms) = (num(0, u64::MAX), num(1, 2), num(2, 10_000));
    let linger = args.get(3).map(String::as_str) == Some("linger");
    let me = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("drive-graceful: cannot find my own path: {e}");
            return 3;
        }
    };
    let p = skorche::Pipeline::new();
    p.worker_program(me)
        .stop_on_signals()
        .grace_period(Duration::from_millis(grace_ms));
    let q = p
        .source(0..n)
        .map(move |i| (i, item_ms))
        .map_task(&skorche::worker::builtin::SLEEP_THEN_PID)
        .processes(2)
        .name("graceful_sleep");
    println!("started {}", std::process::id());
    let _ = std::io::stdout().flush();
    let out = match p.run_iter(q) {
        Ok(out) => out,
        Err(e) => {
            eprintln!("drive-graceful: {e}");
            return 1;
        }
    };
    let mut count = 0u64;
    for r in out {
        match r {
            Ok(_) => count += 1,
            Err(PipelineError::Interrupted(stop)) => {
                let items_out = stop
                    .report
                    .stage("graceful_sleep")
                    .map_or(u64::MAX, |s| s.items_out);
                println!("interrupted {count} {:?} {items_out}", stop.outcome);
                println!("{}", stop.report);
                let _ = std::io::stdout().flush();
                if linger {
                    println!("lingering");
                    let _ = std::io::stdout().flush();
                    std::thread::sleep(Duration::from_secs(120));
                    return 0;
                }
                return INTERRUPTED;
            }
            Err(e) => {
                eprintln!("drive-graceful: {e}");
                return 1;
            }
        }
    }
    println!("done {count}");
    0
}
