//! Sensor readings through the stream operations. A log of readings is read line by line
//! (`try_source`: a read error would end the run), counted as it passes (`inspect`), and
//! parsed in two worker processes by a registered `flat_map` task over an `Option`, which
//! drops the malformed lines. The readings then go two ways (`tee2`), each branch with its
//! own end of one ordered section (`OrderPoint::fork`):
//!
//! - alerts: moving averages over sliding windows of 8 readings (`window`), and a stateful
//!   stage that emits an alert each time the average crosses a threshold and a summary at
//!   the end of the stream (`stateful`);
//! - scoring: micro-batches of up to 32 readings, or whatever came within 2 ms
//!   (`batch_timeout`), scored on two threads, put back in order, numbered per sensor
//!   (`scan`) and totalled (`fold`).
//!
//! Both outputs are checked against a plain sequential evaluation.
//!
//! ```text
//! cargo run --release --example stream_ops
//! ```

use std::collections::BTreeMap;
use std::io::{BufRead, Cursor};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use skorche::prelude::*;

/// Lines in the log.
const LINES: u32 = 4_000;
/// Sensors reporting, in turn.
const SENSORS: u32 = 4;
/// Readings per moving average, and how many the window moves by.
const WINDOW: usize = 8;
const STRIDE: usize = 4;
/// An alert is raised while the moving average is above this (milli-degrees).
const HOT: u32 = 25_000;

/// One reading: (line number, sensor, milli-degrees).
type Reading = (u32, u32, u32);

/// The log: a reading per line, some lines malformed, and a hot spell in the middle.
fn log() -> String {
    (0..LINES)
        .map(|i| {
            if i % 97 == 13 {
                format!("{i:05} sensor-{} ???\n", i % SENSORS)
            } else {
                let hot = if (1_500..2_100).contains(&i) {
                    8_000
                } else {
                    0
                };
                let value = 20_000 + (i * 37) % 1_000 + hot;
                format!("{i:05} sensor-{} {value}\n", i % SENSORS)
            }
        })
        .collect()
}

/// A line as a reading; `None` for a malformed line.
fn parse(line: String) -> Option<Reading> {
    let mut fields = line.split(' ');
    let index = fields.next()?.parse().ok()?;
    let sensor = fields.next()?.strip_prefix("sensor-")?.parse().ok()?;
    let value = fields.next()?.parse().ok()?;
    Some((index, sensor, value))
}

task! {
    /// A flat-map over an `Option`: one reading per good line, none for a malformed one.
    static PARSE: String => Reading = flat_map("example_stream_ops_parse", parse);
}

/// The moving average of a window: (first line number, mean).
fn mean(window: &[Reading]) -> (u32, u32) {
    let sum: u32 = window.iter().map(|r| r.2).sum();
    (window[0].0, sum / window.len() as u32)
}

/// The alerts for a stream of moving averages: one per crossing of [`HOT`].
fn alerts<'a>(averages: impl IntoIterator<Item = &'a (u32, u32)>) -> Vec<String> {
    let mut hot = false;
    let mut out = Vec::new();
    for &(first, avg) in averages {
        if (avg > HOT) != hot {
            hot = !hot;
            let what = if hot { "hot" } else { "normal again" };
            out.push(format!("{what} from line {first} (average {avg})"));
        }
    }
    out
}

/// The slow part of scoring: one call per micro-batch.
fn score(batch: Vec<Reading>) -> Vec<(Reading, u32)> {
    std::thread::sleep(Duration::from_micros(200));
    batch.into_iter().map(|r| (r, r.2 / 100)).collect()
}

