//! A command line for a driver binary: declare pipelines by name, hand them to one call.
//!
//! ```text
//! driver list                                   the pipelines and what they do
//! driver run NAME [--no-cache] [--progress] [ARGS]   run; outputs as JSON lines on stdout
//! driver dot NAME [ARGS]                        Graphviz of the declared graph (runs nothing)
//! driver mermaid NAME [ARGS]                    Mermaid of the declared graph (runs nothing)
//! driver report NAME [--json] [ARGS]            run, print the report (table or JSON)
//! driver cache stats|gc|clear [--json]          the store of cached results
//! driver --cache-dir DIR ...                    another store (default .skorche/cache)
//! ```
//!
//! A pipeline is a function of its arguments (a [`clap::Args`] type, so a pipeline can
//! take a directory, a count, a flag) that declares stages on a [`Pipeline`] and returns
//! the queue whose items are the pipeline's output:
//!
//! ```
//! use skorche::cli::Cli;
//! use skorche::{BoxError, Pipeline, Queue};
//!
//! #[derive(clap::Args)]
//! struct Squares {
//!     /// How many numbers.
//!     #[arg(long, default_value_t = 3)]
//!     count: u64,
//! }
//!
//! fn squares(p: &Pipeline, args: Squares) -> Result<Queue<u64>, BoxError> {
//!     Ok(p.source(0..args.count).cached().version("1").map(|n| n * n).name("square"))
//! }
//!
//! # let dir = std::env::temp_dir().join(format!("skorche-cli-doc-{}", std::process::id()));
//! # let dir = dir.to_str().unwrap();
//! let cli = Cli::new("numbers").pipeline("squares", "squares of 0..count", squares);
//! let mut out = Vec::new();
//! cli.run_from(["numbers", "--cache-dir", dir, "run", "squares", "--count", "4"], &mut out, &mut std::io::sink())?;
//! assert_eq!(String::from_utf8(out).unwrap(), "0\n1\n4\n9\n");
//! # std::fs::remove_dir_all(dir).ok();
//! # Ok::<(), skorche::cli::CliError>(())
//! ```
//!
//! In `main`, [`Cli::run`] reads the process's arguments, prints errors and `--help` the
//! usual way, and gives the exit code. Call [`enter`](crate::enter) first if a pipeline has
//! process stages. `examples/cli.rs` is a whole driver.

use std::io::Write;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Arg, ArgAction, ArgMatches, Command, FromArgMatches};
use serde::Serialize;

use crate::cache::{CacheError, Store};
use crate::{BoxError, Pipeline, PipelineError, Queue, Report};

