//! Zero-copy payloads: values read where they lie in a ring ([`ShmBytes`], [`ShmSlice`]), and
//! the raw-bytes wire form they share with `Vec<u8>`.
//!
//! The codec sends a `Vec<u8>` as its raw bytes. A [`ShmBytes`] travels the same way, so a
//! task that makes a `Vec<u8>` can be read by the driver as `ShmBytes` ([`FromOutput`]): an
//! output in the worker's ring is then held in place (no copy) until the value is dropped. A
//! [`ShmSlice<T>`] is the raw bytes of a `[T]` of plain-old-data values, written by tasks
//! declared with the `map_slice` and `fill_slice` forms of [`task!`](crate::task).
//!
//! ```
//! use std::sync::Arc;
//! use skorche_worker::rings::{Ring, ShmBytes};
//! use skorche_worker::values::ValueRef;
//! use skorche_worker::zero_copy::FromOutput;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // What a worker's answer holds: a handle into its output ring (made by the driver).
//! let ring = Arc::new(Ring::create(1 << 20)?);
//! let handle = ring.write(&[42u8; 100_000], std::time::Duration::ZERO)?;
//! // Read as `ShmBytes` the output of a task declared with a `Vec<u8>` output.
//! let bytes = <ShmBytes as FromOutput<Vec<u8>>>::from_value(ValueRef::Shm(&handle), &ring)?;
//! assert!(bytes.in_ring() && bytes.len() == 100_000);
//! // A small output travels inline and becomes owned bytes.
//! let small = <ShmBytes as FromOutput<Vec<u8>>>::from_value(ValueRef::Inline(&[1, 2]), &ring)?;
//! assert_eq!(small, vec![1, 2]);
//! # Ok(())
//! # }
//! ```

use std::any::{Any, TypeId};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec::{self, OnFull, PayloadIo};
use crate::error::{DecodeError, EncodeError};
use crate::protocol::Payload;
use crate::shm::{Handle, Ring, ShmBytes, ShmSlice};
use crate::values::{ValueRef, Values};

/// `value` as a `U`, when `T` is `U`.
fn cast<T: 'static, U: 'static>(value: T) -> Result<U, T> {
    if TypeId::of::<T>() != TypeId::of::<U>() {
        return Err(value);
    }
    let mut slot = Some(value);
    Ok((&mut slot as &mut dyn Any)
        .downcast_mut::<Option<U>>()
        .and_then(Option::take)
        .expect("TypeId checked: T is U"))
}

fn is<T: 'static, U: 'static>() -> bool {
    TypeId::of::<T>() == TypeId::of::<U>()
}

/// A type the driver can read a task's outputs of type `U` as: how a stage declared with
/// `map_task_as` turns outputs into its queue's items.
///
/// Implemented for [`ShmBytes`] (from `Vec<u8>` or `ShmBytes` outputs) and [`ShmSlice<T>`]
/// (from `ShmSlice<T>` outputs).
pub trait FromOutput<U>: Sized + Send + 'static {
    /// An output made in this process (a stage on threads).
    fn from_output(value: U) -> Self;

    /// An output a worker answered, `ring` being its output ring: a record there is held in
    /// place until the value drops.
    ///
    /// # Errors
    /// A handle into another ring, or one the ring refuses; bytes that are not a `Self`.
    fn from_value(value: ValueRef<'_>, ring: &Arc<Ring>) -> Result<Self, DecodeError>;
}

/// Takes over the record `handle` names in `ring` (a worker's output ring).
fn hold(handle: &Handle, ring: &Arc<Ring>) -> Result<crate::rings::HeldRecord, DecodeError> {
    if handle.ring != ring.id() {
        return Err(DecodeError::UnknownRing { ring: handle.ring });
    }
    ring.hold(handle).map_err(|source| DecodeError::Handle {
        ring: handle.ring,
        source,
    })
}

fn bytes_from_value(value: ValueRef<'_>, ring: &Arc<Ring>) -> Result<ShmBytes, DecodeError> {
    match value {
        ValueRef::Inline(bytes) => Ok(ShmBytes::from(bytes.to_vec())),
        ValueRef::Shm(handle) => Ok(ShmBytes::from(hold(handle, ring)?)),
    }
}

impl FromOutput<Vec<u8>> for ShmBytes {
    fn from_output(value: Vec<u8>) -> Self {
        ShmBytes::from(value)
    }
    fn from_value(value: ValueRef<'_>, ring: &Arc<Ring>) -> Result<Self, DecodeError> {
        bytes_from_value(value, ring)
    }
}

impl FromOutput<ShmBytes> for ShmBytes {
    fn from_output(value: ShmBytes) -> Self {
        value
    }
    fn from_value(value: ValueRef<'_>, ring: &Arc<Ring>) -> Result<Self, DecodeError> {
        bytes_from_value(value, ring)
    }
}

impl<T: bytemuck::Pod + Send + Sync> FromOutput<ShmSlice<T>> for ShmSlice<T> {
    fn from_output(value: ShmSlice<T>) -> Self {
        value
    }
    fn from_value(value: ValueRef<'_>, ring: &Arc<Ring>) -> Result<Self, DecodeError> {
        Ok(match value {
            ValueRef::Inline(bytes) => ShmSlice::from_bytes(bytes)?,
            ValueRef::Shm(handle) => ShmSlice::from_record(hold(handle, ring)?)?,
        })
    }
}

