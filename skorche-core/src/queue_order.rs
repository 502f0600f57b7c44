//! The ordering and marker operations of [`Queue`].

use std::marker::PhantomData;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

use crossbeam_channel::{bounded, Receiver};

use crate::graph::{NodeDecl, QueueDecl, SavePoint};
use crate::graph_ref::GraphRef;
use crate::order::Share;
use crate::packet::MarkerId;
use crate::queue::Queue;
use crate::stage::marker::{InsertRunner, Marker, OnMarkerRunner, Placement};
use crate::stage::order::{Credits, Forked, LoadRunner};

/// Window of [`Queue::ordered`]: positions admitted ahead of the reorder buffer.
pub const DEFAULT_ORDER_WINDOW: usize = 256;

/// A save point, returned by [`Queue::order_save`] and consumed by [`Queue::order_load`].
#[must_use = "a save point without its load stalls the run once its window is full"]
pub struct OrderPoint {
    graph: GraphRef,
    index: usize,
    credits: Receiver<()>,
    high_water: Arc<AtomicUsize>,
    /// Set once the point was forked: the loads' shared progress, and this load's slot.
    fork: Option<(Arc<Mutex<Forked>>, usize)>,
}

impl std::fmt::Debug for OrderPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = self.graph.borrow();
        f.debug_struct("OrderPoint")
            .field("save", &g.nodes[g.save_points[self.index].node].name)
            .finish()
    }
}

impl OrderPoint {
    /// A handle on the largest number of items the load's reorder buffer has held so far
    /// (it never exceeds the save point's window).
    pub fn high_water(&self) -> Arc<AtomicUsize> {
        self.high_water.clone()
    }

    /// `n` points for `n` loads of one ordered section: one per branch of a
    /// [`tee`](Queue::tee) (or of a [`split`](Queue::split)) whose order is to be restored
    /// on its own. Each branch then gets every position of the section (as an item, a
    /// marker or an empty position) and its load puts them back in order.
    ///
    /// The window is shared: a position counts against it until *every* load has passed
    /// it, so the slowest branch holds the save point back and no reorder buffer holds more
    /// than `window` positions. Each point must be loaded, on its own branch (a load on a
    /// path that never sees the section would never free the window).
    ///
    /// ```
    /// # use skorche_core::Pipeline;
    /// let p = Pipeline::new();
    /// let (q, point) = p.source(0..100u64).order_save(16);
    /// let (a, b) = q.tee2();
    /// let [pa, pb]: [_; 2] = point.fork(2).try_into().unwrap();
    /// let a = a.map(|x| x * 2).workers(4).order_load(pa);
    /// let b = b.filter(|x| x % 3 == 0).workers(4).order_load(pb);
    /// let (a, b) = (p.output(a), p.output(b));
    /// let mut running = p.start()?;
    /// let (a, b) = (running.take(a), running.take(b));
    /// let b = std::thread::spawn(move || b.collect::<Result<Vec<u64>, _>>());
    /// assert_eq!(a.collect::<Result<Vec<u64>, _>>()?, (0..100).map(|x| x * 2).collect::<Vec<_>>());
    /// assert_eq!(b.join().unwrap()?, (0..100).filter(|x| x % 3 == 0).collect::<Vec<_>>());
    /// # Ok::<(), skorche_core::PipelineError>(())
    /// ```
    ///
    /// # Panics
    /// If `n` is 0: a save point needs a load.
    #[track_caller]
    pub fn fork(self, n: usize) -> Vec<OrderPoint> {
        if n == 0 {
            let g = self.graph.borrow();
            let name = g.nodes[g.save_points[self.index].node].name.clone();
            drop(g);
            panic!("fork(0) of the save point of stage '{name}': a save point needs a load");
        }
        // This point's slot among the loads' progress counters, and one more per new point.
        let (forked, slots): (_, Vec<usize>) = match self.fork {
            None => (
                Arc::new(Mutex::new(Forked {
                    completed: vec![0; n],
                    returned: 0,
                })),
                (0..n).collect(),
            ),
            Some((forked, me)) => {
                let mut f = forked.lock().unwrap_or_else(|e| e.into_inner());
                let (start, done) = (f.completed.len(), f.completed[me]);
                f.completed.resize(start + n - 1, done);
                drop(f);
                (
                    forked,
                    std::iter::once(me).chain(start..start + n - 1).collect(),
                )
            }
        };
        let mut g = self.graph.borrow_mut();
        let node = g.save_points[self.index].node;
        let points = slots
            .into_iter()
            .enumerate()
            .map(|(i, slot)| {
                let index = if i == 0 {
                    self.index
                } else {
                    g.save_points.push(SavePoint {
                        node,
                        loaded: false,
                    });
                    g.save_points.len() - 1
                };
                OrderPoint {
                    graph: self.graph.clone(),
                    index,
                    credits: self.credits.clone(),
                    high_water: if i == 0 {
                        self.high_water.clone()
                    } else {
                        Arc::new(AtomicUsize::new(0))
                    },
                    fork: Some((forked.clone(), slot)),
                }
            })
            .collect();
        drop(g);
        points
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
    /// [`tee`](Queue::tee) sends every position down each branch: [`OrderPoint::fork`]
    /// gives each branch a load of its own, or a load after a `merge` of the branches puts
    /// each item's copies (and whatever each branch made of them) together, in branch order.
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
            graph: q.graph.clone(),
            index,
            credits: rx,
            high_water: Arc::new(AtomicUsize::new(0)),
            fork: None,
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
            credits: Credits {
                rx: point.credits,
                fork: point.fork,
            },
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
            graph: self.graph.clone(),
            index: point_index,
            credits: rx,
            high_water: Arc::new(AtomicUsize::new(0)),
            fork: None,
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
        // A tee's branches each carry a copy, with a split branch's share (and a lane).
        StageKind::Split | StageKind::Tee => {
            reaching_share(g, node.inputs[0], save).split(node.outputs.len())
        }
        _ => reaching_share(g, node.inputs[0], save),
    }
}
