//! A driver with a command line (`skorche::cli`): two pipelines, run, drawn and reported
//! by name, their results cached in `.skorche/cache`.
//!
//! ```text
//! cargo run --release --example cli -- list
//! cargo run --release --example cli -- run wordcount --dir src
//! cargo run --release --example cli -- run wordcount --dir src      # again: every file hits
//! cargo run --release --example cli -- run slow-squares --count 8 --progress
//! cargo run --release --example cli -- run slow-squares --count 8 --no-cache
//! cargo run --release --example cli -- dot wordcount --dir src | dot -Tsvg > wordcount.svg
//! cargo run --release --example cli -- mermaid slow-squares
//! cargo run --release --example cli -- report wordcount --dir src --json
//! cargo run --release --example cli -- cache stats
//! cargo run --release --example cli -- cache gc
//! cargo run --release --example cli -- cache clear
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;
use skorche::cli::Cli;
use skorche::{BoxError, Pipeline, Queue};

/// Counts the words of every file of a directory.
#[derive(clap::Args)]
struct WordCount {
    /// The directory whose files are counted (not recursively).
    #[arg(long)]
    dir: PathBuf,
    /// Counting workers.
    #[arg(long, default_value_t = 2)]
    workers: usize,
}

#[derive(Serialize, serde::Deserialize)]
struct Counted {
    file: PathBuf,
    lines: usize,
    words: usize,
}

fn wordcount(p: &Pipeline, args: WordCount) -> Result<Queue<Counted>, BoxError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(&args.dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    let counted = p
        .source(files)
        .track_files() // keyed by content: an edited file is counted again, no other
        .cached()
        .version("1")
        .try_map(|f| {
            let text = std::fs::read_to_string(f.path())?;
            Ok::<_, std::io::Error>(Counted {
                file: f.path().to_path_buf(),
                lines: text.lines().count(),
                words: text.split_whitespace().count(),
            })
        })
        .name("count")
        .workers(args.workers);
    Ok(counted)
}

/// Squares numbers slowly: a stand-in for an expensive step.
#[derive(clap::Args)]
struct SlowSquares {
    /// How many numbers.
    #[arg(long, default_value_t = 10)]
    count: u64,
    /// Time each square takes.
    #[arg(long, default_value_t = 100)]
    delay_ms: u64,
}

fn slow_squares(p: &Pipeline, args: SlowSquares) -> Result<Queue<u64>, BoxError> {
    let delay = Duration::from_millis(args.delay_ms);
    let squares = p
        .source(0..args.count)
        .cached()
        .version("1")
        .map(move |n: u64| {
            std::thread::sleep(delay);
            n * n
        })
        .name("square")
        .workers(2)
        .ordered();
    Ok(squares)
}

fn main() -> ExitCode {
    skorche::enter();
    Cli::new("cli")
        .pipeline(
            "wordcount",
            "count the lines and words of each file of --dir",
            wordcount,
        )
        .pipeline("slow-squares", "square 0..count, slowly", slow_squares)
        .run()
}