/// Decodes an output of a task declared with output type `U` (driver side, `ring` being the
/// worker's output ring): a [`ShmBytes`] is held in place, anything else decoded by
/// [`codec::decode_value`].
///
/// # Errors
/// As [`codec::decode_payload`].
pub fn decode_output<U: DeserializeOwned + 'static>(
    value: ValueRef<'_>,
    ring: &Arc<Ring>,
) -> Result<U, DecodeError> {
    if is::<U, ShmBytes>() {
        let bytes = bytes_from_value(value, ring)?;
        return Ok(cast::<ShmBytes, U>(bytes).expect("TypeId checked: U is ShmBytes"));
    }
    codec::decode_value::<U>(value, std::slice::from_ref(ring.as_ref()))
}

/// Runs `f` over an input record's bytes in place (worker side), then releases the record
/// unless the coordinator keeps inputs (see [`PayloadIo::keep_inputs`]).
///
/// # Errors
/// An unknown ring or a handle the ring refuses.
pub fn with_input<R>(
    handle: &Handle,
    io: &PayloadIo,
    f: impl FnOnce(&[u8]) -> R,
) -> Result<R, DecodeError> {
    let error = |source| DecodeError::Handle {
        ring: handle.ring,
        source,
    };
    let ring = codec::ring_for(handle, &io.rings)?;
    let result = f(&ring.read(handle).map_err(error)?);
    if !io.keep_inputs {
        ring.release(handle).map_err(error)?;
    }
    Ok(result)
}

/// Decodes a task's input (worker side): a [`ShmBytes`] from its raw bytes, anything else by
/// [`PayloadIo::decode_value`].
///
/// # Errors
/// As [`PayloadIo::decode_value`].
pub fn decode_input<T: DeserializeOwned + 'static>(
    value: ValueRef<'_>,
    io: &PayloadIo,
) -> Result<T, DecodeError> {
    if !is::<T, ShmBytes>() {
        return io.decode_value(value);
    }
    let bytes = match value {
        ValueRef::Inline(bytes) => ShmBytes::from(bytes.to_vec()),
        ValueRef::Shm(handle) => ShmBytes::from(with_input(handle, io, <[u8]>::to_vec)?),
    };
    Ok(cast::<ShmBytes, T>(bytes).expect("TypeId checked: T is ShmBytes"))
}

/// Decodes a value from its encoded bytes (as a driver sent it to a worker): a
/// [`ShmBytes`] is the bytes themselves, anything else by [`codec::decode_payload_owned`].
///
/// # Errors
/// As [`codec::decode_payload`].
pub fn decode_value<T: DeserializeOwned + 'static>(bytes: Vec<u8>) -> Result<T, DecodeError> {
    match cast::<ShmBytes, T>(ShmBytes::from(bytes)) {
        Ok(value) => Ok(value),
        Err(bytes) => codec::decode_payload_owned::<T>(Payload::Inline(bytes.into_vec()), &[]),
    }
}

/// Appends a task's output to `out` (worker side): a [`ShmBytes`] as its raw bytes,
/// anything else by [`PayloadIo::encode_value`].
///
/// # Errors
/// As [`PayloadIo::encode_value`].
pub fn encode_output<T: Serialize + 'static>(
    value: T,
    io: &PayloadIo,
    out: &mut Values,
) -> Result<(), EncodeError> {
    match cast::<T, ShmBytes>(value) {
        Ok(bytes) => io.encode_value(bytes.into_vec(), out),
        Err(value) => io.encode_value(value, out),
    }
}

/// Appends a stage's input for a worker to `out` (driver side), per
/// [`codec::encode_value`], except for a [`ShmBytes`]:
///
/// * held in one of the rings of `family` (rings the worker has attached), it is handed over
///   as its handle, without a copy: the worker releases the record once it has read it;
/// * held in another ring, its bytes are copied once into `ring` (or sent inline);
/// * owned, it is sent like a `Vec<u8>` (copied once into `ring` when large enough).
///
/// Returns whether the value lies in a ring.
///
/// # Errors
/// As [`codec::encode_value`].
pub fn encode_input<T: Serialize + 'static>(
    value: T,
    ring: &Ring,
    family: &[Arc<Ring>],
    threshold: usize,
    on_full: &mut dyn FnMut() -> OnFull,
    out: &mut Values,
) -> Result<bool, EncodeError> {
    let bytes = match cast::<T, ShmBytes>(value) {
        Ok(bytes) => bytes,
        Err(value) => return codec::encode_value(value, Some(ring), threshold, on_full, out),
    };
    let bytes = match bytes.into_record() {
        Ok(record) if family.iter().any(|r| Arc::ptr_eq(r, record.ring())) => {
            out.push_shm(record.into_handle());
            return Ok(true);
        }
        Ok(record) => ShmBytes::from(record),
        Err(bytes) => bytes,
    };
    if !bytes.in_ring() {
        return codec::encode_value(bytes.into_vec(), Some(ring), threshold, on_full, out);
    }
    if bytes.len() < threshold || bytes.len() > ring.max_payload() {
        out.push_bytes(&bytes);
        return Ok(false);
    }
    match codec::reserve(ring, bytes.len(), on_full)? {
        Some(mut reservation) => {
            reservation.copy_from_slice(&bytes);
            out.push_shm(reservation.commit());
            Ok(true)
        }
        None => {
            out.push_bytes(&bytes);
            Ok(false)
        }
    }
}
