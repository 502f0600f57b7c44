//! `Queue::cached` before a registered task: cached on threads or in worker processes.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use skorche_worker::registry::IntoTask;

use crate::cache::Cached;
use crate::queue::Queue;
use crate::stage::cached::{CachedFactory, ProcessLaunch};
use crate::StageKind;

impl<T: Serialize + Send + 'static> Cached<T> {
    /// A cached [`Queue::map_task`]: the registered task's name and parameters are part of
    /// the stage's identity. On threads or in worker processes ([`Queue::processes`]); in
    /// processes, a hit is answered by the driver and its item never goes to a worker.
    pub fn map_task<U>(self, task: impl IntoTask<T, U>) -> Queue<U, crate::TaskStage>
    where
        T: DeserializeOwned,
        U: Serialize + DeserializeOwned + Send + 'static,
    {
        let task = task.into_task();
        let flat = task.is_flat_map();
        let name = task.name().to_string();
        let params = task.params().to_vec();
        let in_processes = task.clone();
        let process: ProcessLaunch<T> = Box::new(move |cx, cache| {
            let decode = skorche_worker::zero_copy::decode_output::<U>;
            crate::coordinator::launch_cached(in_processes, decode, None, cache, cx)
        });
        let factory: CachedFactory<T, U> = Arc::new(move || {
            let mut instance = task.instantiate().map_err(|f| f.message)?;
            Ok(Box::new(move |x| {
                instance
                    .call(x)
                    .map(|out| out.into_vec())
                    .map_err(|f| (crate::exec::emit::kind_of(&f), f.message))
            }))
        });
        let q = self.stage(
            StageKind::CachedTask,
            flat,
            Some((name.clone(), params)),
            factory,
            Some(process),
        );
        {
            let mut g = q.graph.borrow_mut();
            let producer = g.queues[q.id].producer;
            g.nodes[producer].process_capable = true;
            if let Some(n) = g.default_processes {
                g.nodes[producer].mode = crate::mode::Mode::Processes(n);
            }
        }
        q.set_default_name(&name);
        q.reshape()
    }
}
