//! The seam between a declared stage and the executor: a stage's [`Runner`] is handed a
//! [`Launch`] context, takes its typed channels from it and spawns its workers.

use std::sync::Arc;
use std::thread::JoinHandle;

use crate::channel::{Channel, ErasedChannel};
use crate::error::PipelineError;
use crate::exec::shared::RunShared;
use crate::exec::worker_cx::{StageStats, WorkerCx};
use crate::failure::policy::StagePolicy;
use crate::hop::{Outlet, Rx};
use crate::mode::Mode;

/// A declared stage, ready to be started.
pub(crate) trait Runner: Send {
    /// Takes channels from `cx` and spawns the stage's workers. Must not block.
    fn launch(self: Box<Self>, cx: &mut Launch<'_>) -> Result<(), PipelineError>;

    /// This runner with the failure policy declared on the stage's input queue (at
    /// declaration); `None` if this kind of stage runs no task a policy could apply to.
    fn with_failure(self: Box<Self>, policy: StagePolicy) -> Option<Box<dyn Runner>> {
        let _ = policy;
        None
    }
}

/// Everything a runner needs to start its stage.
pub(crate) struct Launch<'a> {
    pub(crate) stats: Arc<StageStats>,
    pub(crate) mode: Mode,
    /// Channel index (into `channels`) of each declared input, in declaration order.
    pub(crate) inputs: Vec<usize>,
    /// Channel index of each declared output.
    pub(crate) outputs: Vec<usize>,
    pub(crate) channels: &'a mut [ErasedChannel],
    pub(crate) shared: &'a Arc<RunShared>,
    pub(crate) threads: &'a mut Vec<JoinHandle<()>>,
    /// The run's process side, for stages that run registered tasks in worker processes.
    #[cfg(feature = "process")]
    pub(crate) process: crate::coordinator::context::ProcessCx<'a>,
    /// The autoscaler's gate, for a stage it sizes.
    pub(crate) scale: Option<Arc<crate::autoscale::gate::ScaleGate>>,
    /// The index of the worker being set up (by [`Launch::spawn_each`]).
    pub(crate) worker_index: usize,
}

impl Launch<'_> {
    /// How many workers the stage runs on.
    pub(crate) fn workers(&self) -> usize {
        self.mode.count().max(1)
    }

    fn channel<T: Send + 'static>(&mut self, chan: usize) -> &mut Channel<T> {
        self.channels[chan]
            .chan
            .downcast_mut::<Channel<T>>()
            .expect("the graph types every channel by its queue's item type")
    }

    /// A receiver of the `i`-th input, for one worker.
    pub(crate) fn input<T: Send + 'static>(&mut self, i: usize) -> Rx<T> {
        let chan = self.inputs[i];
        let mut rx = self.channel::<T>(chan).rx.clone();
        if let Some(gate) = &self.scale {
            rx.set_gate(gate.clone(), self.worker_index);
        }
        rx
    }

    /// The `i`-th output, for one worker, which opens its sender in its own thread
    /// ([`Outlet::open`]).
    pub(crate) fn output<T: Send + 'static>(&mut self, i: usize) -> Outlet<T> {
        let chan = self.outputs[i];
        self.channel::<T>(chan)
            .tx
            .clone()
            .expect("senders stay in place until every stage has launched")
    }

    /// Spawns one worker thread of this stage.
    pub(crate) fn spawn(&mut self, body: impl FnOnce(&mut WorkerCx) + Send + 'static) {
        let cx = WorkerCx::new(self.stats.clone(), self.shared.clone());
        self.spawn_thread(cx, body);
    }

    /// Runs `body` with `cx` on a new thread named after the stage.
    fn spawn_thread(
        &mut self,
        mut cx: WorkerCx,
        body: impl FnOnce(&mut WorkerCx) + Send + 'static,
    ) {
        let name = format!("skorche:{}", self.stats.name);
        let handle = std::thread::Builder::new()
            .name(name)
            .spawn(move || cx.run(body))
            .expect("spawning a stage thread");
        self.threads.push(handle);
    }

    /// Spawns a helper thread of this stage (a watchdog): its lifetime is not worker time
    /// in the load figures.
    #[cfg(feature = "process")]
    pub(crate) fn spawn_helper(&mut self, body: impl FnOnce(&mut WorkerCx) + Send + 'static) {
        let cx = WorkerCx::helper(self.stats.clone(), self.shared.clone());
        self.spawn_thread(cx, body);
    }

    /// Spawns `self.workers()` threads, each running `make()`'s body.
    pub(crate) fn spawn_each<B>(&mut self, mut make: impl FnMut(&mut Self) -> B)
    where
        B: FnOnce(&mut WorkerCx) + Send + 'static,
    {
        for i in 0..self.workers() {
            self.worker_index = i;
            let body = make(self);
            self.spawn(body);
        }
    }
}
