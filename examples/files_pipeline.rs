//! The main example: a directory of real files through a branching pipeline.
//!
//! ```sh
//! cargo run --release --example files_pipeline
//! ```
//!
//! It writes 200 gzip-compressed files into a fresh temporary directory: grayscale images
//! (a `IMG1 <width> <height> <name>` header line, then one byte per pixel) and text
//! documents (a `DOC1 <name>` header line, then words). The pipeline then does
//!
//! ```text
//! source(paths) -> read -> decompress -> split(is image?)
//!     images: batch(10) -> analyze a batch -> unbatch -> Summary
//!     docs:   filter(long enough) -> count words -> Summary
//! merge -> results
//! ```
//!
//! and prints the graph (Graphviz DOT), a digest of the results and the run's report.
//! Then it runs the same pipeline again with the decompress step in **two worker
//! processes** (the same `decompress` function, registered as a task; the workers are this
//! very executable, re-run) and checks that the results are identical.
//! The directory is removed at the end, also when the run fails.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use skorche::prelude::*;
use skorche::Mode;

/// How many files to generate.
const FILES: u64 = 200;
/// Images go through the analysis stage in batches of this many.
const IMAGE_BATCH: usize = 10;
/// Documents with fewer words than this are dropped.
const MIN_WORDS: usize = 20;

// ------------------------------------------------------------------------- the tasks

/// Reads a whole file.
fn read_file(path: PathBuf) -> io::Result<Vec<u8>> {
    fs::read(path)
}

/// Decompresses a gzip stream.
fn decompress(bytes: Vec<u8>) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len() * 4);
    GzDecoder::new(bytes.as_slice()).read_to_end(&mut out)?;
    Ok(out)
}

skorche::worker::task! {
    /// `decompress`, registered so that it can run in worker processes.
    static DECOMPRESS: Vec<u8> => Vec<u8> = try_map("files_pipeline.decompress", decompress);
}

/// Whether decoded bytes are an image (sniffed from the content, not the file name).
fn is_image(bytes: &[u8]) -> bool {
    bytes.starts_with(b"IMG1 ")
}

/// Whether a document has at least [`MIN_WORDS`] words in its body.
fn is_long_doc(doc: &[u8]) -> bool {
    let body = split_header(doc).map_or(&[][..], |(_, body)| body);
    words(&String::from_utf8_lossy(body)).count() >= MIN_WORDS
}

/// Measures every image of a batch.
fn analyze_images(batch: Vec<Vec<u8>>) -> io::Result<Vec<ImageStats>> {
    batch.iter().map(|img| analyze_image(img)).collect()
}

/// Mean brightness, Otsu threshold and foreground share of one image.
fn analyze_image(bytes: &[u8]) -> io::Result<ImageStats> {
    let (header, pixels) = split_header(bytes).ok_or_else(|| invalid("image without header"))?;
    let fields: Vec<&str> = header.split_whitespace().collect();
    let [_, w, h, name] = fields[..] else {
        return Err(invalid(format!("bad image header {header:?}")));
    };
    let parse = |s: &str| {
        s.parse::<usize>()
            .map_err(|e| invalid(format!("{s:?}: {e}")))
    };
    let (width, height) = (parse(w)?, parse(h)?);
    if pixels.len() != width * height || pixels.is_empty() {
        return Err(invalid(format!(
            "{name}: {} pixel bytes for {width}x{height}",
            pixels.len()
        )));
    }
    let mut hist = [0u64; 256];
    for &p in pixels {
        hist[usize::from(p)] += 1;
    }
    let total = pixels.len() as u64;
    let sum: u64 = hist.iter().enumerate().map(|(v, &n)| v as u64 * n).sum();
    let threshold = otsu_threshold(&hist);
    let above: u64 = hist[usize::from(threshold) + 1..].iter().sum();
    Ok(ImageStats {
        name: name.to_string(),
        width,
        height,
        mean: sum as f64 / total as f64,
        threshold,
        foreground: above as f64 / total as f64,
    })
}