fn main() -> Result<(), PipelineError> {
    skorche::enter(); // first thing: in a worker process this serves PARSE and never returns
    let started = Instant::now();

    let p = Pipeline::new();
    let lines_read = Arc::new(AtomicU64::new(0));
    let counter = lines_read.clone();
    let lines = p
        .try_source(Cursor::new(log()).lines())
        .name("read")
        .inspect(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        });
    let (lines, point) = lines.order_save(64);
    let readings = lines.map_task(&PARSE).processes(2).name("parse");
    let (for_alerts, for_scores) = readings.tee2();
    let [alerts_end, scores_end]: [_; 2] = point.fork(2).try_into().unwrap();

    // Alerts: windows of the readings in order, and a state carried along the stream.
    let alerts_out = for_alerts
        .order_load(alerts_end)
        .window(WINDOW, STRIDE)
        .map(|w| mean(&w))
        .stateful(
            (false, 0u32),
            |(hot, windows), (first, avg), out: &mut Emitter<String>| {
                *windows += 1;
                if (avg > HOT) != *hot {
                    *hot = !*hot;
                    let what = if *hot { "hot" } else { "normal again" };
                    out.emit(format!("{what} from line {first} (average {avg})"));
                }
            },
            |(_, windows), out| out.emit(format!("{windows} moving averages")),
        )
        .name("alerts");

    // Scores: micro-batches on two threads, in order again, numbered and totalled.
    let totals = for_scores
        .batch_timeout(32, Duration::from_millis(2))
        .map(score)
        .workers(2)
        .name("score")
        .unbatch()
        .order_load(scores_end)
        .scan(
            BTreeMap::<u32, u32>::new(),
            |seen, ((index, sensor, _), score)| {
                let n = seen.entry(sensor).or_default();
                *n += 1;
                (index, sensor, *n, score)
            },
        )
        .fold(
            (0u32, BTreeMap::<u32, (u32, u64)>::new(), true),
            |(last, mut per_sensor, in_order), (index, sensor, nth, score)| {
                let entry = per_sensor.entry(sensor).or_default();
                let numbered = nth == entry.0 + 1;
                *entry = (nth, entry.1 + u64::from(score));
                (index, per_sensor, in_order && numbered && (index >= last))
            },
        );

    let alerts_port = p.output(alerts_out);
    let totals_port = p.output(totals);
    let mut running = p.start()?;
    let (alerts_rx, totals_rx) = (running.take(alerts_port), running.take(totals_port));
    let reader = std::thread::spawn(move || alerts_rx.collect::<Result<Vec<String>, _>>());
    let totals: Vec<_> = totals_rx.collect::<Result<_, _>>()?;
    let got_alerts = reader.join().expect("the alerts reader")?;

    // The same, one line at a time.
    let good: Vec<Reading> = log().lines().filter_map(|l| parse(l.to_string())).collect();
    let averages: Vec<(u32, u32)> = good.windows(WINDOW).step_by(STRIDE).map(mean).collect();
    let mut expected_alerts = alerts(&averages);
    expected_alerts.push(format!("{} moving averages", averages.len()));
    assert_eq!(got_alerts, expected_alerts);
    let [(_, per_sensor, in_order)] = <[_; 1]>::try_from(totals).expect("one total");
    assert!(
        in_order,
        "the scored readings came in line order, numbered per sensor"
    );
    for sensor in 0..SENSORS {
        let mine = good.iter().filter(|r| r.1 == sensor);
        let expected = (
            mine.clone().count() as u32,
            mine.map(|r| u64::from(r.2 / 100)).sum(),
        );
        assert_eq!(per_sensor[&sensor], expected, "sensor {sensor}");
    }
    assert_eq!(lines_read.load(Ordering::Relaxed), u64::from(LINES));

    println!(
        "{} lines read, {} readings ({} malformed lines dropped by the parse task)",
        LINES,
        good.len(),
        LINES as usize - good.len()
    );
    let (summary, raised) = got_alerts.split_last().expect("the end-of-stream summary");
    for alert in raised {
        println!("alert: {alert}");
    }
    println!("{summary}");
    for (sensor, (count, total)) in &per_sensor {
        println!("sensor-{sensor}: {count} readings, score {total}");
    }
    println!(
        "both outputs match a sequential evaluation ({:.0?})",
        started.elapsed()
    );
    Ok(())
}
