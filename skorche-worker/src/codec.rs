//! The one serialization seam: serde + bincode 2.0.1 (`config::standard()`).
//!
//! Swapping the format (e.g. for `wincode` or `postcard`) touches only this file.
//!
//! Byte payloads bypass element-wise serde: when `T` is `Vec<u8>` (checked by `TypeId`), its
//! bytes are written raw, without a length prefix, and read back raw. Values whose encoding is
//! at least the threshold go into a shared-memory ring: the value is serialized (or, for bytes,
//! copied once) straight into the ring reservation, with no intermediate buffer.

use crate::error::{DecodeError, EncodeError};
use crate::protocol::Payload;
use crate::shm::{Handle, Ring};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::any::{type_name, Any, TypeId};
use std::time::Duration;

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

fn is_bytes<T: 'static>() -> bool {
    TypeId::of::<T>() == TypeId::of::<Vec<u8>>()
}

/// Serializes a value with the crate's format (bincode 2, standard config).
///
/// This is the format of [`Welcome::params`](crate::protocol::Welcome) and of inline
/// payloads of non-byte types.
///
/// # Errors
/// [`EncodeError::Serialize`] if serde refuses the value.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, EncodeError> {
    bincode::serde::encode_to_vec(value, config()).map_err(|e| EncodeError::Serialize {
        type_name: type_name::<T>(),
        message: e.to_string(),
    })
}

/// Serializes a value with the crate's format, appending to `buf` (frames build their header
/// and body in one buffer this way).
///
/// # Errors
/// [`EncodeError::Serialize`] if serde refuses the value.
pub fn encode_into<T: Serialize + ?Sized>(value: &T, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
    bincode::serde::encode_into_std_write(value, buf, config())
        .map(|_| ())
        .map_err(|e| EncodeError::Serialize {
            type_name: type_name::<T>(),
            message: e.to_string(),
        })
}

/// Deserializes a value written by [`encode`]; every byte must be consumed.
///
/// # Errors
/// [`DecodeError::Deserialize`] or [`DecodeError::TrailingBytes`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    // A hostile length prefix must not make bincode allocate gigabytes: cap the bytes a
    // decode may claim to a multiple of the input (const-generic limits, so pick a bucket).
    let need = bytes.len().max(1).saturating_mul(DECODE_LIMIT_FACTOR);
    macro_rules! pick {
        ($($k:literal)*) => {
            $( if need <= (1usize << $k) { return decode_limited::<T, { 1usize << $k }>(bytes); } )*
        };
    }
    pick!(12 16 20 24 28 32 36 40);
    decode_limited::<T, { usize::MAX }>(bytes)
}

/// Bytes a decode may claim (for strings and byte buffers) per input byte. Strings and bytes
/// claim exactly their length, so 16 leaves ample headroom while a forged length prefix in a
/// short message is refused before any allocation.
const DECODE_LIMIT_FACTOR: usize = 16;

fn decode_limited<T: DeserializeOwned, const LIMIT: usize>(bytes: &[u8]) -> Result<T, DecodeError> {
    let (value, used) =
        bincode::serde::decode_from_slice::<T, _>(bytes, config().with_limit::<LIMIT>()).map_err(
            |e| DecodeError::Deserialize {
                type_name: type_name::<T>(),
                message: e.to_string(),
            },
        )?;
    if used != bytes.len() {
        return Err(DecodeError::TrailingBytes {
            type_name: type_name::<T>(),
            extra: bytes.len() - used,
        });
    }
    Ok(value)
}

/// Number of bytes [`encode`] would produce (one counting pass, no allocation).
///
/// For `Vec<u8>` under the payload bypass, use [`payload_len`].
///
/// # Errors
/// [`EncodeError::Serialize`] if serde refuses the value.
pub fn encoded_len<T: Serialize + ?Sized>(value: &T) -> Result<usize, EncodeError> {
    let mut counter = bincode::enc::write::SizeWriter::default();
    bincode::serde::encode_into_writer(value, &mut counter, config()).map_err(|e| {
        EncodeError::Serialize {
            type_name: type_name::<T>(),
            message: e.to_string(),
        }
    })?;
    Ok(counter.bytes_written)
}

/// Number of bytes [`encode_payload`] would store for `value` (raw length for `Vec<u8>`).
///
/// # Errors
/// [`EncodeError::Serialize`] if serde refuses the value.
pub fn payload_len<T: Serialize + 'static>(value: &T) -> Result<usize, EncodeError> {
    match (value as &dyn Any).downcast_ref::<Vec<u8>>() {
        Some(bytes) => Ok(bytes.len()),
        None => encoded_len(value),
    }
}

