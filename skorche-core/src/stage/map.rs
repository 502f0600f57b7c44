//! `map`, `try_map`, `map_with`, `chain`: one output per input, in a pool of workers.

use std::sync::Arc;

use crate::error::{BoxError, FailureKind, PipelineError};
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
}

impl<T: Send + 'static, U: Send + 'static> Runner for MapRunner<T, U> {
    fn launch(self: Box<Self>, cx: &mut Launch<'_>) -> Result<(), PipelineError> {
        cx.spawn_each(|cx| {
            let rx = cx.input::<T>(0);
            let tx = cx.output::<U>(0);
            let factory = self.factory.clone();
            move |cx| {
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
                            let Some(value) = cx.call(seq, || task(value)) else {
                                return;
                            };
                            Packet::Item { seq, tag, value }
                        }
                    };
                    if !send(&tx, cx, out) {
                        return;
                    }
                }
            }
        });
        Ok(())
    }
}