/// What a command failed with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The command line does not parse (or asked for `--help` or `--version`).
    #[error(transparent)]
    Usage(#[from] clap::Error),
    /// The pipeline's function refused its arguments.
    #[error("declaring pipeline '{name}': {source}")]
    Declare {
        /// The pipeline.
        name: String,
        /// What its function returned.
        #[source]
        source: BoxError,
    },
    /// The run failed.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// The cache store failed.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// Output could not be written.
    #[error("writing output: {0}")]
    Io(#[from] std::io::Error),
    /// An output item or the report could not be written as JSON.
    #[error("writing JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// A driver's pipelines and the command line that runs them.
///
/// Created with [`Cli::new`], given pipelines with [`Cli::pipeline`], run with
/// [`Cli::run`] (in `main`) or [`Cli::run_from`] (any arguments and outputs).
pub struct Cli {
    name: String,
    pipelines: Vec<Entry>,
}

impl std::fmt::Debug for Cli {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.pipelines.iter().map(|e| &e.name).collect();
        f.debug_struct("Cli")
            .field("name", &self.name)
            .field("pipelines", &names)
            .finish()
    }
}

struct Entry {
    name: String,
    about: String,
    def: Box<dyn Declare>,
}

/// A pipeline's declaration with its argument type erased.
trait Declare {
    fn args(&self, cmd: Command) -> Command;
    fn declare(&self, m: &ArgMatches) -> Result<Declared, BoxError>;
}

/// A declared pipeline, and how to run it to the end writing its outputs.
struct Declared {
    pipeline: Pipeline,
    drain: Drain,
}

/// Runs the pipeline, writing each output (unless told not to) and calling the progress
/// callback with the count so far.
type Drain = Box<dyn FnOnce(Pipeline, Sink<'_>) -> Result<Report, CliError>>;

/// Where a run's outputs and progress go.
struct Sink<'a> {
    out: Option<&'a mut dyn Write>,
    progress: Option<&'a mut dyn Write>,
}

struct Def<A, T, F> {
    f: F,
    _t: PhantomData<fn(A) -> T>,
}

impl<A, T, F> Declare for Def<A, T, F>
where
    A: clap::Args + FromArgMatches,
    T: Serialize + Send + 'static,
    F: Fn(&Pipeline, A) -> Result<Queue<T>, BoxError>,
{
    fn args(&self, cmd: Command) -> Command {
        A::augment_args(cmd)
    }

    fn declare(&self, m: &ArgMatches) -> Result<Declared, BoxError> {
        let args = A::from_arg_matches(m)?;
        let pipeline = Pipeline::new();
        let output = (self.f)(&pipeline, args)?;
        let drain: Drain = Box::new(move |p: Pipeline, sink: Sink<'_>| drain(p, output, sink));
        Ok(Declared { pipeline, drain })
    }
}

/// How often `--progress` prints.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

fn drain<T: Serialize + Send + 'static>(
    p: Pipeline,
    output: Queue<T>,
    mut sink: Sink<'_>,
) -> Result<Report, CliError> {
    let started = Instant::now();
    let mut last = started;
    let mut items = p.run_iter(output)?;
    let mut n = 0u64;
    for item in items.by_ref() {
        let item = item?;
        n += 1;
        if let Some(out) = sink.out.as_deref_mut() {
            serde_json::to_writer(&mut *out, &item)?;
            out.write_all(b"\n")?;
        }
        if let Some(progress) = sink.progress.as_deref_mut() {
            if last.elapsed() >= PROGRESS_EVERY {
                last = Instant::now();
                let secs = started.elapsed().as_secs_f64();
                write!(progress, "\r{n} outputs in {secs:.1} s")?;
                progress.flush()?;
            }
        }
    }
    if let Some(progress) = sink.progress {
        writeln!(
            progress,
            "\r{n} outputs in {:.1} s",
            started.elapsed().as_secs_f64()
        )?;
    }
    items
        .report()
        .cloned()
        .ok_or_else(|| PipelineError::Runtime("the run ended without a report".into()).into())
}

impl Cli {
    /// A command line named `name` (the driver's binary name, shown in `--help`).
    pub fn new(name: impl Into<String>) -> Cli {
        Cli {
            name: name.into(),
            pipelines: Vec::new(),
        }
    }

    /// Adds a pipeline: `declare` gets a new [`Pipeline`] and the arguments parsed from the
    /// command line after the pipeline's name, declares the stages and returns the output
    /// queue (its items are written as JSON lines by `run`).
    ///
    /// # Panics
    /// If another pipeline has this name.
    pub fn pipeline<A, T, F>(mut self, name: &str, about: &str, declare: F) -> Cli
    where
        A: clap::Args + FromArgMatches + 'static,
        T: Serialize + Send + 'static,
        F: Fn(&Pipeline, A) -> Result<Queue<T>, BoxError> + 'static,
    {
        assert!(
            self.pipelines.iter().all(|e| e.name != name),
            "two pipelines are named '{name}'"
        );
        self.pipelines.push(Entry {
            name: name.to_string(),
            about: about.to_string(),
            def: Box::new(Def {
                f: declare,
                _t: PhantomData,
            }),
        });
        self
    }

    fn command(&self) -> Command {
        let per_pipeline = |cmd: &str, about: &str, extra: &[Arg]| {
            let mut c = Command::new(cmd.to_string())
                .about(about.to_string())
                .subcommand_required(true)
                .subcommand_value_name("NAME");
            for e in &self.pipelines {
                // The pipeline's own words win over its argument type's doc comment.
                let sub = e.def.args(Command::new(e.name.clone()));
                c = c.subcommand(sub.about(e.about.clone()).args(extra.iter().cloned()));
            }
            c
        };
        let flag = |name: &'static str, help: &'static str| {
            Arg::new(name)
                .long(name)
                .action(ArgAction::SetTrue)
                .help(help)
        };
        Command::new(self.name.clone())
            .subcommand_required(true)
            .arg(
                Arg::new("cache-dir")
                    .long("cache-dir")
                    .global(true)
                    .value_name("DIR")
                    .value_parser(clap::value_parser!(PathBuf))
                    .help(format!(
                        "The store of cached results [default: {}]",
                        crate::cache::DEFAULT_DIR
                    )),
            )
            .subcommand(Command::new("list").about("The pipelines and what they do"))
            .subcommand(per_pipeline(
                "run",
                "Run a pipeline; its outputs go to stdout as JSON lines, the report to stderr",
                &[
                    flag(
                        "no-cache",
                        "Run every task: read and write no cached result",
                    ),
                    flag(
                        "progress",
                        "Print the count of outputs on stderr as they come",
                    ),
                ],
            ))
            .subcommand(per_pipeline(
                "dot",
                "Print the pipeline's graph as Graphviz dot, without running it",
                &[],
            ))
            .subcommand(per_pipeline(
                "mermaid",
                "Print the pipeline's graph as a Mermaid flowchart, without running it",
                &[],
            ))
            .subcommand(per_pipeline(
                "report",
                "Run a pipeline (outputs discarded) and print its report",
                &[
                    flag("json", "The report as JSON instead of a table"),
                    flag(
                        "no-cache",
                        "Run every task: read and write no cached result",
                    ),
                ],
            ))
            .subcommand(
                Command::new("cache")
                    .about("The store of cached results")
                    .subcommand_required(true)
                    .subcommand(
                        Command::new("stats")
                            .about("Entries and bytes in the store")
                            .arg(flag("json", "As JSON")),
                    )
                    .subcommand(Command::new("gc").about(
                        "Evict past the size limit; drop damaged entries and unreferenced files",
                    ))
                    .subcommand(Command::new("clear").about("Remove every cached result")),
            )
    }

    /// Parses the process's arguments and runs the command: `main` returns what this
    /// returns. Errors go to stderr (`--help` to stdout, with success).
    pub fn run(self) -> ExitCode {
        let mut stdout = std::io::stdout().lock();
        let mut stderr = std::io::stderr();
        match self.run_from(std::env::args_os(), &mut stdout, &mut stderr) {
            Ok(()) => ExitCode::SUCCESS,
            Err(CliError::Usage(e)) => {
                let _ = e.print();
                ExitCode::from(e.exit_code().clamp(0, 255) as u8)
            }
            Err(e) => {
                let _ = writeln!(stderr, "error: {e}");
                let mut source = std::error::Error::source(&e);
                while let Some(cause) = source {
                    let _ = writeln!(stderr, "  caused by: {cause}");
                    source = cause.source();
                }
                ExitCode::FAILURE
            }
        }
    }

    /// Runs the command given by `args` (the first is the program's name), writing what it
    /// prints to `out` and the report and progress of `run` to `err`.
    ///
    /// # Errors
    /// A command line that does not parse ([`CliError::Usage`], also for `--help`), a
    /// pipeline that refused its arguments, a failed run, or a store that failed.
    pub fn run_from<I, S>(
        &self,
        args: I,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<(), CliError>
    where
        I: IntoIterator<Item = S>,
        S: Into<std::ffi::OsString> + Clone,
    {
        let m = self.command().try_get_matches_from(args)?;
        let dir = m
            .get_one::<PathBuf>("cache-dir")
            .cloned()
            .unwrap_or_else(|| PathBuf::from(crate::cache::DEFAULT_DIR));
        let (cmd, sub) = m.subcommand().expect("a subcommand is required");
        match cmd {
            "list" => {
                for e in &self.pipelines {
                    writeln!(out, "{:<20} {}", e.name, e.about)?;
                }
                Ok(())
            }
            "cache" => cache(&dir, sub, out),
            _ => {
                let (name, args) = sub.subcommand().expect("a pipeline name is required");
                let entry = self
                    .pipelines
                    .iter()
                    .find(|e| e.name == name)
                    .expect("clap accepts only declared names");
                let Declared { pipeline, drain } =
                    entry
                        .def
                        .declare(args)
                        .map_err(|source| CliError::Declare {
                            name: name.to_string(),
                            source,
                        })?;
                pipeline.cache_dir(&dir);
                let flag = |f: &str| args.try_get_one::<bool>(f).ok().flatten() == Some(&true);
                pipeline.use_cache(!flag("no-cache"));
                match cmd {
                    "dot" => Ok(writeln!(out, "{}", pipeline.to_dot())?),
                    "mermaid" => Ok(writeln!(out, "{}", pipeline.to_mermaid())?),
                    "run" => {
                        let progress = flag("progress");
                        let sink = Sink {
                            out: Some(out),
                            progress: if progress { Some(&mut *err) } else { None },
                        };
                        let report = drain(pipeline, sink)?;
                        writeln!(err, "{report}")?;
                        Ok(())
                    }
                    "report" => {
                        let sink = Sink {
                            out: None,
                            progress: None,
                        };
                        let report = drain(pipeline, sink)?;
                        if flag("json") {
                            serde_json::to_writer_pretty(&mut *out, &report)?;
                            writeln!(out)?;
                        } else {
                            writeln!(out, "{report}")?;
                        }
                        Ok(())
                    }
                    other => unreachable!("subcommand '{other}' is declared above"),
                }
            }
        }
    }
}

fn cache(dir: &std::path::Path, m: &ArgMatches, out: &mut dyn Write) -> Result<(), CliError> {
    let mut store = Store::open(dir)?;
    match m.subcommand() {
        Some(("stats", m)) => {
            let stats = store.stats()?;
            if m.get_flag("json") {
                serde_json::to_writer(&mut *out, &stats)?;
                writeln!(out)?;
            } else {
                writeln!(out, "store    {}", dir.display())?;
                writeln!(out, "entries  {}", stats.entries)?;
                writeln!(out, "bytes    {}", stats.bytes)?;
                writeln!(out, "objects  {}", stats.objects)?;
                writeln!(out, "limit    {}", stats.limit)?;
            }
        }
        Some(("gc", _)) => {
            let gc = store.gc()?;
            writeln!(
                out,
                "evicted {} entries, dropped {} damaged, removed {} stray files",
                gc.evicted, gc.damaged, gc.files
            )?;
        }
        Some(("clear", _)) => {
            store.clear()?;
            writeln!(out, "cleared {}", dir.display())?;
        }
        _ => unreachable!("a cache subcommand is required"),
    }
    Ok(())
}
