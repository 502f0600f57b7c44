//! `Queue::cached` before a registered task: cached on threads or in worker processes.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use skorche_worker::registry::IntoTask;

use crate::cache::Cached;
use crate::queue::Queue;
use crate::stage::cached::{CachedFactory, ProcessLaunch, TaskIdentity};
use crate::StageKind;

impl<T: Serialize + Send + 'static> Cached<T> {
    /// A cached [`Queue::map_task`]: the registered task's name, parameters and version
    /// (`task!`'s `.version(..)`) are part of the stage's identity. On threads or in worker
    /// processes ([`Queue::processes`]); in processes, a hit is answered by the driver and
    /// its item never goes to a worker.
    ///
    /// The task's version and the stage's ([`Cached::version`]) are combined, not one in
    /// place of the other: bumping either misses. Declare the version with the task, where
    /// its code is, and keep the stage's for what the stage adds (or leave it unset).
    ///
    /// ```
    /// # use skorche_core::Pipeline;
    /// # let dir = std::env::temp_dir().join(format!("skorche-task-version-doc-{}", std::process::id()));
    /// fn square(n: u64) -> u64 { n * n }
    /// skorche_worker::task! {
    ///     static SQUARE: u64 => u64 = map("doc_cached_square", square).version("2");
    /// }
    /// let run = || -> Result<u64, skorche_core::PipelineError> {
    ///     let p = Pipeline::new();
    ///     p.cache_dir(&dir);
    ///     let squares = p.source(1..=3u64).cached().map_task(&SQUARE);
    ///     let (_, report) = p.run_iter(squares)?.collect_report()?;
    ///     Ok(report.stage("doc_cached_square").unwrap().cache.hits)
    /// };
    /// assert_eq!(run()?, 0);
    /// assert_eq!(run()?, 3); // keyed on "doc_cached_square" version "2"
    /// # std::fs::remove_dir_all(&dir).ok();
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    pub fn map_task<U>(self, task: impl IntoTask<T, U>) -> Queue<U, crate::TaskStage>
    where
        T: DeserializeOwned,
        U: Serialize + DeserializeOwned + Send + 'static,
    {
        let task = task.into_task();
        let flat = task.is_flat_map();
        let name = task.name().to_string();
        let identity = TaskIdentity {
            name: name.clone(),
            params: task.params().to_vec(),
            version: task.version().map(str::to_string),
        };
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
            Some(identity),
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
