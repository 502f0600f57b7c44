//! Starting a declared pipeline: the executor's side of [`Pipeline`].

use crate::error::PipelineError;
use crate::exec::run;
use crate::output::{Output, Running};
use crate::pipeline::Pipeline;
use crate::queue::Queue;
use crate::report::Report;
use crate::stop::signals::SignalWatcher;
use crate::stop::StopHandle;

impl Pipeline {
    /// Starts every stage and returns at once; read the declared outputs from the
    /// returned [`Running`].
    pub fn start(self) -> Result<Running, PipelineError> {
        // A worker process whose main forgot `enter()` must not start workers of its own.
        #[cfg(feature = "process")]
        skorche_worker::refuse_pipeline_in_worker();
        let stop = self.stop_options();
        let (graph, outputs) = self.into_parts();
        let graph = graph.take();
        let progress = graph.progress;
        let started = run::start(graph, &outputs)?;
        started.shared.stop.set_grace(stop.grace);
        if stop.on_signals {
            match SignalWatcher::start(StopHandle::new(&started.shared)) {
                Ok(watcher) => started.shared.stop.keep_watcher(watcher),
                Err(e) => {
                    // Nothing was read yet: take the run down and say why.
                    started.shared.request_stop(true);
                    let _ = Running::new(started).wait();
                    return Err(PipelineError::Runtime(format!(
                        "cannot watch SIGINT and SIGTERM: {e}"
                    )));
                }
            }
        }
        let mut running = Running::new(started);
        if progress {
            running.show_progress();
        }
        Ok(running)
    }

    /// Runs to completion and returns the report. Items of queues nobody consumes are
    /// dropped (and counted in the report).
    pub fn run(self) -> Result<Report, PipelineError> {
        self.start()?.wait()
    }

    /// Starts the pipeline and yields the items of `queue` as they come.
    pub fn run_iter<T: Send + 'static, K>(
        self,
        queue: Queue<T, K>,
    ) -> Result<Output<T>, PipelineError> {
        let port = self.output(queue);
        let mut running = self.start()?;
        Ok(running.take(port))
    }
}
