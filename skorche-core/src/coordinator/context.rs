//! What the process stages of one run share while it launches: which queues carry encoded
//! payloads from one process stage to the next, the rings offered downstream, and the gate
//! that opens once every worker process has started.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use crate::coordinator::rings::{SharedRings, StartGate};
use crate::coordinator::Payload;
use crate::graph::{ErasedChannel, Graph, Mode, NodeDecl};
use crate::process_options::ProcessOptions;

/// One stage's share of [`RunProcesses`], handed to its runner in
/// [`Launch::process`](crate::launch::Launch).
pub(crate) struct ProcessCx<'a> {
    /// Per input: whether it carries encoded payloads from an upstream process stage.
    pub(crate) forward_in: Vec<bool>,
    /// Per output: whether it carries encoded payloads to a downstream process stage.
    pub(crate) forward_out: Vec<bool>,
    /// Output rings of process stages whose payloads are forwarded, by channel index.
    pub(crate) forward_rings: &'a mut HashMap<usize, SharedRings>,
    /// Output rings of process stages whose items are `ShmBytes` held in them, in launch
    /// order: later stages taking `ShmBytes` inputs attach them (see `coordinator::launch`).
    /// Each with the flag a later stage sets when it attaches them.
    pub(crate) held_rings: &'a mut Vec<(SharedRings, Arc<AtomicBool>)>,
    /// Set while launching a stage that offers its output rings to `held_rings`.
    pub(crate) offer_held: bool,
    /// Opens once every worker process of the run has started.
    pub(crate) gate: Arc<StartGate>,
    /// The stage's settings, with the pipeline's defaults filled in.
    pub(crate) options: ProcessOptions,
}

/// The process side of one run's launch.
pub(crate) struct RunProcesses {
    /// Per queue: whether it carries encoded payloads (see [`forwarded_queues`]).
    forwarded: Vec<bool>,
    forward_rings: HashMap<usize, SharedRings>,
    held_rings: Vec<(SharedRings, Arc<AtomicBool>)>,
    gate: Arc<StartGate>,
    program: Option<PathBuf>,
    handshake_timeout: Option<Duration>,
}

impl RunProcesses {
    pub(crate) fn new(graph: &Graph, outputs: &[usize]) -> Self {
        RunProcesses {
            forwarded: forwarded_queues(graph, outputs),
            forward_rings: HashMap::new(),
            held_rings: Vec::new(),
            gate: StartGate::new(),
            program: graph.worker_program.clone(),
            handshake_timeout: graph.handshake_timeout,
        }
    }

    /// The channel of queue `q` if it carries encoded payloads; `None`: the queue's own.
    pub(crate) fn channel(&self, q: usize, cap: usize, shared: bool) -> Option<ErasedChannel> {
        self.forwarded[q].then(|| crate::graph::make_channel::<Payload>(cap, shared))
    }

    /// The share of `node`, about to launch.
    pub(crate) fn stage(&mut self, node: &NodeDecl) -> ProcessCx<'_> {
        let mut options = node.process.clone();
        if options.program.is_none() {
            options.program = self.program.clone();
        }
        if options.handshake_timeout.is_none() {
            options.handshake_timeout = self.handshake_timeout;
        }
        ProcessCx {
            forward_in: node.inputs.iter().map(|&q| self.forwarded[q]).collect(),
            forward_out: node.outputs.iter().map(|&q| self.forwarded[q]).collect(),
            forward_rings: &mut self.forward_rings,
            held_rings: &mut self.held_rings,
            offer_held: false,
            gate: self.gate.clone(),
            options,
        }
    }

    /// Every stage is launched: the gate opens once the workers already counted have
    /// started.
    pub(crate) fn all_launched(&self) {
        self.gate.arrive();
    }
}

/// Queues between two process stages: they carry encoded payloads, which the downstream
/// workers read straight from the upstream workers' rings (the coordinator never decodes
/// or copies them).
fn forwarded_queues(graph: &Graph, outputs: &[usize]) -> Vec<bool> {
    let in_processes = |n: usize| {
        let node = &graph.nodes[n];
        // A stage that restarts workers gives each new worker fresh rings, which a stage
        // downstream could not attach: its outputs travel decoded instead.
        node.process_capable
            && matches!(node.mode, Mode::Processes(_))
            && node.process.restart.is_none()
            // Workers on other hosts cannot read the rings a record would stay in.
            && node.process.shares_memory()
    };
    graph
        .queues
        .iter()
        .enumerate()
        .map(|(q, decl)| {
            decl.merged_into.is_none()
                && !outputs.contains(&q)
                && !graph
                    .queues
                    .iter()
                    .any(|other| other.merged_into == Some(q))
                && in_processes(decl.producer)
                && decl.consumer.is_some_and(in_processes)
        })
        .collect()
}
