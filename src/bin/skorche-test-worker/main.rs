//! Worker program for the facade's integration tests and benches: hosts skorche's built-in
//! tasks (`skorche::worker::builtin`). Integration tests find it through
//! `env!("CARGO_BIN_EXE_skorche-test-worker")`.
//!
//! `skorche-test-worker drive <n-items>` runs as a driver: a pipeline of `n` items through
//! `sleep_jitter` in 2 worker processes (its own binary as the worker program), printing
//! `started <pid>` first and `done <count>` at the end. The coordinator-kill and Ctrl-C
//! tests use it. `skorche-test-worker drive-graceful ...` is a driver that stops gracefully
//! on SIGINT/SIGTERM and prints its report (see [`graceful`]). `skorche-test-worker
//! drive-cached <dir>` runs a cached task declared with another version than the tests'
//! (see [`versioned`]).
//!
//! Started as a worker with `SKORCHE_TEST_HOSTILE=<mode>` in its environment, it breaks the
//! protocol on purpose instead of serving (see [`hostile`]); the hostile-worker tests start it
//! so through a small wrapper script.

mod graceful;
mod hostile;
mod versioned;

use std::io::Write;

fn main() {
    if let Some(mode) = hostile::requested() {
        hostile::run(&mode);
    }
    skorche::worker::enter();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("drive") {
        let n: u64 = args
            .get(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(1_000_000);
        std::process::exit(drive(n));
    }
    if args.first().map(String::as_str) == Some("drive-graceful") {
        std::process::exit(graceful::drive(&args[1..]));
    }
    if args.first().map(String::as_str) == Some("drive-cached") {
        std::process::exit(versioned::drive(&args[1..]));
    }
    eprintln!(
        "skorche-test-worker is started by a skorche coordinator; it hosts the built-in tasks"
    );
    std::process::exit(2);
}

fn drive(n: u64) -> i32 {
    let me = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("drive: cannot find my own path: {e}");
            return 3;
        }
    };
    let p = skorche::Pipeline::new();
    p.worker_program(me);
    let q = p
        .source(0..n)
        .map_task(&skorche::worker::builtin::SLEEP_JITTER)
        .processes(2)
        .name("drive_sleep");
    println!("started {}", std::process::id());
    let _ = std::io::stdout().flush();
    match p.run_iter(q) {
        Ok(out) => {
            let mut count = 0u64;
            for r in out {
                if let Err(e) = r {
                    eprintln!("drive: {e}");
                    return 1;
                }
                count += 1;
            }
            println!("done {count}");
            0
        }
        Err(e) => {
            eprintln!("drive: {e}");
            1
        }
    }
}
