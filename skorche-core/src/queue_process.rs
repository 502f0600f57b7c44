//! Registered tasks and process mode on [`Queue`].

use std::path::PathBuf;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use skorche_worker::registry::{BoundTask, DefaultScale, IntoTask};
use skorche_worker::zero_copy::{self, FromOutput};

use crate::graph::Mode;
use crate::queue::Queue;
use crate::stage::task::{OutputView, TaskRunner};
use crate::stage_shape::TaskStage;

impl<T: Send + 'static, K> Queue<T, K> {
    /// Binds a registered task (declared with `skorche::task!`): it runs on threads like
    /// any task, and the same code runs in worker processes after [`Queue::processes`].
    /// A flat-map task's outputs take their input's place, like [`Queue::flat_map`].
    ///
    /// In process mode the worker checks the task name and the input and output type names
    /// at handshake, before any item flows.
    ///
    /// A chain of registered tasks (`A.then(&B)`, see
    /// [`BoundTask::then`](skorche_worker::registry::BoundTask::then)) is one stage: on
    /// threads each worker runs A then B on each item; in processes each item goes to a
    /// worker once, which runs both (one hop instead of one per task).
    ///
    /// The stage's worker count, unless [`workers`](Queue::workers) or
    /// [`processes`](Queue::processes) sets it: the task's declared
    /// [`DefaultScale`](skorche_worker::registry::DefaultScale) (`map("t", f).workers(4)` in
    /// `task!`), else [`Pipeline::default_processes`](crate::Pipeline::default_processes) or
    /// [`Pipeline::default_workers`](crate::Pipeline::default_workers), else one thread.
    ///
    /// ```
    /// use skorche_core::{Mode, Pipeline};
    ///
    /// fn square(x: u64) -> u64 { x * x }
    /// skorche_worker::task! {
    ///     static SQUARE: u64 => u64 = map("doc_square_4", square).workers(4);
    /// }
    /// let p = Pipeline::new();
    /// let _by_default = p.source(0..10u64).map_task(&SQUARE);
    /// let _overridden = p.source(0..10u64).map_task(&SQUARE).workers(2);
    /// let report = p.run()?;
    /// assert_eq!(report.stage("doc_square_4").unwrap().mode, Mode::Threads(4));
    /// assert_eq!(report.stage("doc_square_4_2").unwrap().mode, Mode::Threads(2));
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    pub fn map_task<U>(self, task: impl IntoTask<T, U>) -> Queue<U, TaskStage>
    where
        T: Serialize + DeserializeOwned,
        U: DeserializeOwned + Send + 'static,
    {
        let view = OutputView {
            convert: |u| u,
            decode: zero_copy::decode_output::<U>,
        };
        self.task_stage(task.into_task(), view)
    }

    /// As [`Queue::map_task`], with the task's outputs read as a `V` instead of its declared
    /// output type `U`: in process mode, a large output is then read where the worker wrote
    /// it, in its shared-memory ring, without a copy.
    ///
    /// | task's output `U` | `V` | in process mode |
    /// |---|---|---|
    /// | `Vec<u8>` or `ShmBytes` | [`ShmBytes`](skorche_worker::rings::ShmBytes) | a ring record held in place, derefs to `[u8]` |
    /// | `ShmSlice<T>` (tasks declared with `map_slice`, `fill_slice`) | [`ShmSlice<T>`](skorche_worker::rings::ShmSlice) | the same, derefs to `[T]` |
    ///
    /// An output below the stage's [`shm_threshold`](Queue::shm_threshold) travels inline
    /// and becomes a value that owns its bytes; on threads every output does. A held value
    /// keeps its record until it is dropped (the worker waits for room meanwhile: that is
    /// backpressure, never an error), also after the run has ended.
    ///
    /// ```
    /// use skorche_core::Pipeline;
    /// use skorche_worker::builtin::{checksum, produce_bytes, PRODUCE_BYTES_IN_PLACE};
    /// use skorche_worker::rings::ShmBytes;
    ///
    /// let p = Pipeline::new();
    /// let out = p
    ///     .source((0..4u64).map(|seed| (seed, 1 << 20)))
    ///     .map_task_as::<_, ShmBytes>(&PRODUCE_BYTES_IN_PLACE);
    /// for (seed, bytes) in p.run_iter(out)?.enumerate() {
    ///     let bytes: ShmBytes = bytes?;
    ///     assert_eq!(checksum(&bytes), checksum(&produce_bytes((seed as u64, 1 << 20))));
    /// }
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    pub fn map_task_as<U, V>(self, task: impl IntoTask<T, U>) -> Queue<V, TaskStage>
    where
        T: Serialize + DeserializeOwned,
        U: Send + 'static,
        V: FromOutput<U>,
    {
        let view = OutputView {
            convert: V::from_output,
            decode: V::from_value,
        };
        self.task_stage(task.into_task(), view)
    }

    fn task_stage<U, V>(self, task: BoundTask<T, U>, view: OutputView<U, V>) -> Queue<V, TaskStage>
    where
        T: Serialize + DeserializeOwned,
        U: Send + 'static,
        V: Send + 'static,
    {
        // A chain of tasks is named like a chain of closures: `resize+sharpen`.
        let name = task.steps().join("+");
        let scale = task.default_scale();
        let q: Queue<V, TaskStage> = self
            .add_stage(
                crate::StageKind::Task,
                None,
                true,
                Box::new(TaskRunner { task, view }),
                1,
            )
            .pop()
            .expect("one output")
            .reshape();
        {
            let mut g = q.graph.borrow_mut();
            let producer = g.queues[q.id].producer;
            g.nodes[producer].process_capable = true;
            // The task's own declared scale is more specific than the pipeline's defaults.
            let mode = match (scale, g.default_processes) {
                (Some(DefaultScale::Workers(n)), _) => Some(Mode::Threads(n)),
                (Some(DefaultScale::Processes(n)), _) | (None, Some(n)) => Some(Mode::Processes(n)),
                (None, None) => None,
            };
            if let Some(mode) = mode {
                g.nodes[producer].mode = mode;
            }
        }
        q.set_default_name(&name);
        q
    }
}

