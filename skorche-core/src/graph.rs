//! The declared graph: nodes (stages) and queues (edges), before anything runs.

use std::sync::Arc;

pub(crate) use crate::channel::{make_channel, ErasedChannel};
use crate::failure::policy::{FailurePolicy, RunBudget};
use crate::launch::Runner;
pub use crate::mode::Mode;

/// A stage's process-mode settings; nothing in a thread-only build, so that every stage
/// declaration sets the field the same way (`Default::default()`).
#[cfg(feature = "process")]
pub(crate) type StageProcess = crate::process_options::ProcessOptions;
#[cfg(not(feature = "process"))]
pub(crate) type StageProcess = ();

/// Default bound of a queue whose capacity was not declared.
pub(crate) const DEFAULT_CAPACITY: usize = 64;

pub(crate) type NodeId = usize;
pub(crate) type QueueId = usize;

pub(crate) struct NodeDecl {
    pub(crate) name: String,
    pub(crate) kind: crate::StageKind,
    pub(crate) mode: Mode,
    /// Whether `workers`/`processes` may change the worker count (false for inherently
    /// sequential stages such as a source, batch or zip).
    pub(crate) scalable: bool,
    pub(crate) inputs: Vec<QueueId>,
    pub(crate) outputs: Vec<QueueId>,
    /// `None` for virtual nodes (merge) that need no thread of their own.
    pub(crate) runner: Option<Box<dyn Runner>>,
    /// Process-mode settings of this stage.
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) process: StageProcess,
    /// Whether the stage runs a registered task (and so may run in processes).
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) process_capable: bool,
}

pub(crate) struct QueueDecl {
    pub(crate) producer: NodeId,
    pub(crate) consumer: Option<NodeId>,
    pub(crate) capacity: Option<usize>,
    pub(crate) type_name: &'static str,
    /// A merged queue shares the channel of the queue it was merged into.
    pub(crate) merged_into: Option<QueueId>,
    /// Makes the queue's channel: `(capacity, whether its consumer runs several workers)`.
    pub(crate) make: fn(usize, bool) -> ErasedChannel,
    /// Builds an `order save` stage over this queue's item type.
    pub(crate) save_runner: fn(crossbeam_channel::Sender<()>) -> Box<dyn Runner>,
    /// A failure policy declared on this queue, for the stage that will consume it.
    pub(crate) failure: Option<Box<PendingFailure>>,
}

/// A failure policy declared on a queue whose consumer is not declared yet.
#[derive(Default)]
pub(crate) struct PendingFailure {
    pub(crate) policy: FailurePolicy,
    /// `fn(&T) -> T` for the queue's item type, when the policy retries or dead-letters.
    pub(crate) copy: Option<Box<dyn std::any::Any + Send>>,
    /// The dead-letter queue, and the placeholder node that stands as its producer until
    /// the consuming stage is declared (an unclaimed placeholder fails the run's start).
    pub(crate) dead_letter: Option<(QueueId, NodeId)>,
}

/// The whole declaration.
#[derive(Default)]
pub(crate) struct Graph {
    pub(crate) nodes: Vec<NodeDecl>,
    pub(crate) queues: Vec<QueueDecl>,
    pub(crate) default_capacity: Option<usize>,
    pub(crate) default_mode: Option<Mode>,
    /// Number of marker kinds declared.
    pub(crate) marker_kinds: usize,
    /// Save points declared, and whether each has its load.
    pub(crate) save_points: Vec<SavePoint>,
    /// The worker executable for process stages (default: the driver itself).
    #[cfg(feature = "process")]
    pub(crate) worker_program: Option<std::path::PathBuf>,
    /// Processes for registered-task stages declared from now on.
    #[cfg(feature = "process")]
    pub(crate) default_processes: Option<usize>,
    /// Bound on a worker's start and handshake, for stages that set none.
    #[cfg(feature = "process")]
    pub(crate) handshake_timeout: Option<std::time::Duration>,
    /// The run's failure budget, shared by every stage with a failure policy.
    pub(crate) run_budget: Arc<RunBudget>,
    /// Where cached stages keep their results; shared with them, read when the run starts.
    #[cfg(feature = "cache")]
    pub(crate) cache: crate::cache::SharedSettings,
    /// The exact length of each source, in declaration order (`None`: unknown).
    pub(crate) source_lens: Vec<Option<u64>>,
    /// Thread stages sized by the autoscaler.
    pub(crate) scaled: Vec<crate::queue_scale::Scaled>,
    /// Workers the autoscaler may run in all (default: the machine's cores).
    pub(crate) worker_budget: Option<usize>,
    /// How often the autoscaler looks (default 1 s).
    pub(crate) autoscale_period: Option<std::time::Duration>,
    /// The autoscaler only recommends, in the report.
    pub(crate) autoscale_passive: bool,
    /// Show the live view while the run goes ([`crate::Pipeline::progress`]).
    pub(crate) progress: bool,
    /// Live metrics are off ([`crate::Pipeline::metrics`]).
    pub(crate) metrics_off: bool,
}

pub(crate) struct SavePoint {
    pub(crate) node: NodeId,
    pub(crate) loaded: bool,
}

impl Graph {
    pub(crate) fn add_node(&mut self, node: NodeDecl) -> NodeId {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    pub(crate) fn add_queue<T: Send + 'static>(&mut self, producer: NodeId) -> QueueId {
        let id = self.add_detached_queue::<T>(producer);
        self.nodes[producer].outputs.push(id);
        id
    }

    /// A queue that is not (yet) among its producer's outputs: a dead-letter queue, whose
    /// placeholder producer gives way to the consuming stage once that is declared.
    pub(crate) fn add_detached_queue<T: Send + 'static>(&mut self, producer: NodeId) -> QueueId {
        self.queues.push(QueueDecl {
            producer,
            consumer: None,
            capacity: None,
            type_name: std::any::type_name::<T>(),
            merged_into: None,
            make: make_channel::<T>,
            save_runner: |credits| {
                Box::new(crate::stage::order::SaveRunner::<T> {
                    credits,
                    _t: std::marker::PhantomData,
                })
            },
            failure: None,
        });
        self.queues.len() - 1
    }

    /// The queue whose channel `q` uses (follows merges).
    pub(crate) fn channel_of(&self, mut q: QueueId) -> QueueId {
        while let Some(next) = self.queues[q].merged_into {
            q = next;
        }
        q
    }

    /// The queue whose channel the declared queue `q` uses.
    pub(crate) fn channel_of_decl(&self, q: &QueueDecl) -> QueueId {
        match q.merged_into {
            Some(next) => self.channel_of(next),
            None => self
                .queues
                .iter()
                .position(|x| std::ptr::eq(x, q))
                .expect("the queue belongs to this graph"),
        }
    }

    pub(crate) fn unique_name(&self, base: &str) -> String {
        let taken = |n: &str| self.nodes.iter().any(|x| x.name == n);
        if !taken(base) {
            return base.to_string();
        }
        (2..)
            .map(|i| format!("{base}_{i}"))
            .find(|n| !taken(n))
            .expect("an unused name exists")
    }
}
