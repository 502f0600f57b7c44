//! A text read as a stream of lines, cut into segments by a marker every `SEGMENT` lines.
//! Each line is analysed by a parallel stage whose items take a random time, on several
//! workers; `order_save`/`order_load` put the lines back in input order, and the markers keep
//! their place among them. A callback (`on`) prints each segment's totals as its marker
//! passes; the reader then takes the output one segment at a time (`Output::until`). Both
//! check that every line comes in order.
//!
//! ```text
//! cargo run --release --example ordered_markers
//! ```

use std::collections::BTreeMap;
use std::io::{BufRead, Cursor};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use skorche::prelude::*;

/// Lines in the text.
const LINES: u64 = 230;
/// Lines per segment: a marker follows every `SEGMENT`-th line. The last 5 lines make a
/// partial segment that no marker closes: the reader sees it end with the stream.
const SEGMENT: u64 = 25;
/// Positions admitted into the ordered section ahead of the slowest line.
const WINDOW: usize = 64;

/// What the parallel stage finds in one line.
#[derive(Debug, Clone, Copy)]
struct LineStats {
    /// The line's index in the text.
    index: u64,
    words: usize,
    bytes: usize,
}

/// One segment's totals, built as its lines pass.
#[derive(Debug, Default)]
struct Segment {
    /// The indices of the lines seen, in the order they came.
    lines: Vec<u64>,
    words: usize,
    bytes: usize,
}

/// A generated text: `LINES` lines of a few words each.
fn text() -> String {
    const WORDS: [&str; 8] = [
        "river", "stone", "lantern", "copper", "meadow", "signal", "harbor", "thistle",
    ];
    (0..LINES as usize)
        .map(|i| {
            let words: Vec<&str> = (0..3 + i % 5).map(|w| WORDS[(i * 7 + w * 3) % 8]).collect();
            format!("{i:03} {}\n", words.join(" "))
        })
        .collect()
}

/// The slow part: analyse a line, taking 0 to 2 ms at random.
fn analyse((index, line): (u64, String)) -> LineStats {
    let micros = rand::thread_rng().gen_range(0..2_000);
    std::thread::sleep(Duration::from_micros(micros));
    LineStats {
        index,
        words: line.split_whitespace().count() - 1, // the leading line number is not a word
        bytes: line.len(),
    }
}

fn main() -> Result<(), PipelineError> {
    // The text is read as a stream: a reader over its bytes, one line at a time.
    let reader = Cursor::new(text().into_bytes());
    let lines = reader
        .lines()
        .map(|line| line.expect("reading from memory cannot fail"))
        .enumerate()
        .map(|(i, line)| (i as u64, line));

    let p = Pipeline::new();
    let (lines, segment_end) = p.source(lines).insert_periodic(SEGMENT, Placement::After);
    let (lines, point) = lines.order_save(WINDOW);
    let stats = lines.map(analyse).workers(4).name("analyse");
    let ordered = stats.order_load(point);

    // Totals per segment, filled in as lines pass (one worker: the stream's order), taken by
    // the callback when the segment's marker comes: every line before the marker has passed.
    let segments: Arc<Mutex<BTreeMap<u64, Segment>>> = Arc::default();
    let tally = segments.clone();
    let counted = ordered
        .map(move |s: LineStats| {
            let mut segments = tally.lock().unwrap();
            let segment = segments.entry(s.index / SEGMENT).or_default();
            segment.lines.push(s.index);
            segment.words += s.words;
            segment.bytes += s.bytes;
            s
        })
        .name("tally");
    let announced = counted.on(segment_end, move |marker| {
        let n = marker.count;
        let segment = segments
            .lock()
            .unwrap()
            .remove(&n)
            .expect("a segment's lines pass before its marker");
        let expected: Vec<u64> = (n * SEGMENT..(n + 1) * SEGMENT).collect();
        assert_eq!(segment.lines, expected, "segment {n} is out of order");
        println!(
            "segment {n}: lines {:>3}..{:>3}: {:>3} words, {:>4} bytes",
            expected[0],
            expected[expected.len() - 1] + 1,
            segment.words,
            segment.bytes
        );
    });

    // The reader: one segment at a time, up to each marker.
    let mut out = p.run_iter(announced)?;
    let mut next = 0u64;
    let mut segment = 0u64;
    loop {
        let lines: Vec<LineStats> = out.until(segment_end).collect::<Result<_, _>>()?;
        if lines.is_empty() {
            break;
        }
        for s in &lines {
            assert_eq!(s.index, next, "line {} came out of order", s.index);
            next += 1;
        }
        let tail = if lines.len() as u64 == SEGMENT {
            ""
        } else {
            " (the tail: no marker closes it)"
        };
        println!("reader: segment {segment} has {} lines{tail}", lines.len());
        segment += 1;
    }
    assert_eq!(next, LINES, "every line was read, once");
    assert_eq!(segment, LINES.div_ceil(SEGMENT));

    let report = out.report().expect("the run ended without error");
    println!("\n{report}");
    println!("\nall {LINES} lines came in order, in {segment} segments");
    Ok(())
}
