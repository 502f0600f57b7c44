//! Markers: virtual items inserted into a stream, passed by every stage untouched, and
//! observed by callbacks (`on`) or by readers cutting the output into segments (`until`).

use std::sync::Arc;

use crate::error::PipelineError;
use crate::launch::{Launch, Runner};
use crate::order::Tag;
use crate::packet::{MarkerId, Packet};
use crate::stage::send;

/// Where a periodic marker goes relative to the items it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Before items `0, n, 2n, ...`: each marker opens a segment of `n` items.
    Before,
    /// After items `n-1, 2n-1, ...`: each marker closes a segment of `n` items.
    After,
}

/// A declared marker kind, returned by [`crate::Queue::insert_periodic`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Marker {
    pub(crate) kind: usize,
}

impl Marker {
    /// Whether `id` is an occurrence of this marker.
    pub fn matches(&self, id: MarkerId) -> bool {
        id.kind == self.kind
    }
}

/// Remembers the markers seen, so that copies of one marker (a split sends one down every
/// branch; a merge may bring them together again) fire once. Parallel workers may reorder
/// markers, so each kind keeps a watermark (every count below it was seen) and the counts
/// seen above it; memory is bounded by how far markers overtake each other.
#[derive(Debug, Default)]
pub(crate) struct SeenMarkers {
    kinds: Vec<(u64, std::collections::BTreeSet<u64>)>,
}

impl SeenMarkers {
    /// `true` the first time `id` is seen.
    pub(crate) fn first_time(&mut self, id: MarkerId) -> bool {
        if self.kinds.len() <= id.kind {
            self.kinds.resize_with(id.kind + 1, Default::default);
        }
        let (below, above) = &mut self.kinds[id.kind];
        if id.count < *below || !above.insert(id.count) {
            return false;
        }
        while above.remove(below) {
            *below += 1;
        }
        true
    }
}

pub(crate) struct InsertRunner<T> {
    pub(crate) every: u64,
    pub(crate) placement: Placement,
    pub(crate) kind: usize,
    pub(crate) _t: std::marker::PhantomData<fn(T)>,
}

impl<T: Send + 'static> Runner for InsertRunner<T> {
    fn launch(self: Box<Self>, cx: &mut Launch<'_>) -> Result<(), PipelineError> {
        let mut rx = cx.input::<T>(0);
        let tx = cx.output::<T>(0);
        let (every, placement, kind) = (self.every.max(1), self.placement, self.kind);
        cx.spawn(move |cx| {
            let tx = tx.open();
            let mut items = 0u64;
            let mut count = 0u64;
            let marker = |count: &mut u64| {
                let id = MarkerId {
                    kind,
                    count: *count,
                };
                *count += 1;
                Packet::Marker { tag: Tag::NONE, id }
            };
            for packet in rx.iter() {
                if cx.aborted() {
                    return;
                }
                let is_item = matches!(packet, Packet::Item { .. });
                if is_item {
                    cx.local.items_in += 1;
                    if placement == Placement::Before
                        && items % every == 0
                        && !send(&tx, cx, marker(&mut count))
                    {
                        return;
                    }
                }
                if !send(&tx, cx, packet) {
                    return;
                }
                if is_item {
                    items += 1;
                    if placement == Placement::After
                        && items % every == 0
                        && !send(&tx, cx, marker(&mut count))
                    {
                        return;
                    }
                }
            }
        });
        Ok(())
    }
}

pub(crate) type MarkerCallback = Arc<dyn Fn(MarkerId) + Send + Sync>;

pub(crate) struct OnMarkerRunner<T> {
    pub(crate) kind: usize,
    pub(crate) callback: MarkerCallback,
    pub(crate) _t: std::marker::PhantomData<fn(T)>,
}

impl<T: Send + 'static> Runner for OnMarkerRunner<T> {
    fn launch(self: Box<Self>, cx: &mut Launch<'_>) -> Result<(), PipelineError> {
        let mut rx = cx.input::<T>(0);
        let tx = cx.output::<T>(0);
        let (kind, callback) = (self.kind, self.callback);
        cx.spawn(move |cx| {
            let tx = tx.open();
            let mut seen = SeenMarkers::default();
            for packet in rx.iter() {
                if cx.aborted() {
                    return;
                }
                match &packet {
                    Packet::Item { .. } => cx.local.items_in += 1,
                    Packet::Marker { id, .. } if id.kind == kind && seen.first_time(*id) => {
                        let id = *id;
                        if cx
                            .call(id.count, || {
                                callback(id);
                                Ok(())
                            })
                            .is_none()
                        {
                            return;
                        }
                    }
                    _ => {}
                }
                if !send(&tx, cx, packet) {
                    return;
                }
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_order_markers_each_fire_once() {
        let mut sut = SeenMarkers::default();
        let id = |count| MarkerId { kind: 0, count };
        assert!(sut.first_time(id(1)));
        assert!(sut.first_time(id(0)));
        assert!(!sut.first_time(id(1)));
        assert!(!sut.first_time(id(0)));
        assert!(sut.first_time(id(3)));
        assert!(sut.first_time(id(2)));
        assert!(!sut.first_time(id(3)));
        assert_eq!(sut.kinds[0].0, 4);
        assert!(sut.kinds[0].1.is_empty());
    }
}
