//! Positions of packets inside an ordered section.
//!
//! `order save` gives each packet a root position. Stages that turn one item into several
//! (`flat_map`, `unbatch`) give the outputs child positions below their input's; stages
//! that drop an item (`filter`, an empty `flat_map`) leave a `Skip` at its position; `split`
//! sends the item to one branch and a `Skip` to the others, each carrying a *share* of the
//! position (1/N), so that `order load` after a `merge` knows a position is complete when
//! the shares it received add up to one. `batch` gives its output a *group* tag listing the
//! members' positions; `unbatch` hands them back. `tee` sends a copy of the item down every
//! branch, each with a share and a *lane* of its own: a load after a `merge` of the branches
//! keeps every copy (and whatever each branch made of it), in branch order.

/// An exact fraction of a position (shares of split branches add up to one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Share {
    num: u64,
    den: u64,
}

impl Share {
    pub(crate) const WHOLE: Share = Share { num: 1, den: 1 };

    fn divided(self, ways: usize) -> Share {
        Share::new(self.num, self.den.saturating_mul(ways.max(1) as u64))
    }

    fn new(num: u64, den: u64) -> Share {
        let g = gcd(num, den).max(1);
        Share {
            num: num / g,
            den: den / g,
        }
    }

    pub(crate) fn add(self, other: Share) -> Share {
        let den = lcm(self.den, other.den);
        let num = self.num * (den / self.den) + other.num * (den / other.den);
        Share::new(num, den)
    }

    /// Whether this share reaches `target` (`self >= target`).
    pub(crate) fn reaches(self, target: Share) -> bool {
        u128::from(self.num) * u128::from(target.den)
            >= u128::from(target.num) * u128::from(self.den)
    }

    /// This share split `ways` ways (one branch's part).
    pub(crate) fn split(self, ways: usize) -> Share {
        self.divided(ways)
    }

    pub(crate) const ZERO: Share = Share { num: 0, den: 1 };
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn lcm(a: u64, b: u64) -> u64 {
    a / gcd(a, b).max(1) * b
}

/// One level of a position: index among siblings, whether it is the last sibling, the
/// share of that sibling's position the packet (or the item it came from) carries, and the
/// lane: which branches of `tee`s the copy went down (0: no tee).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Step {
    pub(crate) index: u64,
    pub(crate) last: bool,
    pub(crate) share: Share,
    pub(crate) lane: u64,
}

/// Bits of a lane per `tee` passed: 4 nested tees in one ordered section fit in a `u64`.
const LANE_DIGIT_BITS: u32 = 16;

/// The lane of a copy that went down branch `branch` of a tee, from lane `lane`.
///
/// A lane is the path of branch numbers (each stored plus one, so never 0), the first one in
/// the highest bits: lanes compare like their paths, so the copies of one position leave a
/// load in branch order. Past 4 nested tees the path is folded into the last digit (copies
/// still differ, unless two paths happen to fold alike).
fn next_lane(lane: u64, branch: usize) -> u64 {
    let digit = (branch as u64 % ((1 << LANE_DIGIT_BITS) - 1)) + 1;
    let used = if lane == 0 {
        0
    } else {
        (64 - lane.trailing_zeros()).div_ceil(LANE_DIGIT_BITS)
    };
    if used < 64 / LANE_DIGIT_BITS {
        lane | digit << (64 - LANE_DIGIT_BITS * (used + 1))
    } else {
        let mixed = (lane ^ digit).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - LANE_DIGIT_BITS);
        (lane & !((1 << LANE_DIGIT_BITS) - 1)) | mixed.max(1)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Repr {
    Pos(Box<[Step]>),
    Group(Box<[Tag]>),
}

/// The position of a packet in an ordered section; empty outside any ordered section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Tag(Option<Box<Repr>>);

impl Tag {
    /// No position: the packet is not inside an ordered section.
    pub(crate) const NONE: Tag = Tag(None);

    /// The root position given by `order save` to its `index`-th packet.
    pub(crate) fn root(index: u64) -> Tag {
        Tag(Some(Box::new(Repr::Pos(Box::new([Step {
            index,
            last: true,
            share: Share::WHOLE,
            lane: 0,
        }])))))
    }

    /// Whether the packet is inside an ordered section.
    #[inline]
    pub(crate) fn is_ordered(&self) -> bool {
        self.0.is_some()
    }

    /// The steps of a plain position (`None` for no position or a group).
    pub(crate) fn steps(&self) -> Option<&[Step]> {
        match self.0.as_deref() {
            Some(Repr::Pos(steps)) => Some(steps),
            _ => None,
        }
    }

    /// The members' positions of a batch's tag.
    pub(crate) fn members(&self) -> Option<&[Tag]> {
        match self.0.as_deref() {
            Some(Repr::Group(m)) => Some(m),
            _ => None,
        }
    }

    /// The tag of a batch of packets with these tags.
    pub(crate) fn group(members: Vec<Tag>) -> Tag {
        if members.iter().all(|t| !t.is_ordered()) {
            Tag::NONE
        } else {
            Tag(Some(Box::new(Repr::Group(members.into_boxed_slice()))))
        }
    }

    /// This tag carried into one of `ways` split branches.
    #[inline]
    pub(crate) fn share(&self, ways: usize) -> Tag {
        match self.0.as_deref() {
            None => Tag::NONE,
            Some(Repr::Pos(steps)) => {
                let mut v = steps.to_vec();
                if let Some(last) = v.last_mut() {
                    last.share = last.share.divided(ways);
                }
                Tag(Some(Box::new(Repr::Pos(v.into_boxed_slice()))))
            }
            Some(Repr::Group(m)) => Tag::group(m.iter().map(|t| t.share(ways)).collect()),
        }
    }

    /// This tag carried into branch `branch` of a `tee` of `ways` branches: the share of a
    /// split branch, and a lane of its own, so that the copies of one item that meet again
    /// at an `order load` (after a `merge`) are told apart.
    pub(crate) fn lane(&self, ways: usize, branch: usize) -> Tag {
        match self.0.as_deref() {
            None => Tag::NONE,
            Some(Repr::Pos(steps)) => {
                let mut v = steps.to_vec();
                if let Some(last) = v.last_mut() {
                    last.share = last.share.divided(ways);
                    last.lane = next_lane(last.lane, branch);
                }
                Tag(Some(Box::new(Repr::Pos(v.into_boxed_slice()))))
            }
            Some(Repr::Group(m)) => Tag::group(m.iter().map(|t| t.lane(ways, branch)).collect()),
        }
    }

    /// The position of the `index`-th output of this packet; `last` marks the final one.
    ///
    /// For a group tag (a batch) the `index`-th output takes the `index`-th member's
    /// position: that is how `unbatch` puts items back where they were.
    #[inline]
    pub(crate) fn child(&self, index: u64, last: bool) -> Tag {
        match self.0.as_deref() {
            None => Tag::NONE,
            Some(Repr::Pos(steps)) => {
                let mut v = Vec::with_capacity(steps.len() + 1);
                v.extend_from_slice(steps);
                v.push(Step {
                    index,
                    last,
                    share: Share::WHOLE,
                    lane: 0,
                });
                Tag(Some(Box::new(Repr::Pos(v.into_boxed_slice()))))
            }
            Some(Repr::Group(m)) => m.get(index as usize).cloned().unwrap_or(Tag::NONE),
        }
    }
}
