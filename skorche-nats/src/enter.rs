//! Turning a program into a remote worker from its command line.

use crate::error::NatsError;
use crate::serve::{serve, ServeOptions};

/// The flag that makes a program a remote worker: `--skorche-nats-worker nats://host:4222`.
pub const WORKER_FLAG: &str = "--skorche-nats-worker";

/// Exit code of a worker that refused a run (its task registry differs from the driver's).
pub const EXIT_REFUSED: i32 = 3;

/// Exit code of a worker started with a malformed command line.
pub const EXIT_USAGE: i32 = 2;

/// Exit code of a worker that could not reach or use the server.
pub const EXIT_SERVER: i32 = 1;

/// Call first in `main` of a program whose tasks run on other hosts: started with
/// `--skorche-nats-worker URL [--job NAME] [--threads N] [--once]`, the program serves the
/// job's runs (see [`serve`]) and exits; started otherwise, `enter` returns at once and
/// `main` goes on as the driver.
///
/// Exits 0 after `--once` when its runs have ended, [`EXIT_REFUSED`] when a driver's task
/// registry differs from its own, [`EXIT_USAGE`] on a malformed command line and
/// [`EXIT_SERVER`] when the server cannot be used; the reason goes to stderr.
///
/// ```no_run
/// # #[allow(clippy::needless_doctest_main)]
/// fn main() {
///     skorche_nats::enter();
///     // the driver: declare and run the pipeline
/// }
/// ```
pub fn enter() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == WORKER_FLAG) {
        return;
    }
    let code = match parse(&args) {
        Ok(opts) => match serve(&opts) {
            Ok(_) => 0,
            Err(e) => {
                eprintln!("skorche-nats worker: {e}");
                match e {
                    NatsError::Refused { .. } => EXIT_REFUSED,
                    NatsError::Usage(_) => EXIT_USAGE,
                    _ => EXIT_SERVER,
                }
            }
        },
        Err(e) => {
            eprintln!("skorche-nats worker: {e}");
            EXIT_USAGE
        }
    };
    std::process::exit(code);
}

/// Parses `--skorche-nats-worker URL [--job NAME] [--threads N] [--once]`; other arguments
/// are the program's own and are left alone.
pub fn parse(args: &[String]) -> Result<ServeOptions, NatsError> {
    let value = |flag: &str| -> Result<Option<&String>, NatsError> {
        match args.iter().position(|a| a == flag) {
            None => Ok(None),
            Some(i) => args
                .get(i + 1)
                .filter(|v| !v.starts_with("--"))
                .map(Some)
                .ok_or_else(|| NatsError::Usage(format!("{flag} needs a value"))),
        }
    };
    let url = value(WORKER_FLAG)?
        .ok_or_else(|| NatsError::Usage(format!("{WORKER_FLAG} needs the server's URL")))?;
    let mut opts = ServeOptions::new(url.clone());
    if let Some(job) = value("--job")? {
        opts = opts.job(job.clone());
    }
    if let Some(n) = value("--threads")? {
        let n: usize = n.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
            NatsError::Usage(format!("--threads {n}: expected a positive number"))
        })?;
        opts = opts.threads(n);
    }
    Ok(opts.once(args.iter().any(|a| a == "--once")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_a_worker_command_line() {
        let o = parse(&args(
            "--skorche-nats-worker nats://h:4222 --job j1 --threads 3 --once",
        ))
        .unwrap();
        let d = format!("{o:?}");
        assert!(
            d.contains("nats://h:4222")
                && d.contains("\"j1\"")
                && d.contains("threads: 3")
                && d.contains("once: true"),
            "{d}"
        );
    }

    #[test]
    fn refuses_malformed_command_lines() {
        assert!(matches!(
            parse(&args("--skorche-nats-worker")),
            Err(NatsError::Usage(_))
        ));
        assert!(matches!(
            parse(&args("--skorche-nats-worker nats://h --threads 0")),
            Err(NatsError::Usage(_))
        ));
        assert!(matches!(
            parse(&args("--skorche-nats-worker nats://h --threads --once")),
            Err(NatsError::Usage(_))
        ));
    }
}