/// What a writer does when a ring has no room for a value yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnFull {
    /// Wait a little longer (the reader will release records): backpressure.
    Wait,
    /// Send this value inline instead (waiting could deadlock, e.g. the ring is full of
    /// records the reader has not been told about yet).
    Inline,
    /// Give up: the run is stopping.
    Stop,
}

/// How long one wait for ring space lasts before the writer is asked again.
pub const RING_POLL: Duration = Duration::from_millis(20);

/// Encodes a value as a [`Payload`], waiting up to `timeout` for ring space.
///
/// With a `ring` and an encoded size of at least `threshold` bytes, the value is written
/// straight into a reservation in the ring and a [`Payload::Shm`] handle is returned;
/// otherwise, or when the value could never fit the ring, it is [`Payload::Inline`]. A
/// `Vec<u8>` is stored raw: moved as-is when inline (no copy), copied once into the ring.
///
/// # Errors
/// [`EncodeError::Serialize`] if serde refuses the value, [`EncodeError::Reserve`] if the ring
/// stayed full for `timeout`.
pub fn encode_payload<T: Serialize + 'static>(
    value: T,
    ring: Option<&Ring>,
    threshold: usize,
    timeout: Duration,
) -> Result<Payload, EncodeError> {
    let deadline = std::time::Instant::now() + timeout;
    encode_payload_with(value, ring, threshold, &mut || {
        if std::time::Instant::now() < deadline {
            OnFull::Wait
        } else {
            OnFull::Stop
        }
    })
}

/// Encodes a value as a [`Payload`]; while the ring is full, asks `on_full` every
/// [`RING_POLL`] what to do. A value too large for the ring travels inline.
///
/// # Errors
/// [`EncodeError::Serialize`] if serde refuses the value, [`EncodeError::Reserve`] when
/// `on_full` said [`OnFull::Stop`].
pub fn encode_payload_with<T: Serialize + 'static>(
    value: T,
    ring: Option<&Ring>,
    threshold: usize,
    on_full: &mut dyn FnMut() -> OnFull,
) -> Result<Payload, EncodeError> {
    if is_bytes::<T>() {
        let mut slot = Some(value);
        let bytes = (&mut slot as &mut dyn Any)
            .downcast_mut::<Option<Vec<u8>>>()
            .and_then(Option::take)
            .expect("TypeId checked: T is Vec<u8>");
        return match ring {
            Some(ring) if bytes.len() >= threshold && bytes.len() <= ring.max_payload() => {
                match reserve(ring, bytes.len(), on_full)? {
                    Some(mut res) => {
                        res.copy_from_slice(&bytes);
                        Ok(Payload::Shm(res.commit()))
                    }
                    None => Ok(Payload::Inline(bytes)),
                }
            }
            _ => Ok(Payload::Inline(bytes)),
        };
    }
    match ring {
        None => encode(&value).map(Payload::Inline),
        Some(ring) => {
            let len = encoded_len(&value)?;
            if len < threshold || len > ring.max_payload() {
                return encode(&value).map(Payload::Inline);
            }
            let Some(mut res) = reserve(ring, len, on_full)? else {
                return encode(&value).map(Payload::Inline);
            };
            let written = bincode::serde::encode_into_slice(&value, &mut res[..], config())
                .map_err(|e| EncodeError::Serialize {
                    type_name: type_name::<T>(),
                    message: e.to_string(),
                })?;
            if written != len {
                // A Serialize impl that writes something else the second time: refuse it
                // rather than hand out a record with garbage at its end.
                return Err(EncodeError::Serialize {
                    type_name: type_name::<T>(),
                    message: format!("serialized to {len} bytes, then to {written}"),
                });
            }
            Ok(Payload::Shm(res.commit()))
        }
    }
}

/// A reservation, or `None` when `on_full` chose inline.
pub(crate) fn reserve<'r>(
    ring: &'r Ring,
    len: usize,
    on_full: &mut dyn FnMut() -> OnFull,
) -> Result<Option<crate::shm::Reservation<'r>>, EncodeError> {
    let error = |source| EncodeError::Reserve {
        ring: ring.id(),
        len,
        source,
    };
    loop {
        match ring.reserve(len, RING_POLL) {
            Ok(r) => return Ok(Some(r)),
            // `reserve` with a timeout reports a ring that stayed full as `Timeout`.
            Err(
                e @ (crate::shm::ReserveError::Full { .. }
                | crate::shm::ReserveError::Timeout { .. }),
            ) => match on_full() {
                OnFull::Wait => continue,
                OnFull::Inline => return Ok(None),
                OnFull::Stop => return Err(error(e)),
            },
            Err(e) => return Err(error(e)),
        }
    }
}