/// The settings of a stage that runs a registered task: where and how it runs in processes.
impl<T: Send + 'static> Queue<T, TaskStage> {
    /// The stage that produces this queue runs in `n` worker processes (spawned by
    /// re-executing the worker program, see [`crate::Pipeline::worker_program`]). A range
    /// (`1..=8`) lets the autoscaler size it within the
    /// [worker budget](crate::Pipeline::worker_budget): only the initial target of
    /// processes starts; when the target grows, new ones start, and when it shrinks, the
    /// surplus ones finish the items they hold (every result is collected, order and
    /// markers are kept), are told the stream ended, exit and are reaped. This is not a
    /// restart (`StageReport::restarts` does not count it). A stage that forwards encoded
    /// records to or from another process stage, or hands `ShmBytes` on, shares its rings
    /// with workers that attach them when they start: its surplus processes stay alive,
    /// idle, instead.
    ///
    /// Only a registered task can cross a process boundary, so this setting exists only on
    /// the queue of a [`Queue::map_task`] stage ([`TaskStage`]): on a closure stage it does
    /// not compile.
    ///
    /// # Panics
    /// If `n` is 0: a stage needs at least one worker.
    #[track_caller]
    pub fn processes(self, n: impl crate::queue_scale::WorkerCount) -> Self {
        self.set_processes(n);
        self
    }

    fn process_options(self, f: impl FnOnce(&mut crate::process_options::ProcessOptions)) -> Self {
        {
            let mut g = self.graph.borrow_mut();
            let producer = g.queues[self.id].producer;
            f(&mut g.nodes[producer].process);
        }
        self
    }

    /// In process mode, values whose encoding has at least `bytes` bytes travel through a
    /// shared-memory ring and only a handle crosses the socket (default 64 KiB);
    /// `usize::MAX` sends everything inline.
    pub fn shm_threshold(self, bytes: usize) -> Self {
        self.process_options(|o| o.shm_threshold = bytes)
    }

    /// In process mode, the size in bytes of each worker's two rings (default 64 MiB).
    ///
    /// A full ring is backpressure: the writer waits (for minutes if the reader does)
    /// until records are released, and never fails for it. A value too large for the ring
    /// travels inline in the message instead, so any size travels whatever this setting.
    pub fn ring_capacity(self, bytes: usize) -> Self {
        self.process_options(|o| o.ring_capacity = bytes)
    }

    /// In process mode, fails the stage when one item runs longer than `limit` in a worker:
    /// the error names that item, and the worker is stopped and reaped. The limit applies to
    /// each item whatever the batch size (workers report progress within a batch).
    pub fn item_timeout(self, limit: Duration) -> Self {
        self.process_options(|o| o.item_timeout = Some(limit))
    }

    /// In process mode, at most `items` per message (default 256) and at most `window`
    /// messages unanswered per worker (default 2).
    ///
    /// These are maxima: each worker starts with one item at a time, and its batches grow
    /// only while its tasks take under 100 µs per item, so slow items spread over every
    /// worker. A worker holds at most `items × window` items, which
    /// [`Pipeline::max_in_flight`](crate::Pipeline::max_in_flight) counts.
    ///
    /// # Panics
    /// If `items` or `window` is 0: a worker must be able to hold one item.
    #[track_caller]
    pub fn process_batching(self, items: usize, window: usize) -> Self {
        if items == 0 || window == 0 {
            self.refuse(
                &format!("process_batching({items}, {window})"),
                "a message holds at least one item and a worker at least one message",
            );
        }
        self.process_options(|o| {
            o.max_batch = items;
            o.window = window;
        })
    }

    /// In process mode, the bound on starting one worker and completing its handshake
    /// (default: the pipeline's, see
    /// [`Pipeline::handshake_timeout`](crate::Pipeline::handshake_timeout), or 10 s).
    pub fn handshake_timeout(self, limit: Duration) -> Self {
        self.process_options(|o| o.handshake_timeout = Some(limit))
    }

    /// In process mode, a worker that dies (killed by any signal, or exiting) is replaced
    /// by a new one with the same task and params, and the items it held are given to the
    /// new worker: nothing is lost, and nothing is emitted twice (answers are taken once, by
    /// batch id). At most `max` restarts happen over the run for this stage; past that, the
    /// stage fails with an error saying so. Without this call a dead worker fails the stage.
    ///
    /// An item that a worker was working on when it died is charged with the crash; one that
    /// crashes [`poison_after`](Queue::poison_after) workers in a row (3 by default) fails
    /// the stage, naming the item, the count and how the last worker died. With an
    /// [`item_timeout`](Queue::item_timeout), a worker stopped over a hung item is restarted
    /// the same way, and the item is charged.
    ///
    /// Restarted workers get fresh shared-memory rings; their inputs are copied over from
    /// the dead worker's ring. A stage that restarts workers hands its outputs on decoded
    /// (never forwarding ring records to a process stage downstream), and a process stage
    /// reading from one gets its inputs through its own ring.
    ///
    /// Delivery: a task may run more than once on an item whose worker died (at-least-once
    /// attempts), but each input's outputs are emitted exactly once.
    pub fn restart_workers(self, max: usize) -> Self {
        self.process_options(|o| {
            let poison_after = o
                .restart
                .as_ref()
                .map_or(crate::process_options::POISON_AFTER, |r| r.poison_after);
            o.restart = Some(crate::process_options::RestartPolicy { max, poison_after });
        })
    }

    /// With [`restart_workers`](Queue::restart_workers): an item on which `k` workers died
    /// in a row fails the stage (default 3).
    ///
    /// # Panics
    /// If `k` is 0: an item is charged only once a worker died on it.
    #[track_caller]
    pub fn poison_after(self, k: u32) -> Self {
        if k == 0 {
            self.refuse(
                "poison_after(0)",
                "an item is charged only once a worker died on it",
            );
        }
        self.process_options(|o| {
            let max = o.restart.as_ref().map_or(0, |r| r.max);
            o.restart = Some(crate::process_options::RestartPolicy {
                max,
                poison_after: k,
            });
        })
    }

    /// Runs this stage's workers through another transport than child processes of the
    /// driver, for example [`InProcess`](skorche_worker::transport::inproc::InProcess)
    /// (the worker loop on threads of this process, with the real protocol: useful to debug a
    /// task under the coordinator). Takes effect in process mode.
    pub fn transport(
        self,
        transport: std::sync::Arc<dyn skorche_worker::transport::Transport>,
    ) -> Self {
        self.process_options(|o| o.transport = Some(transport))
    }

    /// The worker program of this stage only (see [`crate::Pipeline::worker_program`]).
    pub fn worker_program(self, path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        self.process_options(|o| o.program = Some(path))
    }
}