/// Word count, distinct words and most frequent word of one document.
fn count_words(doc: Vec<u8>) -> io::Result<DocStats> {
    let (header, body) = split_header(&doc).ok_or_else(|| invalid("document without header"))?;
    let name = header
        .strip_prefix("DOC1 ")
        .ok_or_else(|| invalid(format!("bad document header {header:?}")))?;
    let body = std::str::from_utf8(body).map_err(|e| invalid(format!("{name}: {e}")))?;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for w in words(body) {
        *counts.entry(w.to_lowercase()).or_default() += 1;
    }
    // Most frequent first, ties broken alphabetically, so the result is deterministic.
    let (top_word, top_count) = counts
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
        .map(|(w, &n)| (w.clone(), n))
        .unwrap_or_default();
    Ok(DocStats {
        name: name.to_string(),
        words: counts.values().sum(),
        distinct: counts.len(),
        top_word,
        top_count,
    })
}

// ------------------------------------------------------------------------- the results

/// What the image branch computes per image.
#[derive(Debug)]
struct ImageStats {
    name: String,
    width: usize,
    height: usize,
    mean: f64,
    threshold: u8,
    foreground: f64,
}

/// What the document branch computes per document.
#[derive(Debug)]
struct DocStats {
    name: String,
    words: usize,
    distinct: usize,
    top_word: String,
    top_count: usize,
}

/// The common type both branches are merged into.
#[derive(Debug)]
enum Summary {
    Image(ImageStats),
    Doc(DocStats),
}

impl Summary {
    fn name(&self) -> &str {
        match self {
            Summary::Image(s) => &s.name,
            Summary::Doc(s) => &s.name,
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Summary::Image(s) => write!(
                f,
                "{:<12} image {:>3}x{:<3}  mean {:5.1}  otsu {:3}  foreground {:4.1}%",
                s.name,
                s.width,
                s.height,
                s.mean,
                s.threshold,
                s.foreground * 100.0
            ),
            Summary::Doc(s) => write!(
                f,
                "{:<12} doc   {:>4} words  {:>2} distinct  top {:?} x{}",
                s.name, s.words, s.distinct, s.top_word, s.top_count
            ),
        }
    }
}

// ------------------------------------------------------------------------- main

/// Declares the pipeline; `decompress_on` says where the decompress stage runs.
fn declare(p: &Pipeline, paths: Vec<PathBuf>, decompress_on: Mode) -> Queue<Summary> {
    let raw = p.source(paths).try_map(read_file).workers(2).name("read");
    let decoded = match decompress_on {
        Mode::Processes(n) => raw.map_task(&DECOMPRESS).processes(n),
        Mode::Threads(n) => raw.map_task(&DECOMPRESS).workers(n),
    }
    .name("decompress");
    let (images, docs) = decoded.split(|b: &Vec<u8>| is_image(b));
    let images = images.name("sniff");

    let image_summaries = images
        .batch(IMAGE_BATCH)
        .name("batch")
        .try_map(analyze_images)
        .workers(2)
        .name("analyze_images")
        .unbatch()
        .map(Summary::Image)
        .name("image_summary");
    let doc_summaries = docs
        .filter(|d: &Vec<u8>| is_long_doc(d))
        .name("long_docs")
        .try_map(count_words)
        .workers(2)
        .name("count_words")
        .map(Summary::Doc)
        .name("doc_summary");
    p.merge([image_summaries, doc_summaries])
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // In a worker process this runs the registered task and never returns; in the driver
    // it returns at once. It comes first so that nothing below runs twice.
    skorche::worker::enter();
    // Nothing above the pipeline matters if run twice: the temp dir is per process.
    let started = Instant::now();
    let dir = TempDir::create()?;
    let expected = generate_files(dir.path())?;
    let mut paths: Vec<PathBuf> = fs::read_dir(dir.path())?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<io::Result<_>>()?;
    paths.sort();
    let generated = started.elapsed();

    // Thread mode: every stage on threads of this process.
    let p = Pipeline::new();
    let all = declare(&p, paths.clone(), Mode::Threads(2));
    println!("{}", p.to_dot());
    // Run, pulling the merged output while the stages work.
    let (mut results, report) = p.run_iter(all)?.collect_report()?;
    results.sort_by(|a, b| a.name().cmp(b.name()));

    print_digest(&results);
    println!();
    println!("{report}");
    println!(
        "(generating the {FILES} files took {:.1} ms)",
        generated.as_secs_f64() * 1e3
    );

    // Process mode: the same task code, the decompress stage now in two worker processes.
    let p = Pipeline::new();
    let all = declare(&p, paths, Mode::Processes(2));
    let (mut in_processes, report) = p.run_iter(all)?.collect_report()?;
    in_processes.sort_by(|a, b| a.name().cmp(b.name()));
    println!();
    println!("{report}");
    let same = results
        .iter()
        .map(ToString::to_string)
        .eq(in_processes.iter().map(ToString::to_string));
    println!(
        "process mode (decompress in 2 worker processes): {} results, {}",
        in_processes.len(),
        if same {
            "identical to thread mode"
        } else {
            "DIFFERENT from thread mode"
        }
    );
    if !same {
        return Err("process mode gave other results than thread mode".into());
    }

    if results.len() != expected {
        return Err(format!("expected {expected} results, got {}", results.len()).into());
    }
    Ok(())
}

