//! [`ShmSlice<T>`]: a typed array of plain-old-data values read in place from a ring record,
//! or owned; code that uses it sees `[T]` either way.

use std::fmt;
use std::sync::Arc;

use bytemuck::Pod;

use crate::held::HeldRecord;
use crate::layout::RECORD_ALIGN;

/// Why bytes cannot be read as a `[T]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SliceError {
    /// The byte length is not a multiple of the element size.
    #[error("{len} bytes are not a whole number of {elem}-byte {type_name} values")]
    Length {
        /// Byte length.
        len: usize,
        /// `size_of::<T>()`.
        elem: usize,
        /// `type_name::<T>()`.
        type_name: &'static str,
    },
    /// `T` has no size: an array of it carries nothing.
    #[error("{type_name} is zero-sized")]
    ZeroSized {
        /// `type_name::<T>()`.
        type_name: &'static str,
    },
}

/// A typed array of plain-old-data values (`f32`, `f64`, integers, `#[derive(Pod)]` structs)
/// read in place from a shared-memory ring record, or owned: derefs to `[T]`.
///
/// In a ring, the values are the record's raw bytes (native endianness, no header): a worker
/// writes them straight into its output ring and the driver reads them without a copy.
/// Records start at multiples of [`RECORD_ALIGN`] (64) bytes, so every `T` aligned to at most
/// 64 is read in place; a `T` with a larger alignment is copied into an owned vector instead
/// (it still works, it is just not zero-copy: [`ShmSlice::in_ring`] says which).
///
/// Dropping the last clone releases the record, as for [`ShmBytes`](crate::ShmBytes).
///
/// ```
/// use skorche_shm::ShmSlice;
///
/// let v = ShmSlice::from(vec![1.5f32, 2.5, 3.5]);
/// assert_eq!(v.iter().sum::<f32>(), 7.5);
/// assert_eq!(v.as_bytes().len(), 12);
/// assert_eq!(v.into_vec(), vec![1.5, 2.5, 3.5]);
/// ```
///
/// In place, from a ring:
///
/// ```
/// use std::sync::Arc;
/// use skorche_shm::{Ring, ShmSlice};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let ring = Arc::new(Ring::create(1 << 16)?);
/// let values = [0.25f64, 0.5, 1.0];
/// let handle = ring.write(bytemuck::cast_slice(&values), std::time::Duration::ZERO)?;
/// let read = ShmSlice::<f64>::from_record(ring.hold(&handle)?)?;
/// assert!(read.in_ring());
/// assert_eq!(&read[..], &values);
/// # Ok(())
/// # }
/// ```
pub struct ShmSlice<T>(Repr<T>);

enum Repr<T> {
    Owned(Vec<T>),
    Ring(Arc<HeldRecord>),
}

impl<T: Pod> ShmSlice<T> {
    fn check_len(len: usize) -> Result<(), SliceError> {
        let elem = std::mem::size_of::<T>();
        let type_name = std::any::type_name::<T>();
        if elem == 0 {
            return Err(SliceError::ZeroSized { type_name });
        }
        if len % elem != 0 {
            return Err(SliceError::Length {
                len,
                elem,
                type_name,
            });
        }
        Ok(())
    }

    /// Reads a ring record as `[T]`: in place when its start is aligned for `T` (always, for
    /// `T` aligned to at most [`RECORD_ALIGN`]), otherwise copied out (and the record released).
    ///
    /// # Errors
    /// [`SliceError`] when the record's length is not a whole number of `T` (the record is
    /// released).
    pub fn from_record(record: HeldRecord) -> Result<Self, SliceError> {
        Self::check_len(record.len())?;
        if bytemuck::try_cast_slice::<u8, T>(&record[..]).is_ok() {
            return Ok(ShmSlice(Repr::Ring(Arc::new(record))));
        }
        tracing::debug!(
            type_name = std::any::type_name::<T>(),
            align = std::mem::align_of::<T>(),
            record_align = RECORD_ALIGN,
            "record not aligned for the element type: copied instead of read in place"
        );
        Ok(ShmSlice(Repr::Owned(copy_to_vec(&record[..]))))
    }

    /// Copies raw bytes (native endianness) into an owned `[T]` (any alignment).
    ///
    /// # Errors
    /// [`SliceError`] when `bytes` is not a whole number of `T`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SliceError> {
        Self::check_len(bytes.len())?;
        Ok(ShmSlice(Repr::Owned(copy_to_vec(bytes))))
    }

    /// Whether the values are read in place from a ring record (`false`: owned).
    pub fn in_ring(&self) -> bool {
        matches!(self.0, Repr::Ring(_))
    }

    /// The values.
    pub fn as_slice(&self) -> &[T] {
        match &self.0 {
            Repr::Owned(v) => v,
            // Length and alignment were checked when the value was made, and the record's
            // address does not change: this cast cannot fail.
            Repr::Ring(r) => bytemuck::cast_slice(&r[..]),
        }
    }

    /// The values' raw bytes (native endianness).
    pub fn as_bytes(&self) -> &[u8] {
        bytemuck::cast_slice(self.as_slice())
    }

    /// The ring record the values are read from, if any.
    pub fn record(&self) -> Option<&HeldRecord> {
        match &self.0 {
            Repr::Owned(_) => None,
            Repr::Ring(r) => Some(r),
        }
    }

    /// The values as an owned vector: moved out when owned, copied out of a ring record
    /// (released then, unless a clone still holds it).
    pub fn into_vec(self) -> Vec<T> {
        match self.0 {
            Repr::Owned(v) => v,
            Repr::Ring(r) => bytemuck::cast_slice::<u8, T>(&r[..]).to_vec(),
        }
    }
}

/// Copies `bytes` (a whole number of `T`, checked by the caller) into a new, aligned vector.
fn copy_to_vec<T: Pod>(bytes: &[u8]) -> Vec<T> {
    let mut v = vec![T::zeroed(); bytes.len() / std::mem::size_of::<T>()];
    bytemuck::cast_slice_mut::<T, u8>(&mut v).copy_from_slice(bytes);
    v
}

impl<T> Clone for ShmSlice<T>
where
    T: Clone,
{
    fn clone(&self) -> Self {
        ShmSlice(match &self.0 {
            Repr::Owned(v) => Repr::Owned(v.clone()),
            Repr::Ring(r) => Repr::Ring(r.clone()),
        })
    }
}

impl<T> From<Vec<T>> for ShmSlice<T> {
    fn from(v: Vec<T>) -> Self {
        ShmSlice(Repr::Owned(v))
    }
}

impl<T: Pod> std::ops::Deref for ShmSlice<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: Pod> AsRef<[T]> for ShmSlice<T> {
    fn as_ref(&self) -> &[T] {
        self
    }
}

impl<T: Pod + PartialEq> PartialEq for ShmSlice<T> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: Pod> fmt::Debug for ShmSlice<T> {
    /// Element type, length and where the values live, not the values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ShmSlice");
        d.field("type", &std::any::type_name::<T>())
            .field("len", &self.len());
        match &self.0 {
            Repr::Owned(_) => d.field("in", &"owned"),
            Repr::Ring(r) => d.field("in", &r.handle()),
        };
        d.finish()
    }
}

/// The serde form is the raw bytes as one byte string. There is deliberately no
/// `Deserialize`: a task declared with a `ShmSlice` output is read back with
/// `map_task_as`, which reads the raw record, never a serde encoding.
impl<T: Pod> serde::Serialize for ShmSlice<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.as_bytes())
    }
}
