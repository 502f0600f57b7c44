//! A registered task bound to a queue: the same task runs on threads or in worker
//! processes, switched by [`crate::Queue::processes`] / [`crate::Queue::workers`].

use serde::de::DeserializeOwned;
use serde::Serialize;
use skorche_worker::registry::{BoundTask, Outputs};

use crate::error::PipelineError;
use crate::exec::emit::{emit, kind_of};
use crate::failure::attempt::{dropped, Attempt, StageGuard};
use crate::failure::policy::StagePolicy;
use crate::launch::{Launch, Runner};
use crate::mode::Mode;
use crate::stage::send;

pub(crate) struct TaskRunner<T: 'static, U: 'static> {
    pub(crate) task: BoundTask<T, U>,
}

/// A registered task with the failure policy declared on its input.
pub(crate) struct GuardedTaskRunner<T: 'static, U: 'static> {
    task: BoundTask<T, U>,
    failure: StagePolicy,
}

impl<T, U> Runner for TaskRunner<T, U>
where
    T: Serialize + DeserializeOwned + Send + 'static,
    U: DeserializeOwned + Send + 'static,
{
    fn launch(self: Box<Self>, cx: &mut Launch<'_>) -> Result<(), PipelineError> {
        match cx.mode {
            Mode::Processes(_) => crate::coordinator::launch(self.task, None, cx),
            Mode::Threads(_) => {
                launch_threads(self.task, None, cx);
                Ok(())
            }
        }
    }

    fn with_failure(self: Box<Self>, failure: StagePolicy) -> Option<Box<dyn Runner>> {
        Some(Box::new(GuardedTaskRunner {
            task: self.task,
            failure,
        }))
    }
}

impl<T, U> Runner for GuardedTaskRunner<T, U>
where
    T: Serialize + DeserializeOwned + Send + 'static,
    U: DeserializeOwned + Send + 'static,
{
    fn launch(self: Box<Self>, cx: &mut Launch<'_>) -> Result<(), PipelineError> {
        match cx.mode {
            Mode::Processes(_) => crate::coordinator::launch(self.task, Some(&self.failure), cx),
            Mode::Threads(_) => {
                launch_threads(self.task, Some(&self.failure), cx);
                Ok(())
            }
        }
    }
}

fn launch_threads<T: Send + 'static, U: Send + 'static>(
    task: BoundTask<T, U>,
    failure: Option<&StagePolicy>,
    cx: &mut Launch<'_>,
) {
    let flat = task.is_flat_map();
    let guard = failure.map(|p| StageGuard::<T>::new(p, cx));
    cx.spawn_each(|cx| {
        let mut rx = cx.input::<T>(0);
        let tx = cx.output::<U>(0);
        let task = task.clone();
        let mut guard = guard.as_ref().map(|g| g.worker(cx));
        move |cx| {
            let tx = tx.open();
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
                let result = match &mut guard {
                    None => match cx.timed(|| instance.call(value)) {
                        Ok(outputs) => outputs,
                        Err(f) => return cx.fail(Some(seq), kind_of(&f), f.message),
                    },
                    Some(g) => {
                        let attempt = |x| instance.call(x).map_err(|f| (kind_of(&f), f.message));
                        match g.run(cx, seq, value, attempt) {
                            Attempt::Done(outputs) => outputs,
                            Attempt::Dropped => match dropped(tag) {
                                Some(skip) => {
                                    if !send(&tx, cx, skip) {
                                        return;
                                    }
                                    continue;
                                }
                                None => continue,
                            },
                            Attempt::Stop => return,
                        }
                    }
                };
                let outputs = match result {
                    Outputs::One(v) => vec![v],
                    Outputs::Many(v) => v,
                };
                if !emit(&tx, cx, seq, tag, outputs, flat) {
                    return;
                }
            }
            if let Some(g) = &guard {
                g.finish(cx);
            }
        }
    });
}