/// Prints the first results, a few of each kind, and totals.
fn print_digest(results: &[Summary]) {
    let images: Vec<&ImageStats> = results
        .iter()
        .filter_map(|s| match s {
            Summary::Image(i) => Some(i),
            Summary::Doc(_) => None,
        })
        .collect();
    let docs: Vec<&DocStats> = results
        .iter()
        .filter_map(|s| match s {
            Summary::Doc(d) => Some(d),
            Summary::Image(_) => None,
        })
        .collect();

    println!(
        "results ({} in all, sorted by name; first 5 of each kind):",
        results.len()
    );
    let first_docs = results.iter().filter(|s| matches!(s, Summary::Doc(_)));
    let first_images = results.iter().filter(|s| matches!(s, Summary::Image(_)));
    for s in first_docs.take(5).chain(first_images.take(5)) {
        println!("  {s}");
    }

    let mean_brightness = images.iter().map(|i| i.mean).sum::<f64>() / images.len().max(1) as f64;
    let mean_foreground =
        images.iter().map(|i| i.foreground).sum::<f64>() / images.len().max(1) as f64;
    let pixels: usize = images.iter().map(|i| i.width * i.height).sum();
    let words: usize = docs.iter().map(|d| d.words).sum();
    let mut tops: HashMap<&str, usize> = HashMap::new();
    for d in &docs {
        *tops.entry(&d.top_word).or_default() += 1;
    }
    let mut tops: Vec<_> = tops.into_iter().collect();
    tops.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let dropped = FILES as usize - images.len() - docs.len();

    println!(
        "images: {} ({pixels} pixels), mean brightness {mean_brightness:.1}, mean foreground {:.1}%",
        images.len(),
        mean_foreground * 100.0
    );
    println!(
        "docs:   {} kept ({words} words), {dropped} dropped with fewer than {MIN_WORDS} words",
        docs.len()
    );
    let tops: Vec<String> = tops
        .iter()
        .take(3)
        .map(|(w, n)| format!("{w:?} in {n} docs"))
        .collect();
    println!("most frequent top words: {}", tops.join(", "));
}

// ------------------------------------------------------------------------- the input files

