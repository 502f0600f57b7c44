//! The report's load figures: shares, task-time percentiles, queue wait, verdicts.

use std::time::Duration;

use super::histogram::quantile;
use super::stage::Totals;
use super::verdict::{bottleneck, judge, Load};
use crate::report::Report;

/// Load shares of `t` as percentages `(busy, blocked, idle)`; `None` without worker time.
pub(crate) fn shares(t: &Totals) -> Option<(f64, f64, f64)> {
    if t.active_ns() == 0 {
        return None;
    }
    let (idle, blocked) = t.wait_shares();
    let busy = (1.0 - idle - blocked).max(0.0);
    Some((busy * 100.0, blocked * 100.0, idle * 100.0))
}

/// Fills the load figures of `report` (one `Totals` per stage, in order) and judges
/// every stage. With metrics off only the queue wait is filled.
pub(crate) fn fill(report: &mut Report, totals: &[Totals], metrics_on: bool) {
    let mut loads = Vec::with_capacity(totals.len());
    for (s, t) in report.stages.iter_mut().zip(totals) {
        let secs = s.wall.as_secs_f64();
        let rate = if secs > 0.0 {
            s.items_in as f64 / secs
        } else {
            0.0
        };
        if rate > 0.0 {
            s.queue_wait = Duration::from_secs_f64(s.mean_queue_depth / rate);
        }
        if !metrics_on {
            loads.push(None);
            continue;
        }
        s.task_p50 = quantile(&t.hist, 0.5).map(Duration::from_nanos);
        s.task_p99 = quantile(&t.hist, 0.99).map(Duration::from_nanos);
        let Some((busy, blocked, idle)) = shares(t) else {
            loads.push(None);
            continue;
        };
        s.busy_pct = busy;
        s.blocked_pct = blocked;
        s.idle_pct = idle;
        loads.push(Some(Load {
            busy_pct: busy,
            blocked_pct: blocked,
            idle_pct: idle,
            queue_fill_pct: s.queue_fill_pct(),
            workers: s.mode.count().max(1),
        }));
    }
    let limit = bottleneck(&loads);
    for (i, (s, load)) in report.stages.iter_mut().zip(&loads).enumerate() {
        s.verdict = load.as_ref().map(|l| judge(l, limit == Some(i)));
    }
    report.bottleneck = limit.map(|i| report.stages[i].name.clone());
}
