//! A registered task bound to a queue: the same task runs on threads or in worker
//! processes, switched by [`crate::Queue::processes`] / [`crate::Queue::workers`].

use serde::de::DeserializeOwned;
use serde::Serialize;
use skorche_worker::protocol::{FailureKind as WireKind, TaskFailure};
use skorche_worker::registry::{BoundTask, Outputs};

use crate::error::{FailureKind, PipelineError};
use crate::exec::launch::{Launch, Runner};
use crate::exec::worker_cx::WorkerCx;
use crate::graph::Mode;
use crate::order::Tag;
use crate::packet::Packet;
use crate::stage::send;

pub(crate) struct TaskRunner<T: 'static, U: 'static> {
    pub(crate) task: BoundTask<T, U>,
}

impl<T, U> Runner for TaskRunner<T, U>
where
    T: Serialize + Send + 'static,
    U: DeserializeOwned + Send + 'static,
{
    fn launch(self: Box<Self>, cx: &mut Launch<'_>) -> Result<(), PipelineError> {
        match cx.mode {
            Mode::Processes(_) => crate::coordinator::launch(self.task, cx),
            Mode::Threads(_) => {
                launch_threads(self.task, cx);
                Ok(())
            }
        }
    }
}

fn launch_threads<T: Send + 'static, U: Send + 'static>(
    task: BoundTask<T, U>,
    cx: &mut Launch<'_>,
) {
    let flat = task.is_flat_map();
    cx.spawn_each(|cx| {
        let rx = cx.input::<T>(0);
        let tx = cx.output::<U>(0);
        let task = task.clone();
        move |cx| {
            let mut instance = match task.instantiate() {
                Ok(i) => i,
                Err(f) => {
                    return cx.fail(
                        None,
                        kind_of(&f),
                        format!("building the task: {}", f.message),
                    )
                }
            };
            for packet in rx.iter() {
                if cx.aborted() {
                    return;
                }
                let (seq, tag, value) = match packet.into_control::<U>() {
                    Ok(control) => {
                        if !send(&tx, cx, control) {
                            return;
                        }
                        continue;
                    }
                    Err(item) => item,
                };
                cx.local.items_in += 1;
                let result = cx.timed(|| instance.call(value));
                let outputs = match result {
                    Ok(Outputs::One(v)) => vec![v],
                    Ok(Outputs::Many(v)) => v,
                    Err(f) => return cx.fail(Some(seq), kind_of(&f), f.message),
                };
                if !emit(&tx, cx, seq, tag, outputs, flat) {
                    return;
                }
            }
        }
    });
}

/// Sends the outputs of one input: a map task's one output keeps the input's position; a
/// flat-map task's outputs take child positions, and none leaves the position empty.
pub(crate) fn emit<U>(
    tx: &crossbeam_channel::Sender<Packet<U>>,
    cx: &mut WorkerCx,
    seq: u64,
    tag: Tag,
    outputs: Vec<U>,
    flat: bool,
) -> bool {
    if !flat || !tag.is_ordered() {
        return outputs.into_iter().all(|value| {
            send(
                tx,
                cx,
                Packet::Item {
                    seq,
                    tag: tag.clone(),
                    value,
                },
            )
        });
    }
    let n = outputs.len() as u64;
    if n == 0 {
        return send(tx, cx, Packet::Skip(tag));
    }
    outputs.into_iter().enumerate().all(|(i, value)| {
        let child = tag.child(i as u64, i as u64 + 1 == n);
        send(
            tx,
            cx,
            Packet::Item {
                seq,
                tag: child,
                value,
            },
        )
    })
}

pub(crate) fn kind_of(f: &TaskFailure) -> FailureKind {
    match f.kind {
        WireKind::Panic => FailureKind::Panic,
        WireKind::Codec => FailureKind::Protocol,
        _ => FailureKind::Task,
    }
}