/// Finds the ring a handle points into.
///
/// # Errors
/// [`DecodeError::UnknownRing`] when no ring in `rings` has the handle's id.
pub fn ring_for<'r>(handle: &Handle, rings: &'r [Ring]) -> Result<&'r Ring, DecodeError> {
    rings
        .iter()
        .find(|r| r.id() == handle.ring)
        .ok_or(DecodeError::UnknownRing { ring: handle.ring })
}

/// Decodes a payload as a `T`, reading a ring record in place and then releasing it.
///
/// The record is released even when decoding fails, so a bad record cannot pin the ring.
/// To keep a ring record alive (to forward it), do not decode it: send the [`Payload`] on.
///
/// # Errors
/// [`DecodeError`] if the bytes are not a `T`, or the handle is unknown, stale or out of
/// bounds. Never panics on hostile input.
pub fn decode_payload<T: DeserializeOwned + 'static>(
    payload: &Payload,
    rings: &[Ring],
) -> Result<T, DecodeError> {
    match payload {
        Payload::Inline(bytes) => decode_bytes::<T>(bytes),
        Payload::Shm(handle) => read_shm(handle, rings, decode_bytes::<T>),
    }
}

/// Like [`decode_payload`], but takes the payload by value so an inline `Vec<u8>` is moved
/// out without a copy.
///
/// # Errors
/// As [`decode_payload`].
pub fn decode_payload_owned<T: DeserializeOwned + 'static>(
    payload: Payload,
    rings: &[Ring],
) -> Result<T, DecodeError> {
    match payload {
        Payload::Inline(bytes) if is_bytes::<T>() => {
            let mut slot = Some(bytes);
            Ok((&mut slot as &mut dyn Any)
                .downcast_mut::<Option<T>>()
                .and_then(Option::take)
                .expect("TypeId checked: T is Vec<u8>"))
        }
        other => decode_payload(&other, rings),
    }
}

/// Runs `f` over the bytes of a ring record in place, then releases the record.
///
/// # Errors
/// The handle's errors, or `f`'s.
pub fn read_shm<R>(
    handle: &Handle,
    rings: &[Ring],
    f: impl FnOnce(&[u8]) -> Result<R, DecodeError>,
) -> Result<R, DecodeError> {
    let ring = ring_for(handle, rings)?;
    let result = {
        let guard = ring.read(handle).map_err(|source| DecodeError::Handle {
            ring: handle.ring,
            source,
        })?;
        f(&guard)
    };
    ring.release(handle).map_err(|source| DecodeError::Handle {
        ring: handle.ring,
        source,
    })?;
    result
}

/// Releases a ring record without reading it (e.g. an output nobody will consume).
/// Inline payloads need nothing.
///
/// # Errors
/// The handle's errors.
pub fn release_payload(payload: &Payload, rings: &[Ring]) -> Result<(), DecodeError> {
    if let Payload::Shm(handle) = payload {
        let ring = ring_for(handle, rings)?;
        ring.release(handle).map_err(|source| DecodeError::Handle {
            ring: handle.ring,
            source,
        })?;
    }
    Ok(())
}

fn decode_bytes<T: DeserializeOwned + 'static>(bytes: &[u8]) -> Result<T, DecodeError> {
    if is_bytes::<T>() {
        let mut slot = Some(bytes.to_vec());
        return Ok((&mut slot as &mut dyn Any)
            .downcast_mut::<Option<T>>()
            .and_then(Option::take)
            .expect("TypeId checked: T is Vec<u8>"));
    }
    decode(bytes)
}

