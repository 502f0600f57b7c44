//! A directory where some files are corrupt: the decoder panics on some, and one makes the
//! worker process abort (as a native decoder's segfault would). The run does not stop: the
//! bad files go to a dead-letter list, the dead worker is replaced, and the run ends with
//! the list and a report.
//!
//! ```text
//! cargo run --release --example corrupt_files
//! ```
//!
//! The driver is its own worker program: `skorche::worker::enter()` runs first in `main`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use skorche::Pipeline;

/// What decoding one file gives.
#[derive(Debug, Serialize, Deserialize)]
struct Decoded {
    name: String,
    words: usize,
}

/// A toy format: 4 magic bytes, then UTF-8 text. Corrupt input makes it panic, and a file
/// with the magic `SKRX` kills the process, as a crash in a native library would.
fn decode(path: PathBuf) -> Decoded {
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path:?}: {e}"));
    match bytes.get(..4) {
        Some(b"SKR1") => {}
        Some(b"SKRX") => std::process::abort(),
        _ => panic!("{}: not a SKR1 file (bad magic)", path.display()),
    }
    let text = std::str::from_utf8(&bytes[4..])
        .unwrap_or_else(|e| panic!("{}: corrupt text: {e}", path.display()));
    Decoded {
        name: path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned(),
        words: text.split_whitespace().count(),
    }
}

skorche::worker::task! {
    static DECODE: PathBuf => Decoded = map("corrupt_files_decode", decode);
}

/// Writes 40 files: most valid, 4 with a bad magic, 2 with broken UTF-8, 1 that crashes.
fn make_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for i in 0..40u32 {
        let path = dir.join(format!("file-{i:02}.skr"));
        let mut bytes = b"SKR1".to_vec();
        bytes.extend(format!("file {i} holds some words to count").as_bytes());
        match i {
            7 | 13 | 21 | 33 => bytes[..4].copy_from_slice(b"JUNK"),
            9 | 27 => bytes.extend([0xff, 0xfe, 0xfd]),
            19 => bytes[..4].copy_from_slice(b"SKRX"),
            _ => {}
        }
        std::fs::write(&path, bytes)?;
        paths.push(path);
    }
    Ok(paths)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    skorche::worker::enter();
    let dir = std::env::temp_dir().join(format!("skorche-corrupt-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let paths = make_files(&dir)?;

    let p = Pipeline::new();
    // Failed files go to a typed side output instead of stopping the run.
    let (paths, failed) = p.source(paths).dead_letter();
    let decoded = paths
        .map_task(&DECODE)
        .processes(2)
        .restart_workers(10) // a dead worker is replaced; its items go to the next one
        .name("decode");
    let decoded = p.output(decoded);
    let failed = p.output(failed);
    let mut running = p.start()?;
    let (mut decoded, mut failed) = (running.take(decoded), running.take(failed));
    let letters = std::thread::spawn(move || {
        let list: Vec<_> = failed.by_ref().filter_map(Result::ok).collect();
        (list, failed.report().cloned())
    });
    let good: Vec<Decoded> = decoded.by_ref().collect::<Result<_, _>>()?;
    let (dead, report) = letters
        .join()
        .map_err(|_| "the dead-letter reader panicked")?;
    let report = decoded.report().cloned().or(report).ok_or("no report")?;

    println!(
        "decoded {} files, {} words",
        good.len(),
        good.iter().map(|d| d.words).sum::<usize>()
    );
    println!("dead letters ({}):", dead.len());
    let mut dead = dead;
    dead.sort_by(|a, b| a.item.cmp(&b.item));
    for letter in &dead {
        println!(
            "  {} after {} attempt(s): {}",
            letter.item.display(),
            letter.attempts,
            letter.error.message
        );
    }
    println!("\n{report}");
    let decode = report.stage("decode").ok_or("no decode stage")?;
    println!(
        "decode: {} failed, {} dead-lettered, {} worker restarts ({:?} recovering)",
        decode.failed, decode.dead_lettered, decode.restarts, decode.recovering
    );
    std::fs::remove_dir_all(&dir)?;
    assert_eq!(good.len() + dead.len(), 40, "every file is accounted for");
    Ok(())
}
