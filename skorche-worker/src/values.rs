//! The values of one message, encoded into one buffer.
//!
//! A batch of small items costs one allocation, not one per item: every inline value is
//! appended to a single byte buffer and only its length is recorded; a large value that went
//! into a shared-memory ring is recorded as its [`Handle`]. Both sides walk the values in
//! order with [`Values::iter`], decoding each in place from the buffer.
//!
//! ```
//! use skorche_worker::values::{ValueRef, Values};
//!
//! let mut values = Values::default();
//! for x in [1u64, 2, 300] {
//!     values.push_with(|buf| skorche_worker::codec::encode_into(&x, buf))?;
//! }
//! let back: Vec<u64> = values
//!     .iter()
//!     .map(|v| match v {
//!         ValueRef::Inline(bytes) => skorche_worker::codec::decode(bytes),
//!         ValueRef::Shm(_) => unreachable!("no ring here"),
//!     })
//!     .collect::<Result<_, _>>()?;
//! assert_eq!(back, [1, 2, 300]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::error::DecodeError;
use crate::protocol::Payload;
use crate::shm::Handle;

/// `lens` entry of a value that lives in a ring: the next of [`Values`]' handles.
const IN_RING: u32 = u32::MAX;

/// Encoded values, in order: small ones packed into one buffer, large ones as ring handles.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Values {
    /// The inline values, back to back.
    #[serde(with = "serde_bytes")]
    data: Vec<u8>,
    /// Per value: its length in `data`, or `IN_RING`.
    lens: Vec<u32>,
    /// The handles of the values in rings, in order.
    handles: Vec<Handle>,
}

/// One value of [`Values`], borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueRef<'a> {
    /// Encoded bytes inside the message.
    Inline(&'a [u8]),
    /// A record in a shared-memory ring.
    Shm(&'a Handle),
}

impl ValueRef<'_> {
    /// The value's size in bytes (its encoding, or its ring record's payload).
    pub fn len(&self) -> usize {
        match self {
            ValueRef::Inline(b) => b.len(),
            ValueRef::Shm(h) => h.len as usize,
        }
    }

    /// Whether the value has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An owned copy, as a single [`Payload`] (a ring record is not copied: its handle is).
    pub fn to_payload(&self) -> Payload {
        match self {
            ValueRef::Inline(b) => Payload::Inline(b.to_vec()),
            ValueRef::Shm(h) => Payload::Shm(**h),
        }
    }
}

/// A point to return to with [`Values::truncate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    data: usize,
    lens: usize,
    handles: usize,
}

impl Values {
    /// Empty values with room for `n` of them.
    pub fn with_capacity(n: usize) -> Self {
        Values {
            data: Vec::with_capacity(n * 8),
            lens: Vec::with_capacity(n),
            handles: Vec::new(),
        }
    }

    /// How many values there are.
    pub fn len(&self) -> usize {
        self.lens.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.lens.is_empty()
    }

    /// Bytes of all values (inline encodings and ring records).
    pub fn byte_len(&self) -> usize {
        self.data.len() + self.handles.iter().map(|h| h.len as usize).sum::<usize>()
    }

    /// The handles of the values that live in rings.
    pub fn handles(&self) -> &[Handle] {
        &self.handles
    }

    /// Appends a value that `write` encodes onto the end of the buffer.
    ///
    /// # Errors
    /// `write`'s error; the buffer is then left as it was.
    pub fn push_with<E>(
        &mut self,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        let start = self.data.len();
        if let Err(e) = write(&mut self.data) {
            self.data.truncate(start);
            return Err(e);
        }
        self.push_len(start);
        Ok(())
    }

    /// Appends already-encoded bytes.
    pub fn push_bytes(&mut self, bytes: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(bytes);
        self.push_len(start);
    }

    /// Appends a value stored in a ring.
    pub fn push_shm(&mut self, handle: Handle) {
        self.lens.push(IN_RING);
        self.handles.push(handle);
    }

    /// Appends a value given as a [`Payload`].
    pub fn push_payload(&mut self, payload: Payload) {
        match payload {
            Payload::Inline(bytes) => self.push_bytes(&bytes),
            Payload::Shm(handle) => self.push_shm(handle),
        }
    }

    fn push_len(&mut self, start: usize) {
        let len = self.data.len() - start;
        // A value of 4 GiB or more cannot be described; refusing it here keeps `IN_RING`
        // unambiguous. Frames are limited to 4 GiB anyway.
        assert!(
            len < IN_RING as usize,
            "an inline value must be smaller than 4 GiB"
        );
        self.lens.push(len as u32);
    }

