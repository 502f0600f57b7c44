//! The reorder buffer behind `order load`: packets arrive in any order, tagged with their
//! positions; whole root positions leave in order as soon as they are complete.

use std::collections::{BTreeMap, VecDeque};

use crate::order::{Share, Step, Tag};
use crate::packet::Packet;

/// One position of the tree: the packet found there (an item or a marker), the shares of
/// it seen so far, and the outputs the items placed here were expanded into.
#[derive(Debug)]
struct Node<T> {
    /// The first packet placed here, with the lane it came by.
    packet: Option<(u64, Packet<T>)>,
    /// Further items placed here: copies of one item sent down several branches of a `tee`
    /// and merged again (each by its own lane).
    more: Vec<(u64, Packet<T>)>,
    share: Share,
    /// One per lane whose item was expanded into child positions (one at most without a
    /// `tee`).
    expansions: Vec<Expansion<T>>,
}

/// The outputs one item at a position was expanded into (by `flat_map`, say).
#[derive(Debug)]
struct Expansion<T> {
    lane: u64,
    /// Share of the position carried by the item that was expanded.
    share: Share,
    children: BTreeMap<u64, Node<T>>,
    last_child: Option<u64>,
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Node {
            packet: None,
            more: Vec::new(),
            share: Share::ZERO,
            expansions: Vec::new(),
        }
    }
}

impl<T> Node<T> {
    /// Whether every part of this position that can reach the load has arrived.
    fn complete(&self, target: Share) -> bool {
        let mut total = self.share;
        for e in &self.expansions {
            if e.complete(target) {
                total = total.add(e.share);
            }
        }
        total.reaches(target)
    }

    fn drain_into(self, out: &mut VecDeque<Packet<T>>) {
        // Without a tee a position holds one packet or one expansion.
        let lone = self.more.is_empty()
            && (self.expansions.is_empty() || self.packet.is_none() && self.expansions.len() == 1);
        if lone {
            if let Some((_, p)) = self.packet {
                out.push_back(p);
            }
            for e in self.expansions {
                e.drain_into(out);
            }
            return;
        }
        // Copies from several branches of a tee: in lane (branch) order, each copy followed
        // by what its own branch made of it.
        enum Part<T> {
            Packet(Packet<T>),
            Expansion(Expansion<T>),
        }
        let mut parts: Vec<(u64, u8, Part<T>)> = Vec::new();
        parts.extend(
            self.packet
                .into_iter()
                .chain(self.more)
                .map(|(lane, p)| (lane, 0, Part::Packet(p))),
        );
        parts.extend(
            self.expansions
                .into_iter()
                .map(|e| (e.lane, 1, Part::Expansion(e))),
        );
        parts.sort_by_key(|&(lane, kind, _)| (lane, kind));
        for (_, _, part) in parts {
            match part {
                Part::Packet(p) => out.push_back(p),
                Part::Expansion(e) => e.drain_into(out),
            }
        }
    }
}

impl<T> Expansion<T> {
    fn complete(&self, target: Share) -> bool {
        match self.last_child {
            Some(last) => {
                self.children.len() as u64 == last + 1
                    && self.children.values().all(|c| c.complete(target))
            }
            None => false,
        }
    }

    fn drain_into(self, out: &mut VecDeque<Packet<T>>) {
        for (_, child) in self.children {
            child.drain_into(out);
        }
    }
}

/// Restores the order of the packets of one ordered section.
#[derive(Debug)]
pub(crate) struct Reorder<T> {
    /// The part of a position that reaches this load: 1 unless the load sits on some
    /// branches of a split only.
    target: Share,
    roots: BTreeMap<u64, Node<T>>,
    next: u64,
    ready: VecDeque<Packet<T>>,
    held_items: usize,
}

impl<T> Default for Reorder<T> {
    fn default() -> Self {
        Reorder::new(Share::WHOLE)
    }
}

impl<T> Reorder<T> {
    /// A buffer for a load that receives `target` of each position.
    pub(crate) fn new(target: Share) -> Self {
        Reorder {
            target,
            roots: BTreeMap::new(),
            next: 0,
            ready: VecDeque::new(),
            held_items: 0,
        }
    }