/// A directory under the system temp dir, removed when dropped (also on error or panic).
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn create() -> io::Result<Self> {
        let path = std::env::temp_dir().join(format!("skorche-files-{}", std::process::id()));
        if path.exists() {
            // Left over by an earlier process with the same pid.
            fs::remove_dir_all(&path)?;
        }
        fs::create_dir(&path)?;
        Ok(TempDir(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Writes [`FILES`] gzip files (3 images for 2 documents) and returns how many results the
/// pipeline should produce: every image, and every document with enough words.
fn generate_files(dir: &Path) -> io::Result<usize> {
    let mut expected = 0;
    for i in 0..FILES {
        let mut rng = Rng::new(i);
        let (name, content) = if i % 5 < 3 {
            let name = format!("img-{i:03}");
            expected += 1;
            (name.clone(), make_image(&mut rng, &name))
        } else {
            let name = format!("doc-{i:03}");
            let content = make_doc(&mut rng, &name);
            expected += usize::from(is_long_doc(&content));
            (name, content)
        };
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(&content)?;
        fs::write(dir.join(format!("{name}.gz")), gz.finish()?)?;
    }
    Ok(expected)
}

/// A dark, shaded background with a few bright discs, plus noise.
fn make_image(rng: &mut Rng, name: &str) -> Vec<u8> {
    let width = 64 * (2 + rng.below(3) as usize); // 128, 192 or 256
    let height = 64 * (2 + rng.below(3) as usize);
    let base = 20 + rng.below(40) as i32;
    let discs: Vec<(i32, i32, i32, i32)> = (0..1 + rng.below(4))
        .map(|_| {
            let r =
                (width.min(height) / 10) as i32 + rng.below(width.min(height) as u64 / 6) as i32;
            let x = rng.below(width as u64) as i32;
            let y = rng.below(height as u64) as i32;
            let v = 150 + rng.below(90) as i32;
            (x, y, r, v)
        })
        .collect();
    let mut out = format!("IMG1 {width} {height} {name}\n").into_bytes();
    out.reserve(width * height);
    for y in 0..height as i32 {
        for x in 0..width as i32 {
            let inside = discs
                .iter()
                .find(|&&(cx, cy, r, _)| (x - cx).pow(2) + (y - cy).pow(2) <= r * r);
            let v = match inside {
                Some(&(_, _, _, v)) => v,
                None => base + 30 * x / width as i32,
            };
            let noise = rng.below(17) as i32 - 8;
            out.push((v + noise).clamp(0, 255) as u8);
        }
    }
    out
}

/// Lorem-ipsum sentences; about one document in six is too short to keep.
fn make_doc(rng: &mut Rng, name: &str) -> Vec<u8> {
    const VOCABULARY: [&str; 24] = [
        "lorem",
        "ipsum",
        "dolor",
        "sit",
        "amet",
        "consectetur",
        "adipiscing",
        "elit",
        "sed",
        "do",
        "eiusmod",
        "tempor",
        "incididunt",
        "ut",
        "labore",
        "et",
        "dolore",
        "magna",
        "aliqua",
        "enim",
        "ad",
        "minim",
        "veniam",
        "quis",
    ];
    let words = if rng.below(6) == 0 {
        rng.below(MIN_WORDS as u64) as usize
    } else {
        MIN_WORDS + rng.below(400) as usize
    };
    let mut text = format!("DOC1 {name}\n");
    let mut sentence = 0;
    for _ in 0..words {
        // The smallest of three draws: early words are more frequent, as in real text.
        let n = VOCABULARY.len() as u64;
        let word = VOCABULARY[rng.below(n).min(rng.below(n)).min(rng.below(n)) as usize];
        if sentence == 0 {
            let mut chars = word.chars();
            text.extend(chars.next().map(|c| c.to_ascii_uppercase()));
            text.push_str(chars.as_str());
        } else {
            text.push(' ');
            text.push_str(word);
        }
        sentence += 1;
        if sentence > 4 && rng.below(8) == 0 {
            text.push_str(". ");
            sentence = 0;
        }
    }
    text.push('\n');
    text.into_bytes()
}

// ------------------------------------------------------------------------- small helpers

/// The first line (as text) and the rest.
fn split_header(bytes: &[u8]) -> Option<(&str, &[u8])> {
    let nl = bytes.iter().position(|&b| b == b'\n')?;
    let header = std::str::from_utf8(&bytes[..nl]).ok()?;
    Some((header, &bytes[nl + 1..]))
}

/// The words of a text: runs of letters.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphabetic())
        .filter(|w| !w.is_empty())
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// The best split of a 256-bin histogram into dark and bright (Otsu's method): the
/// threshold that maximizes the variance between the two classes.
fn otsu_threshold(hist: &[u64; 256]) -> u8 {
    let total: u64 = hist.iter().sum();
    let sum: f64 = hist
        .iter()
        .enumerate()
        .map(|(v, &n)| v as f64 * n as f64)
        .sum();
    let (mut below, mut below_sum) = (0u64, 0.0);
    let (mut best, mut best_t) = (-1.0, 0u8);
    for (t, &n) in hist.iter().enumerate().take(255) {
        below += n;
        below_sum += t as f64 * n as f64;
        let above = total - below;
        if below == 0 || above == 0 {
            continue;
        }
        let mean_below = below_sum / below as f64;
        let mean_above = (sum - below_sum) / above as f64;
        let between = below as f64 * above as f64 * (mean_below - mean_above).powi(2);
        if between > best {
            (best, best_t) = (between, t as u8);
        }
    }
    best_t
}

/// A small deterministic PRNG (SplitMix64), so every run makes the same files.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
