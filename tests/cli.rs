//! `skorche::cli`: a driver's pipelines run, drawn and reported by name, with their own
//! arguments, and the cache store managed from the command line.

#[path = "support/cache.rs"]
mod cache_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use cache_support::StoreDir;
use skorche::cli::{Cli, CliError};
use skorche::{BoxError, Pipeline, Queue};

#[derive(clap::Args)]
struct Count {
    /// How many items.
    #[arg(long)]
    count: u64,
    /// Added to each item.
    #[arg(long, default_value_t = 0)]
    plus: u64,
}

/// A driver with one cached pipeline, `add`, whose task calls are counted.
fn driver(calls: Arc<AtomicUsize>) -> Cli {
    Cli::new("driver").pipeline(
        "add",
        "add --plus to 0..count",
        move |p: &Pipeline, a: Count| -> Result<Queue<u64>, BoxError> {
            if a.count > 1000 {
                return Err("at most 1000 items".into());
            }
            let calls = calls.clone();
            Ok(p.source(0..a.count)
                .cached()
                .param("plus", &a.plus)
                .map(move |n| {
                    calls.fetch_add(1, Ordering::Relaxed);
                    n + a.plus
                })
                .name("add"))
        },
    )
}

/// Runs `args` (after the program name and `--cache-dir`); stdout and stderr as text.
fn run(cli: &Cli, dir: &StoreDir, args: &[&str]) -> Result<(String, String), CliError> {
    let mut full = vec!["driver", "--cache-dir", dir.path().to_str().unwrap()];
    full.extend_from_slice(args);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    cli.run_from(full, &mut out, &mut err)?;
    Ok((
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    ))
}

#[test]
fn run_prints_outputs_and_a_second_run_reads_them_from_the_cache() {
    let dir = StoreDir::new("cli-run");
    let calls = Arc::new(AtomicUsize::new(0));
    let cli = driver(calls.clone());
    let (out, err) = run(&cli, &dir, &["run", "add", "--count", "3", "--plus", "10"]).unwrap();
    assert_eq!(out, "10\n11\n12\n");
    assert!(err.contains("misses"), "the report goes to stderr: {err}");
    assert_eq!(calls.swap(0, Ordering::Relaxed), 3);

    let (again, err) = run(&cli, &dir, &["run", "add", "--count", "3", "--plus", "10"]).unwrap();
    assert_eq!(again, out);
    assert!(err.contains("hits"));
    assert_eq!(calls.swap(0, Ordering::Relaxed), 0);

    // Another parameter is another stage identity; --no-cache runs everything.
    run(&cli, &dir, &["run", "add", "--count", "3", "--plus", "20"]).unwrap();
    assert_eq!(calls.swap(0, Ordering::Relaxed), 3);
    let (out, _) = run(
        &cli,
        &dir,
        &["run", "add", "--count", "3", "--plus", "10", "--no-cache"],
    )
    .unwrap();
    assert_eq!(out, "10\n11\n12\n");
    assert_eq!(calls.swap(0, Ordering::Relaxed), 3);
}

#[test]
fn report_json_dot_and_mermaid() {
    let dir = StoreDir::new("cli-report");
    let cli = driver(Arc::default());
    run(&cli, &dir, &["run", "add", "--count", "4"]).unwrap();
    let (json, _) = run(&cli, &dir, &["report", "add", "--count", "4", "--json"]).unwrap();
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let add = &report["stages"][1];
    assert_eq!(add["name"], "add");
    assert_eq!(add["cache"]["hits"], 4);
    assert_eq!(add["cache"]["misses"], 0);

    let (dot, _) = run(&cli, &dir, &["dot", "add", "--count", "4"]).unwrap();
    assert!(dot.starts_with("digraph") && dot.contains("add"));
    let (mermaid, _) = run(&cli, &dir, &["mermaid", "add", "--count", "4"]).unwrap();
    assert!(mermaid.starts_with("flowchart") && mermaid.contains("add"));
}

#[test]
fn cache_stats_gc_and_clear() {
    let dir = StoreDir::new("cli-cache");
    let cli = driver(Arc::default());
    run(&cli, &dir, &["run", "add", "--count", "5"]).unwrap();
    let (stats, _) = run(&cli, &dir, &["cache", "stats", "--json"]).unwrap();
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["entries"], 5);
    let (gc, _) = run(&cli, &dir, &["cache", "gc"]).unwrap();
    assert!(gc.starts_with("evicted 0 entries"), "{gc}");
    run(&cli, &dir, &["cache", "clear"]).unwrap();
    let (stats, _) = run(&cli, &dir, &["cache", "stats"]).unwrap();
    assert!(stats.contains("entries  0"), "{stats}");
}

#[test]
fn bad_command_lines_and_refused_arguments_are_errors() {
    let dir = StoreDir::new("cli-errors");
    let cli = driver(Arc::default());
    let usage = |args: &[&str]| match run(&cli, &dir, args) {
        Err(CliError::Usage(e)) => e.kind(),
        other => panic!("expected a usage error, got {other:?}"),
    };
    assert_eq!(
        usage(&["run", "nope"]),
        clap::error::ErrorKind::InvalidSubcommand
    );
    assert_eq!(
        usage(&["run", "add"]),
        clap::error::ErrorKind::MissingRequiredArgument
    );
    assert_eq!(
        usage(&["run", "add", "--count", "x"]),
        clap::error::ErrorKind::ValueValidation
    );
    match run(&cli, &dir, &["run", "add", "--count", "5000"]) {
        Err(CliError::Declare { name, source }) => {
            assert_eq!(name, "add");
            assert_eq!(source.to_string(), "at most 1000 items");
        }
        other => panic!("expected the pipeline's refusal, got {other:?}"),
    }
    let (list, _) = run(&cli, &dir, &["list"]).unwrap();
    assert!(list.starts_with("add") && list.contains("add --plus to 0..count"));
}
