//! `map`, `try_map`, `map_with`, `chain`: one output per input, in a pool of workers.

use std::sync::Arc;

use crate::error::{BoxError, FailureKind, PipelineError};
use crate::failure::attempt::{dropped, task_fault, Attempt, StageGuard};
use crate::failure::policy::StagePolicy;
use crate::launch::{Launch, Runner};
use crate::packet::Packet;
use crate::stage::send;

/// A task instance of one worker: built in the worker's own thread, so it need not be
/// `Send` (a model, a connection, a thread-local buffer).
pub(crate) type MapFn<T, U> = Box<dyn FnMut(T) -> Result<U, BoxError>>;

/// Builds one task instance per worker.
pub(crate) type MapFactory<T, U> = Arc<dyn Fn() -> Result<MapFn<T, U>, BoxError> + Send + Sync>;

pub(crate) struct MapRunner<T, U> {
    pub(crate) factory: MapFactory<T, U>,
    /// The failure policy declared on the input; `None`: fail fast.
    pub(crate) failure: Option<StagePolicy>,
}

impl<T: Send + 'static, U: Send + 'static> Runner for MapRunner<T, U> {
    fn launch(self: Box<Self>, cx: &mut Launch<'_>) -> Result<(), PipelineError> {
        let guard = self.failure.as_ref().map(|p| StageGuard::<T>::new(p, cx));
        cx.spawn_each(|cx| {
            let mut rx = cx.input::<T>(0);
            let tx = cx.output::<U>(0);
            let factory = self.factory.clone();
            let mut guard = guard.as_ref().map(|g| g.worker(cx));
            move |cx| {
                let tx = tx.open();
                let mut task = match factory() {
                    Ok(t) => t,
                    Err(e) => {
                        return cx.fail(None, FailureKind::Task, format!("building the task: {e}"))
                    }
                };
                for packet in rx.iter() {
                    if cx.aborted() {
                        return;
                    }
                    let out = match packet.into_control::<U>() {
                        Ok(control) => control,
                        Err((seq, tag, value)) => {
                            cx.local.items_in += 1;
                            match &mut guard {
                                None => match cx.call(seq, || task(value)) {
                                    Some(value) => Packet::Item { seq, tag, value },
                                    None => return,
                                },
                                Some(g) => {
                                    match g.run(cx, seq, value, |x| task(x).map_err(task_fault)) {
                                        Attempt::Done(value) => Packet::Item { seq, tag, value },
                                        Attempt::Dropped => match dropped(tag) {
                                            Some(skip) => skip,
                                            None => continue,
                                        },
                                        Attempt::Stop => return,
                                    }
                                }
                            }
                        }
                    };
                    if !send(&tx, cx, out) {
                        return;
                    }
                }
                if let Some(g) = &guard {
                    g.finish(cx);
                }
            }
        });
        Ok(())
    }

    fn with_failure(self: Box<Self>, policy: StagePolicy) -> Option<Box<dyn Runner>> {
        Some(Box::new(MapRunner {
            factory: self.factory,
            failure: Some(policy),
        }))
    }
}
