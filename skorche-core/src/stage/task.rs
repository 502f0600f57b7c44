//! A registered task bound to a queue: the same task runs on threads or in worker
//! processes, switched by [`crate::Queue::processes`] / [`crate::Queue::workers`].

use serde::de::DeserializeOwned;
use serde::Serialize;
use skorche_worker::registry::{BoundTask, Outputs};

use crate::error::PipelineError;
use crate::exec::emit::{emit, kind_of};
use crate::launch::{Launch, Runner};
use crate::mode::Mode;
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