/// The rings and limits a worker uses to encode its outputs and decode its inputs.
///
/// A worker builds one from its [`Welcome`](crate::protocol::Welcome). Writing an output into
/// a full ring waits for the coordinator to release records (backpressure, for as long as it
/// takes), except when the current call has itself stored records the coordinator has not
/// been told about yet: waiting for those could never end, so the value goes inline instead.
#[derive(Debug, Default)]
pub struct PayloadIo {
    /// Attached rings, searched by id when decoding a handle.
    pub rings: Vec<Ring>,
    /// Index into `rings` of the ring large outputs are written to.
    pub output_ring: Option<usize>,
    /// Outputs of at least this many encoded bytes go to the output ring.
    pub shm_threshold: usize,
    /// Records stored by the current call (see [`PayloadIo::begin_call`]).
    stored: std::sync::atomic::AtomicUsize,
    /// Asked while waiting for ring space: `false` gives up (the coordinator is gone).
    keep_waiting: Option<fn() -> bool>,
    /// Input records are left for the coordinator to release (see `Welcome::keep_inputs`).
    pub keep_inputs: bool,
}

impl PayloadIo {
    /// An io over `rings`, writing outputs of at least `shm_threshold` bytes to
    /// `rings[output_ring]`; `keep_waiting` is asked while a full ring makes a writer wait.
    pub fn new(
        rings: Vec<Ring>,
        output_ring: Option<usize>,
        shm_threshold: usize,
        keep_waiting: Option<fn() -> bool>,
    ) -> Self {
        PayloadIo {
            rings,
            output_ring,
            shm_threshold,
            stored: Default::default(),
            keep_waiting,
            keep_inputs: false,
        }
    }

    /// Starts a call: records stored from now on are the call's own.
    pub fn begin_call(&self) {
        self.stored.store(0, std::sync::atomic::Ordering::Relaxed);
    }

    /// How many ring records the current call has stored.
    pub fn stored_in_call(&self) -> usize {
        self.stored.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// What to do about a full output ring: wait, unless this call holds records the
    /// coordinator has not been told about (inline then), or the coordinator is gone.
    fn on_full(&self) -> OnFull {
        if self.stored_in_call() > 0 {
            OnFull::Inline
        } else if self.keep_waiting.is_some_and(|f| !f()) {
            OnFull::Stop
        } else {
            OnFull::Wait
        }
    }

    /// Encodes an output per [`encode_payload_with`] with this process's output ring.
    ///
    /// # Errors
    /// As [`encode_payload_with`].
    pub fn encode<T: Serialize + 'static>(&self, value: T) -> Result<Payload, EncodeError> {
        let ring = self.output_ring.and_then(|i| self.rings.get(i));
        let mut on_full = || self.on_full();
        let p = encode_payload_with(value, ring, self.shm_threshold, &mut on_full)?;
        if matches!(p, Payload::Shm(_)) {
            self.stored
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(p)
    }

    /// A reservation of `len` bytes in `ring` for an output written in place, under the same
    /// waiting rules as [`PayloadIo::encode`]; `None`: write it inline instead (too large for
    /// the ring, or waiting could deadlock).
    ///
    /// # Errors
    /// [`EncodeError::Reserve`] when the coordinator is gone.
    pub fn reserve_output<'r>(
        &self,
        ring: &'r Ring,
        len: usize,
    ) -> Result<Option<crate::shm::Reservation<'r>>, EncodeError> {
        if len > ring.max_payload() {
            return Ok(None);
        }
        let mut on_full = || self.on_full();
        let r = reserve(ring, len, &mut on_full)?;
        if r.is_some() {
            self.stored
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(r)
    }

    /// Decodes an input per [`decode_payload_owned`].
    ///
    /// # Errors
    /// As [`decode_payload`].
    pub fn decode<T: DeserializeOwned + 'static>(
        &self,
        payload: Payload,
    ) -> Result<T, DecodeError> {
        match payload {
            Payload::Shm(handle) if self.keep_inputs => read_kept(&handle, &self.rings),
            other => decode_payload_owned(other, &self.rings),
        }
    }
}

/// Copies a ring record's bytes out without releasing it (handing an item over to another
/// reader after the first one died).
///
/// # Errors
/// The handle's errors.
pub fn read_kept_bytes(handle: &Handle, ring: &Ring) -> Result<Vec<u8>, DecodeError> {
    let guard = ring.read(handle).map_err(|source| DecodeError::Handle {
        ring: handle.ring,
        source,
    })?;
    Ok(guard.to_vec())
}

/// Decodes a ring record in place without releasing it.
fn read_kept<T: DeserializeOwned + 'static>(
    handle: &Handle,
    rings: &[Ring],
) -> Result<T, DecodeError> {
    let ring = ring_for(handle, rings)?;
    let guard = ring.read(handle).map_err(|source| DecodeError::Handle {
        ring: handle.ring,
        source,
    })?;
    decode_bytes::<T>(&guard)
}
