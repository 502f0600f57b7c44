//! The live view: one terminal line per stage, redrawn at most 10 times a second, hidden
//! when stderr is not a terminal (indicatif decides).

use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::live::{Probe, StageStats, Stats};
use crate::mode::Mode;
use crate::output::Running;
use crate::report::{rate, short_duration};

/// Redraws per second: enough to look live, few enough to cost nothing.
const REDRAW_HZ: u8 = 10;

impl Running {
    /// The pipeline now: per stage its workers, counts, recent rate, load shares, queue
    /// fill, median task time and whether it is the bottleneck; in total the items done,
    /// the throughput and, when the sources' length is known, an ETA. For users who draw
    /// their own view ([`Running::show_progress`] draws one on the terminal).
    ///
    /// ```
    /// use skorche_core::Pipeline;
    ///
    /// let p = Pipeline::new();
    /// let out = p.output(p.source(0..1000u32).map(|n| n + 1).name("inc"));
    /// let mut running = p.start()?;
    /// let items = running.take(out);
    /// let first = running.stats();
    /// assert_eq!(first.source_len, Some(1000));
    /// assert_eq!(first.stages[1].name, "inc");
    /// assert_eq!(items.count(), 1000);
    /// // Counts lag by a few items until each worker has published its last ones.
    /// let last = running.stats();
    /// assert!(last.items_done <= 1000 && last.source_read <= 1000);
    /// let report = running.wait()?;
    /// assert_eq!(report.stages[1].items_out, 1000);
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    pub fn stats(&self) -> Stats {
        self.probe.snapshot()
    }

    /// Shows the run live on the terminal (stderr) until it ends: a header with the
    /// throughput, the items done and an ETA when the sources' length is known, then one
    /// line per stage with its workers, a busy bar, load shares, rate, queue fill and median
    /// task time, and a marker on the bottleneck:
    ///
    /// ```text
    /// enrich   1t ██████████ busy 100% blk  0%  1.6k/s q   3/64  p50 786.2µs ◀ bottleneck
    /// ```
    ///
    /// Redrawn at most 10 times a second; nothing is drawn when stderr is not a terminal.
    /// [`Pipeline::progress`](crate::Pipeline::progress) does the same for `run`.
    pub fn show_progress(&mut self) -> &mut Self {
        if self.progress.is_none() {
            let probe = self.probe.clone();
            self.progress = std::thread::Builder::new()
                .name("skorche:progress".into())
                .spawn(move || draw_until_done(&probe))
                .ok();
        }
        self
    }
}

fn draw_until_done(probe: &Arc<Probe>) {
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(REDRAW_HZ));
    if multi.is_hidden() {
        return;
    }
    let plain = ProgressStyle::with_template("{msg}").expect("a valid template");
    let header = multi.add(ProgressBar::new(0).with_style(plain.clone()));
    let first = probe.snapshot();
    let width = first.stages.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let lines: Vec<ProgressBar> = first
        .stages
        .iter()
        .map(|_| multi.add(ProgressBar::new(100).with_style(plain.clone())))
        .collect();
    loop {
        let done = probe.is_done();
        let stats = probe.snapshot();
        header.set_message(header_line(&stats));
        for (bar, s) in lines.iter().zip(&stats.stages) {
            bar.set_message(stage_line(s, width));
        }
        if done {
            break;
        }
        std::thread::sleep(Duration::from_millis(1000 / u64::from(REDRAW_HZ)));
    }
    header.finish();
    for bar in lines {
        bar.finish();
    }
}

/// The header: throughput, items done, progress through the sources and ETA.
pub(crate) fn header_line(s: &Stats) -> String {
    let mut line = format!("skorche {:>9} · {} done", rate(s.throughput), s.items_done);
    match s.source_len {
        Some(len) => {
            let _ = write!(line, " · read {}/{len}", s.source_read);
        }
        None => {
            let _ = write!(line, " · read {}", s.source_read);
        }
    }
    if let Some(eta) = s.eta {
        let _ = write!(line, " · ETA {:.0}s", eta.as_secs_f64().ceil());
    }
    let _ = write!(line, " · {:.1}s", s.elapsed.as_secs_f64());
    line
}

/// One stage's line (`width`: of the longest stage name).
pub(crate) fn stage_line(s: &StageStats, width: usize) -> String {
    let workers = match s.mode {
        Mode::Threads(_) => format!("{}t", s.workers),
        Mode::Processes(_) => format!("{}p", s.workers),
    };
    let filled = ((s.busy_pct / 10.0).round() as usize).min(10);
    let bar: String = "█".repeat(filled) + &"░".repeat(10 - filled);
    // A source has no input queue.
    let queue = if s.queue_capacity == 0 {
        "-".to_string()
    } else {
        format!("{}/{}", s.queue_depth, s.queue_capacity)
    };
    let mut line = format!(
        "{:<width$} {workers:>3} {bar} busy {:>3.0}% blk {:>3.0}% {:>8} q {queue:>9} p50 {:>8}",
        s.name,
        s.busy_pct,
        s.blocked_pct,
        rate(s.rate),
        short_duration(s.task_p50),
    );
    if s.bottleneck {
        line.push_str(" ◀ bottleneck");
    }
    line
}
