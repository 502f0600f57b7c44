//! The ordering and marker operations of [`Queue`].

use std::marker::PhantomData;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use crossbeam_channel::{bounded, Receiver};

use crate::graph::{NodeDecl, QueueDecl, SavePoint};
use crate::order::Share;
use crate::packet::MarkerId;
use crate::queue::Queue;
use crate::stage::marker::{InsertRunner, Marker, OnMarkerRunner, Placement};
use crate::stage::order::LoadRunner;

/// Window of [`Queue::ordered`]: positions admitted ahead of the reorder buffer.
pub const DEFAULT_ORDER_WINDOW: usize = 256;

/// A save point, returned by [`Queue::order_save`] and consumed by [`Queue::order_load`].
#[must_use = "a save point without its load stalls the run once its window is full"]
#[derive(Debug)]
pub struct OrderPoint {
    index: usize,
    credits: Receiver<()>,
    high_water: Arc<AtomicUsize>,
}

impl OrderPoint {
    /// A handle on the largest number of items the load's reorder buffer has held so far
    /// (it never exceeds the save point's window).
    pub fn high_water(&self) -> Arc<AtomicUsize> {
        self.high_water.clone()
    }
}

impl<T: Send + 'static, K> Queue<T, K> {
    /// Marks the start of an ordered section: every item (and marker) gets a position.
    /// At most `window` positions are admitted ahead of the matching
    /// [`Queue::order_load`], so the reorder buffer stays bounded even if one item is slow.
    ///
    /// Between save and load, any operation keeps positions right: `filter` and `split`
    /// leave empty positions behind, `flat_map` outputs take their input's place, `batch`
    /// and `unbatch` hand positions through, `merge` after `split` restores global order.
    ///
    /// ```
    /// # use skorche_core::Pipeline;
    /// let p = Pipeline::new();
    /// let (q, point) = p.source(0..100u64).order_save(16);
    /// let slow_first = q.map(|x| { if x == 0 { std::thread::sleep(std::time::Duration::from_millis(20)); } x }).workers(4);
    /// let out = slow_first.order_load(point);
    /// let v: Vec<u64> = p.run_iter(out)?.collect::<Result<_, _>>()?;
    /// assert_eq!(v, (0..100).collect::<Vec<_>>());
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    ///
    /// # Panics
    /// If `window` is 0: at least one position must be admitted.
    #[track_caller]
    pub fn order_save(self, window: usize) -> (Queue<T>, OrderPoint) {
        if window == 0 {
            self.refuse_op("order_save(0)", "the window admits at least one position");
        }
        let (tx, rx) = bounded(window);
        let runner = {
            let g = self.graph.borrow();
            (g.queues[self.id].save_runner)(tx)
        };
        let q: Queue<T> = self
            .add_stage(crate::StageKind::OrderSave, None, false, runner, 1)
            .pop()
            .expect("one output");
        let mut g = q.graph.borrow_mut();
        let node = g.queues[q.id].producer;
        g.save_points.push(SavePoint {
            node,
            loaded: false,
        });
        let index = g.save_points.len() - 1;
        drop(g);
        let point = OrderPoint {
            index,
            credits: rx,
            high_water: Arc::new(AtomicUsize::new(0)),
        };
        (q, point)
    }

    /// Ends the ordered section opened by `point`: items leave in the order they had at
    /// the save point.
    pub fn order_load(self, point: OrderPoint) -> Queue<T> {
        let target = {
            let mut g = self.graph.borrow_mut();
            g.save_points[point.index].loaded = true;
            let save = g.save_points[point.index].node;
            reaching_share(&g, self.id, save)
        };
        let runner = LoadRunner::<T> {
            credits: point.credits,
            target,
            high_water: point.high_water,
            _t: PhantomData,
        };
        self.add_stage(
            crate::StageKind::OrderLoad,
            None,
            false,
            Box::new(runner),
            1,
        )
        .pop()
        .expect("one output")
    }

    /// Restores, after the stage that produces this queue, the order its input had: the
    /// one-call form of `order_save` before the stage and `order_load` after it, with a
    /// window of [`DEFAULT_ORDER_WINDOW`].
    ///
    /// ```
    /// # use skorche_core::Pipeline;
    /// let p = Pipeline::new();
    /// let out = p.source(0..50u64).map(|x| x * 2).workers(4).ordered();
    /// let v: Vec<u64> = p.run_iter(out)?.collect::<Result<_, _>>()?;
    /// assert_eq!(v, (0..50).map(|x| x * 2).collect::<Vec<_>>());
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    ///
    /// # Panics
    /// If the producing stage does not have exactly one input (a source, merge or zip).
    pub fn ordered(self) -> Queue<T> {
        self.ordered_within(DEFAULT_ORDER_WINDOW)
    }

    /// [`Queue::ordered`] with an explicit window.
    ///
    /// # Panics
    /// As [`Queue::ordered`], and if `window` is 0: at least one position must be admitted.
    #[track_caller]
    pub fn ordered_within(self, window: usize) -> Queue<T> {
        if window == 0 {
            self.refuse(
                "ordered_within(0)",
                "the window admits at least one position",
            );
        }
        let (tx, rx) = bounded(window);
        let point_index = {
            let mut g = self.graph.borrow_mut();
            let producer = g.queues[self.id].producer;
            assert!(
                g.nodes[producer].inputs.len() == 1 && g.nodes[producer].runner.is_some(),
                "ordered() needs a stage with one input; use order_save/order_load around a section"
            );
            // Splice a save stage in front of the producer: upstream -> save -> producer.
            let input = g.nodes[producer].inputs[0];
            let save_name = g.unique_name("order_save");
            let runner = (g.queues[input].save_runner)(tx);
            let save = g.add_node(NodeDecl {
                name: save_name,
                kind: crate::StageKind::OrderSave,
                mode: crate::graph::Mode::Threads(1),
                scalable: false,
                inputs: vec![input],
                outputs: Vec::new(),
                runner: Some(runner),
                process: Default::default(),
                process_capable: false,
            });
            let template = &g.queues[input];
            let saved = QueueDecl {
                producer: save,
                consumer: Some(producer),
                capacity: template.capacity,
                type_name: template.type_name,
                merged_into: None,
                make: template.make,
                save_runner: template.save_runner,
                failure: None,
            };
            g.queues.push(saved);
            let saved = g.queues.len() - 1;
            g.nodes[save].outputs.push(saved);
            g.queues[input].consumer = Some(save);
            g.nodes[producer].inputs[0] = saved;
            g.save_points.push(SavePoint {
                node: save,
                loaded: false,
            });
            g.save_points.len() - 1
        };
        let point = OrderPoint {
            index: point_index,
            credits: rx,
            high_water: Arc::new(AtomicUsize::new(0)),
        };
        self.order_load(point)
    }

    /// Inserts a marker every `n` items, before or after them; returns the marker's
    /// identity for [`Queue::on`] and [`crate::Output::until`]. Markers pass every stage
    /// without being given to tasks; inserted before an `order_save`, they keep their
    /// place among the items through the ordered section.
    ///
    /// # Panics
    /// If `n` is 0: a marker comes every one item at most.
    #[track_caller]
    pub fn insert_periodic(self, n: u64, placement: Placement) -> (Queue<T>, Marker) {
        if n == 0 {
            self.refuse_op(
                "insert_periodic(0, _)",
                "a marker comes every one item at most",
            );
        }
        let kind = {
            let mut g = self.graph.borrow_mut();
            g.marker_kinds += 1;
            g.marker_kinds - 1
        };
        let runner = InsertRunner::<T> {
            every: n,
            placement,
            kind,
            _t: PhantomData,
        };
        let q = self
            .add_stage(crate::StageKind::Marker, None, false, Box::new(runner), 1)
            .pop()
            .expect("one output");
        (q, Marker { kind })
    }

    /// Calls `callback` each time `marker` passes this point of the stream (once per
    /// occurrence, even if a split and a merge bring copies of it together).
    pub fn on<F>(self, marker: Marker, callback: F) -> Queue<T>
    where
        F: Fn(MarkerId) + Send + Sync + 'static,
    {
        let runner = OnMarkerRunner::<T> {
            kind: marker.kind,
            callback: Arc::new(callback),
            _t: PhantomData,
        };
        self.add_stage(crate::StageKind::OnMarker, None, false, Box::new(runner), 1)
            .pop()
            .expect("one output")
    }
}

/// The part of each position saved at `save` that flows into queue `q`: splits divide it,
/// merges add it up. Everything upstream of `q` is declared already, so this is exact.
fn reaching_share(
    g: &crate::graph::Graph,
    q: crate::graph::QueueId,
    save: crate::graph::NodeId,
) -> Share {
    let node = &g.nodes[g.queues[q].producer];
    if g.queues[q].producer == save {
        return Share::WHOLE;
    }
    use crate::StageKind;
    match node.kind {
        StageKind::Source => Share::ZERO,
        StageKind::Merge => node
            .inputs
            .iter()
            .map(|&i| reaching_share(g, i, save))
            .fold(Share::ZERO, Share::add),
        StageKind::Split => reaching_share(g, node.inputs[0], save).split(node.outputs.len()),
        _ => reaching_share(g, node.inputs[0], save),
    }
}
