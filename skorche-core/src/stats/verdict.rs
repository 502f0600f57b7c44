//! A stage's verdict in plain words, from its load shares (after Flink's reading of busy,
//! backpressured and idle time: the bottleneck is the busiest stage that is not itself
//! held back by a full output queue).

use std::fmt;

use serde::Serialize;

/// Busy share (%) from which a stage that is not backpressured can be the bottleneck.
const BOTTLENECK_BUSY: f64 = 80.0;
/// Blocked share (%) up to which a busy stage is not held back by downstream.
const BOTTLENECK_BLOCKED: f64 = 10.0;
/// Blocked share (%) from which a stage is mostly held back by downstream.
const BACKPRESSURED: f64 = 30.0;
/// Idle share (%) from which a stage mostly waits for input.
const STARVED: f64 = 50.0;
/// The busy share a resized stage should land at: room for bursts, as Flink's autoscaler.
pub(crate) const TARGET_BUSY: f64 = 70.0;
/// Input queue fill (%) from which the queue is said to be full.
const FULL_QUEUE: f64 = 75.0;

/// What a stage's load says about it, in plain words (`Display`).
///
/// Shares are percentages of the time its workers ran: busy (working: neither waiting for
/// input nor for room downstream), blocked (waiting for room in its output queue), idle
/// (waiting for input).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub enum Verdict {
    /// The stage that limits the pipeline: the busiest one not held back by downstream.
    Bottleneck {
        /// Busy share, %.
        busy_pct: f64,
        /// Mean fill of its input queue, %.
        queue_fill_pct: f64,
    },
    /// Busy but not the slowest stage.
    Busy {
        /// Busy share, %.
        busy_pct: f64,
    },
    /// Mostly waiting for room downstream: a stage below it is slower.
    Backpressured {
        /// Blocked share, %.
        blocked_pct: f64,
    },
    /// Mostly waiting for input: a stage above it (or the source) is slower.
    Starved {
        /// Busy share, %.
        busy_pct: f64,
        /// Idle share, %.
        idle_pct: f64,
        /// Fewer workers that would do the same work at about 70% busy, if it has more.
        enough_workers: Option<usize>,
    },
    /// None of the above.
    Balanced {
        /// Busy share, %.
        busy_pct: f64,
    },
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Verdict::Bottleneck {
                busy_pct,
                queue_fill_pct,
            } => {
                write!(f, "bottleneck: {busy_pct:.0}% busy, ")?;
                if queue_fill_pct >= FULL_QUEUE {
                    write!(f, "input queue full")
                } else {
                    write!(f, "input queue {queue_fill_pct:.0}% full")
                }
            }
            Verdict::Busy { busy_pct } => write!(f, "busy: {busy_pct:.0}%"),
            Verdict::Backpressured { blocked_pct } => write!(
                f,
                "backpressured: {blocked_pct:.0}% of the time waiting for room downstream"
            ),
            Verdict::Starved {
                busy_pct,
                idle_pct,
                enough_workers,
            } => {
                write!(
                    f,
                    "starved: {busy_pct:.0}% busy, {idle_pct:.0}% waiting for input"
                )?;
                match enough_workers {
                    Some(1) => write!(f, "; 1 worker would do"),
                    Some(n) => write!(f, "; {n} workers would do"),
                    None => Ok(()),
                }
            }
            Verdict::Balanced { busy_pct } => write!(f, "balanced: {busy_pct:.0}% busy"),
        }
    }
}

/// The load of one stage, as the verdicts read it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Load {
    pub(crate) busy_pct: f64,
    pub(crate) blocked_pct: f64,
    pub(crate) idle_pct: f64,
    pub(crate) queue_fill_pct: f64,
    pub(crate) workers: usize,
}

/// Workers that would do a stage's work at [`TARGET_BUSY`], if fewer than it has.
pub(crate) fn enough_workers(load: &Load) -> Option<usize> {
    let needed = ((load.workers as f64 * load.busy_pct / TARGET_BUSY).ceil() as usize).max(1);
    (needed < load.workers).then_some(needed)
}

/// Whether a stage could be the bottleneck.
pub(crate) fn could_limit(load: &Load) -> bool {
    load.busy_pct >= BOTTLENECK_BUSY && load.blocked_pct <= BOTTLENECK_BLOCKED
}

/// The index of the bottleneck among `loads` (`None` entries: not measured), if any.
pub(crate) fn bottleneck(loads: &[Option<Load>]) -> Option<usize> {
    loads
        .iter()
        .enumerate()
        .filter_map(|(i, l)| l.filter(could_limit).map(|l| (i, l.busy_pct)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| i)
}

/// The verdict of one stage, given whether it is the bottleneck.
pub(crate) fn judge(load: &Load, is_bottleneck: bool) -> Verdict {
    if is_bottleneck {
        Verdict::Bottleneck {
            busy_pct: load.busy_pct,
            queue_fill_pct: load.queue_fill_pct,
        }
    } else if load.blocked_pct >= BACKPRESSURED {
        Verdict::Backpressured {
            blocked_pct: load.blocked_pct,
        }
    } else if load.idle_pct >= STARVED {
        Verdict::Starved {
            busy_pct: load.busy_pct,
            idle_pct: load.idle_pct,
            enough_workers: enough_workers(load),
        }
    } else if could_limit(load) {
        Verdict::Busy {
            busy_pct: load.busy_pct,
        }
    } else {
        Verdict::Balanced {
            busy_pct: load.busy_pct,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(busy: f64, blocked: f64, idle: f64, workers: usize) -> Load {
        Load {
            busy_pct: busy,
            blocked_pct: blocked,
            idle_pct: idle,
            queue_fill_pct: 90.0,
            workers,
        }
    }

    #[test]
    fn the_busiest_unblocked_stage_is_the_bottleneck() {
        let loads = [
            Some(load(20.0, 78.0, 2.0, 1)), // backpressured source
            Some(load(96.0, 1.0, 3.0, 4)),
            Some(load(85.0, 15.0, 0.0, 1)), // busy but blocked: not the one
            None,
        ];
        assert_eq!(bottleneck(&loads), Some(1));
        assert_eq!(
            judge(&loads[1].unwrap(), true).to_string(),
            "bottleneck: 96% busy, input queue full"
        );
        assert!(matches!(
            judge(&loads[0].unwrap(), false),
            Verdict::Backpressured { .. }
        ));
    }

    #[test]
    fn an_idle_stage_with_many_workers_is_told_how_many_would_do() {
        let v = judge(&load(31.0, 0.0, 69.0, 4), false);
        assert_eq!(
            v.to_string(),
            "starved: 31% busy, 69% waiting for input; 2 workers would do"
        );
        assert_eq!(
            judge(&load(40.0, 0.0, 60.0, 1), false),
            Verdict::Starved {
                busy_pct: 40.0,
                idle_pct: 60.0,
                enough_workers: None
            }
        );
    }
}
