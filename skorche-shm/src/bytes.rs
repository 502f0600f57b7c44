//! [`ShmBytes`]: a byte buffer that either lives in a ring record (read in place) or owns a
//! `Vec<u8>`; code that uses it sees `[u8]` either way.

use std::fmt;
use std::sync::Arc;

use crate::held::HeldRecord;

/// Bytes read in place from a shared-memory ring record, or owned bytes: derefs to `[u8]`.
///
/// A value made from a [`HeldRecord`] reads the ring without copying and releases the record
/// when the last clone drops; one made from a `Vec<u8>` (a small payload that travelled inline,
/// or a value made in this process) simply owns it. Either way it is `Send + Sync`, cheap to
/// clone (the record is shared, never copied), and [`ShmBytes::into_vec`] hands out an owned
/// vector (a copy only for a ring record).
///
/// Holding values is backpressure on the ring's writer, never an error: a writer waits for
/// room until they are dropped. A held value keeps its ring mapped after everything else that
/// used the ring is gone.
///
/// Its serde form is a byte string, and a pipeline sends it as raw bytes (like `Vec<u8>`).
///
/// ```
/// use skorche_shm::ShmBytes;
///
/// let owned = ShmBytes::from(vec![1u8, 2, 3]);
/// assert_eq!(&owned[..], &[1, 2, 3]);
/// assert!(!owned.in_ring());
/// assert_eq!(owned.into_vec(), vec![1, 2, 3]);
/// ```
///
/// Read in place from a ring:
///
/// ```
/// use std::sync::Arc;
/// use skorche_shm::{Ring, ShmBytes};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let ring = Arc::new(Ring::create(1 << 16)?);
/// let handle = ring.write(&[7u8; 1000], std::time::Duration::ZERO)?;
/// let bytes = ShmBytes::from(ring.hold(&handle)?);
/// assert!(bytes.in_ring());
/// assert_eq!(bytes.len(), 1000);
/// assert!(bytes.iter().all(|&b| b == 7));
/// drop(bytes); // the record is released
/// assert_eq!(ring.held_bytes(), Some(0));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ShmBytes(Repr);

#[derive(Clone)]
enum Repr {
    Owned(Vec<u8>),
    Ring(Arc<HeldRecord>),
}

impl ShmBytes {
    /// Empty owned bytes.
    pub fn new() -> Self {
        ShmBytes(Repr::Owned(Vec::new()))
    }

    /// Whether the bytes are read in place from a ring record (`false`: owned).
    pub fn in_ring(&self) -> bool {
        matches!(self.0, Repr::Ring(_))
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Repr::Owned(v) => v,
            Repr::Ring(r) => r,
        }
    }

    /// The ring record the bytes are read from, if any.
    pub fn record(&self) -> Option<&HeldRecord> {
        match &self.0 {
            Repr::Owned(_) => None,
            Repr::Ring(r) => Some(r),
        }
    }

    /// The ring record, if the bytes are read from one and this is its only holder (no clone
    /// shares it); otherwise the value back.
    ///
    /// # Errors
    /// `self` when the bytes are owned or the record is shared with a clone.
    pub fn into_record(self) -> Result<HeldRecord, Self> {
        match self.0 {
            Repr::Ring(r) => Arc::try_unwrap(r).map_err(|r| ShmBytes(Repr::Ring(r))),
            owned => Err(ShmBytes(owned)),
        }
    }

    /// The bytes as an owned vector: moved out when owned, copied out of a ring record (which
    /// is then released, unless a clone still holds it).
    pub fn into_vec(self) -> Vec<u8> {
        match self.0 {
            Repr::Owned(v) => v,
            Repr::Ring(r) => r.to_vec(),
        }
    }
}

impl Default for ShmBytes {
    fn default() -> Self {
        ShmBytes::new()
    }
}

impl From<Vec<u8>> for ShmBytes {
    fn from(v: Vec<u8>) -> Self {
        ShmBytes(Repr::Owned(v))
    }
}

impl From<&[u8]> for ShmBytes {
    fn from(v: &[u8]) -> Self {
        ShmBytes(Repr::Owned(v.to_vec()))
    }
}

impl From<HeldRecord> for ShmBytes {
    fn from(r: HeldRecord) -> Self {
        ShmBytes(Repr::Ring(Arc::new(r)))
    }
}

impl From<ShmBytes> for Vec<u8> {
    fn from(b: ShmBytes) -> Self {
        b.into_vec()
    }
}

impl std::ops::Deref for ShmBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for ShmBytes {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl std::borrow::Borrow<[u8]> for ShmBytes {
    fn borrow(&self) -> &[u8] {
        self
    }
}

impl PartialEq for ShmBytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for ShmBytes {}

impl PartialEq<[u8]> for ShmBytes {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_slice() == other
    }
}

impl PartialEq<Vec<u8>> for ShmBytes {
    fn eq(&self, other: &Vec<u8>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl std::hash::Hash for ShmBytes {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl fmt::Debug for ShmBytes {
    /// Length and where the bytes live, not the bytes (they are usually megabytes).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ShmBytes");
        d.field("len", &self.len());
        match &self.0 {
            Repr::Owned(_) => d.field("in", &"owned"),
            Repr::Ring(r) => d.field("in", &r.handle()),
        };
        d.finish()
    }
}

impl serde::Serialize for ShmBytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self)
    }
}

impl<'de> serde::Deserialize<'de> for ShmBytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Bytes;
        impl<'de> serde::de::Visitor<'de> for Bytes {
            type Value = ShmBytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<ShmBytes, E> {
                Ok(ShmBytes::from(v))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<ShmBytes, E> {
                Ok(ShmBytes::from(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<ShmBytes, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
                while let Some(b) = seq.next_element()? {
                    v.push(b);
                }
                Ok(ShmBytes::from(v))
            }
        }
        d.deserialize_byte_buf(Bytes)
    }
}
