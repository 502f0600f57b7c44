//! Worker processes of an autoscaled stage: one past the autoscaler's target is ended
//! (its feeder ends the stream between chunks, see `feed`), and started again on fresh
//! rings when the target grows. A stage whose rings other stages share does not stop its
//! processes (see `launch_with`).

use std::sync::Arc;

use skorche_worker::rings::Ring;

use crate::autoscale::gate::ScaleGate;
use crate::coordinator::{feed, spawn_kind, start, Stage, StartGate};
use crate::error::FailureKind;
use crate::exec::worker_cx::WorkerCx;
use crate::stats::block::Wait;
use crate::stats::wait::waiting;

/// The autoscaler's gate of an autoscaled stage whose surplus worker processes stop, and
/// this worker's index.
pub(crate) type Elastic = Option<(Arc<ScaleGate>, usize)>;

/// Waits while the autoscaler keeps worker `index` stopped, then starts a worker process
/// on fresh rings. `None`: the input ended or the run stops first, or the worker could not
/// start (the stage failed). Not a restart: nothing died.
pub(crate) fn resume<V, W>(
    stage: &Stage<V, W>,
    cx: &mut WorkerCx,
    (gate, scale, index): (&StartGate, &ScaleGate, usize),
    rings: &mut Vec<Arc<Ring>>,
) -> Option<skorche_worker::transport::WorkerLink> {
    use crate::hop::Gate;
    // Counted as parked, like a stopped thread worker: the live view shows only the
    // workers that run.
    waiting(Wait::Parked, || scale.wait(index));
    // Not while the run's first workers start: their rings are still reachable then.
    if !gate.wait(feed::POLL, || cx.aborted()) || scale.is_closed() || cx.aborted() {
        return None;
    }
    let fresh = [
        Ring::create(stage.opts.ring_capacity),
        Ring::create(stage.opts.ring_capacity),
    ];
    let [Ok(input), Ok(output)] = fresh else {
        cx.fail(
            None,
            FailureKind::Spawn,
            "cannot create rings for a worker the autoscaler started".into(),
        );
        return None;
    };
    *rings = vec![Arc::new(input), Arc::new(output)];
    match start(stage, rings) {
        Ok(link) => {
            // The worker has attached them: no other may reach them through this process.
            for ring in rings.iter() {
                ring.forget_fd();
            }
            tracing::debug!(stage = stage.name, worker = %link.control.id(), "started by the autoscaler");
            Some(link)
        }
        Err(e) => {
            cx.fail(None, spawn_kind(&e), e.to_string());
            None
        }
    }
}
