//! What travels on an edge: items and the control packets that ride with them.

use crate::order::Tag;

/// Identity of a marker: the marker kind and its running number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MarkerId {
    /// Which declared marker this is.
    pub kind: usize,
    /// How many markers of this kind came before it.
    pub count: u64,
}

/// One packet on a queue.
///
/// End of stream is not a packet: it is the channel's disconnection, so no value of `T`
/// is ever reserved as a sentinel.
#[derive(Debug)]
pub(crate) enum Packet<T> {
    /// A real item. `seq` is its index in the source it came from (for error reports);
    /// `tag` is its position inside an ordered section, if any.
    Item { seq: u64, tag: Tag, value: T },
    /// A position in an ordered section that holds no item (filtered, diverted, empty).
    Skip(Tag),
    /// A virtual item that passes every stage untouched.
    Marker { tag: Tag, id: MarkerId },
}

impl<T> Packet<T> {
    /// Re-types a control packet; `None` for an item.
    pub(crate) fn into_control<U>(self) -> Result<Packet<U>, (u64, Tag, T)> {
        match self {
            Packet::Item { seq, tag, value } => Err((seq, tag, value)),
            Packet::Skip(tag) => Ok(Packet::Skip(tag)),
            Packet::Marker { tag, id } => Ok(Packet::Marker { tag, id }),
        }
    }
}

impl<T> Packet<T> {
    /// The copy of a control packet sent down one of `ways` split branches (items are
    /// never copied: `T` need not be `Clone`).
    pub(crate) fn shared_control(&self, ways: usize) -> Packet<T> {
        match self {
            Packet::Item { .. } => unreachable!("only control packets are copied"),
            Packet::Skip(tag) => Packet::Skip(tag.share(ways)),
            Packet::Marker { tag, id } => Packet::Marker {
                tag: tag.share(ways),
                id: *id,
            },
        }
    }
}