    /// Items held back, waiting for an earlier position.
    pub(crate) fn held_items(&self) -> usize {
        self.held_items
    }

    /// Takes one packet. Returns how many root positions became complete (each one frees a
    /// slot of the save point's window); their packets are then in [`Reorder::pop`].
    pub(crate) fn push(&mut self, packet: Packet<T>) -> usize {
        let tag = match &packet {
            Packet::Item { tag, .. } | Packet::Skip(tag) | Packet::Marker { tag, .. } => {
                tag.clone()
            }
        };
        if !tag.is_ordered() || self.already_emitted(&tag) {
            // Not from this section's save point: nothing to wait for.
            self.ready.push_back(packet);
            return 0;
        }
        self.place(&tag, packet);
        let mut completed = 0;
        while self
            .roots
            .get(&self.next)
            .is_some_and(|n| n.complete(self.target))
        {
            let node = self.roots.remove(&self.next).expect("checked above");
            let before = self.ready.len();
            node.drain_into(&mut self.ready);
            self.held_items -= self
                .ready
                .range(before..)
                .filter(|p| matches!(p, Packet::Item { .. }))
                .count();
            self.next += 1;
            completed += 1;
        }
        completed
    }

    /// A packet for a position that has already left would wait forever: it can only come
    /// from a section the load cannot see whole, and it is passed on rather than lost.
    fn already_emitted(&self, tag: &Tag) -> bool {
        let first = match tag.members() {
            Some(m) => m.first().and_then(Tag::steps),
            None => tag.steps(),
        };
        let late = first.is_some_and(|s| s[0].index < self.next);
        debug_assert!(!late, "a packet arrived for a position already emitted");
        late
    }

    fn place(&mut self, tag: &Tag, packet: Packet<T>) {
        if let Some(members) = tag.members() {
            // A batch that reached `order load` whole: it stands at its first member's
            // position, and the other members' positions are empty.
            let mut rest = members.iter();
            if let Some(first) = rest.next() {
                self.place(first, packet);
            }
            for m in rest {
                self.place(m, Packet::Skip(m.clone()));
            }
            return;
        }
        let steps = tag
            .steps()
            .expect("an ordered tag is a position or a group");
        let step = *steps.last().expect("a position has a root step");
        let is_item = matches!(packet, Packet::Item { .. });
        let node = self.node_at(steps);
        node.share = node.share.add(step.share);
        match packet {
            Packet::Skip(_) => return,
            // The copies of one marker (down the branches of a split or a tee) are one.
            Packet::Marker { .. } if node.packet.is_some() => return,
            p if node.packet.is_none() => node.packet = Some((step.lane, p)),
            p => node.more.push((step.lane, p)),
        }
        if is_item {
            self.held_items += 1;
        }
    }

    fn node_at(&mut self, steps: &[Step]) -> &mut Node<T> {
        let mut node = self.roots.entry(steps[0].index).or_default();
        for pair in steps.windows(2) {
            let (parent, child) = (pair[0], pair[1]);
            let i = match node.expansions.iter().position(|e| e.lane == parent.lane) {
                Some(i) => i,
                None => {
                    node.expansions.push(Expansion {
                        lane: parent.lane,
                        share: parent.share,
                        children: BTreeMap::new(),
                        last_child: None,
                    });
                    node.expansions.len() - 1
                }
            };
            let expansion = &mut node.expansions[i];
            expansion.share = parent.share;
            if child.last {
                expansion.last_child = Some(child.index);
            }
            node = expansion.children.entry(child.index).or_default();
        }
        node
    }

    /// The next packet in order, if one is ready.
    pub(crate) fn pop(&mut self) -> Option<Packet<T>> {
        self.ready.pop_front()
    }

    /// At the end of the stream: whatever is still held, in position order. Only a broken
    /// section leaves anything here; it is handed on rather than lost.
    pub(crate) fn finish(&mut self) -> Vec<Packet<T>> {
        let mut out = VecDeque::new();
        for (_, node) in std::mem::take(&mut self.roots) {
            node.drain_into(&mut out);
        }
        self.held_items = 0;
        out.into()
    }
}

#[cfg(test)]
mod tests;