    /// The last value pushed.
    pub fn last(&self) -> Option<ValueRef<'_>> {
        match *self.lens.last()? {
            IN_RING => self.handles.last().map(ValueRef::Shm),
            len => Some(ValueRef::Inline(
                &self.data[self.data.len() - len as usize..],
            )),
        }
    }

    /// Moves every value of `other` onto the end of these (`other` keeps its capacity).
    pub fn append(&mut self, other: &mut Values) {
        self.data.extend_from_slice(&other.data);
        self.lens.extend_from_slice(&other.lens);
        self.handles.append(&mut other.handles);
        other.data.clear();
        other.lens.clear();
    }

    /// The current end, to [`truncate`](Values::truncate) back to.
    pub fn mark(&self) -> Mark {
        Mark {
            data: self.data.len(),
            lens: self.lens.len(),
            handles: self.handles.len(),
        }
    }

    /// Drops the values pushed after `mark`, returning the handles among them (their records
    /// are the caller's to release).
    pub fn truncate(&mut self, mark: Mark) -> Vec<Handle> {
        self.data.truncate(mark.data);
        self.lens.truncate(mark.lens);
        self.handles.split_off(mark.handles.min(self.handles.len()))
    }

    /// Drops every value, returning the handles among them (their records are the caller's
    /// to release); the capacity is kept.
    pub fn clear(&mut self) -> Vec<Handle> {
        self.data.clear();
        self.lens.clear();
        std::mem::take(&mut self.handles)
    }

    /// The values in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            values: self,
            index: 0,
            data: 0,
            handle: 0,
        }
    }

    /// Checks that the lengths, the buffer and the handles agree (a message from another
    /// process is checked once, before its values are walked).
    ///
    /// # Errors
    /// [`DecodeError::Malformed`] naming what does not add up.
    pub fn validate(&self) -> Result<(), DecodeError> {
        let mut data = 0usize;
        let mut handles = 0usize;
        for &len in &self.lens {
            if len == IN_RING {
                handles += 1;
            } else {
                data += len as usize;
            }
        }
        if data != self.data.len() {
            return Err(DecodeError::Malformed {
                what: format!(
                    "values claim {data} inline bytes, the message holds {}",
                    self.data.len()
                ),
            });
        }
        if handles != self.handles.len() {
            return Err(DecodeError::Malformed {
                what: format!(
                    "values claim {handles} ring records, the message holds {}",
                    self.handles.len()
                ),
            });
        }
        Ok(())
    }
}

/// Walks [`Values`] in order.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    values: &'a Values,
    index: usize,
    data: usize,
    handle: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = ValueRef<'a>;

    #[inline]
    fn next(&mut self) -> Option<ValueRef<'a>> {
        let len = *self.values.lens.get(self.index)?;
        self.index += 1;
        if len == IN_RING {
            let h = self.values.handles.get(self.handle)?;
            self.handle += 1;
            return Some(ValueRef::Shm(h));
        }
        let end = self.data.checked_add(len as usize)?;
        let bytes = self.values.data.get(self.data..end)?;
        self.data = end;
        Some(ValueRef::Inline(bytes))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.values.lens.len() - self.index;
        (0, Some(left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shm::RingId;

    fn handle(len: u64) -> Handle {
        Handle {
            ring: RingId(7),
            offset: 64,
            len,
            generation: 1,
        }
    }

    #[test]
    fn inline_and_ring_values_keep_their_order() {
        let mut v = Values::default();
        v.push_bytes(b"ab");
        v.push_shm(handle(100));
        v.push_bytes(b"");
        v.push_bytes(b"xyz");
        let got: Vec<_> = v.iter().collect();
        assert_eq!(
            got,
            [
                ValueRef::Inline(b"ab"),
                ValueRef::Shm(&handle(100)),
                ValueRef::Inline(b""),
                ValueRef::Inline(b"xyz")
            ]
        );
        assert_eq!(v.byte_len(), 105);
        v.validate().unwrap();
    }

    #[test]
    fn truncate_returns_the_handles_dropped() {
        let mut v = Values::default();
        v.push_bytes(b"keep");
        let mark = v.mark();
        v.push_shm(handle(5));
        v.push_bytes(b"drop");
        assert_eq!(v.truncate(mark), vec![handle(5)]);
        assert_eq!(v.iter().collect::<Vec<_>>(), [ValueRef::Inline(b"keep")]);
    }

    #[test]
    fn a_failed_write_leaves_nothing_behind() {
        let mut v = Values::default();
        v.push_bytes(b"a");
        let r: Result<(), &str> = v.push_with(|buf| {
            buf.extend_from_slice(b"half");
            Err("no")
        });
        assert!(r.is_err());
        assert_eq!(v.len(), 1);
        v.validate().unwrap();
    }

    #[test]
    fn lengths_that_do_not_add_up_are_refused() {
        let mut v = Values::default();
        v.push_bytes(b"abc");
        v.data.pop();
        assert!(v.validate().is_err());
        // The iterator stops rather than reading past the buffer.
        assert_eq!(v.iter().count(), 0);
        let mut v = Values::default();
        v.lens.push(IN_RING);
        assert!(v.validate().is_err());
        assert_eq!(v.iter().count(), 0);
    }
}
