//! The one serialization seam: serde + [postcard] 1 (varint integers, length-prefixed
//! sequences, strings and byte strings).
//!
//! Why postcard: it is maintained, serves any `T: Serialize + DeserializeOwned` (users' own
//! types included) through serde, and its slice decoder checks every length prefix of a
//! string or byte string against the bytes left before taking them, so a forged prefix in a
//! short message fails instead of allocating. bincode, the format before it, is unmaintained
//! (RUSTSEC-2025-0141); `wincode`, which keeps bincode's format, has its own schema traits and
//! no serde path, so it cannot encode users' serde types. Cost, measured on a loaded 2-core
//! machine against bincode 2: a `u64` (mixed magnitudes) takes ~8-9 ns to append and ~5 ns to
//! decode (bincode ~6 and ~3); a struct of a short `String` and a few `u32`s ~50 and ~58 ns
//! (bincode ~23-42 and ~80-120). A process-mode item costs ~1.1 µs of CPU either way.
//! Swapping the format touches only this file.
//!
//! Decoding is hardened against hostile input: strings and byte strings claim no more than the
//! bytes left; a sequence that claims more elements than bytes left gets no size hint, and
//! serde caps any preallocation from a size hint (`size_hint::cautious`) at 1 MiB, so memory
//! grows only with elements actually decoded. Bytes left over after a value are an error
//! ([`DecodeError::TrailingBytes`]); [`decode_prefix`] is the form that hands them back, for
//! values written one after another into one buffer by [`encode_into`].
//!
//! Byte payloads bypass element-wise serde: when `T` is `Vec<u8>` (checked by `TypeId`), its
//! bytes are written raw, without a length prefix, and read back raw. Values whose encoding is
//! at least the threshold go into a shared-memory ring: the value is serialized (or, for bytes,
//! copied once) straight into the ring reservation, with no intermediate buffer.

use crate::error::{DecodeError, EncodeError};
use crate::protocol::Payload;
use crate::shm::{Handle, Ring};
use crate::values::{ValueRef, Values};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::any::{type_name, Any, TypeId};
use std::time::Duration;

fn is_bytes<T: 'static>() -> bool {
    TypeId::of::<T>() == TypeId::of::<Vec<u8>>()
}

/// A postcard output that appends to a borrowed `Vec`, so one buffer can take many values.
struct AppendTo<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for AppendTo<'_> {
    type Output = ();

    #[inline(always)]
    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.0.push(byte);
        Ok(())
    }

    #[inline(always)]
    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        // Most pieces are varints of 1 to 10 bytes: pushing them beats a `memcpy` call (in a
        // microbenchmark, ~50 instead of ~65 ns to encode a struct of a short String and a
        // few u32s; no measurable difference for a lone u64).
        if bytes.len() <= 16 {
            self.0.reserve(16);
            for &b in bytes {
                self.0.push(b);
            }
        } else {
            self.0.extend_from_slice(bytes);
        }
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

// The small public functions below are `#[inline]`: generic code instantiated in a caller's
// crate is otherwise not inlined across its codegen units, which made `decode_prefix::<u64>`
// cost 15 ns instead of postcard's own 5 ns in a loop.

fn serialize_error<T: ?Sized>(e: postcard::Error) -> EncodeError {
    EncodeError::Serialize {
        type_name: type_name::<T>(),
        message: e.to_string(),
    }
}

fn deserialize_error<T>(e: postcard::Error) -> DecodeError {
    DecodeError::Deserialize {
        type_name: type_name::<T>(),
        message: e.to_string(),
    }
}

/// Serializes a value with the crate's format (postcard).
///
/// This is the format of [`Welcome::params`](crate::protocol::Welcome), of the messages
/// themselves, and of inline payloads of non-byte types.
///
/// # Errors
/// [`EncodeError::Serialize`] if serde refuses the value.
#[inline]
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, EncodeError> {
    let mut buf = Vec::new();
    encode_into(value, &mut buf)?;
    Ok(buf)
}

/// Serializes a value with the crate's format, appending to `buf` (frames build their header
/// and body in one buffer this way, and a batch can hold many values read back with
/// [`decode_prefix`]).
///
/// On error, `buf` may hold part of the value after its old end.
///
/// # Errors
/// [`EncodeError::Serialize`] if serde refuses the value.
#[inline]
pub fn encode_into<T: Serialize + ?Sized>(value: &T, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
    postcard::serialize_with_flavor(value, AppendTo(buf)).map_err(serialize_error::<T>)
}

/// Deserializes a value written by [`encode`]; every byte must be consumed.
///
/// # Errors
/// [`DecodeError::Deserialize`] or [`DecodeError::TrailingBytes`].
#[inline]
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    let (value, rest) = decode_prefix::<T>(bytes)?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes {
            type_name: type_name::<T>(),
            extra: rest.len(),
        });
    }
    Ok(value)
}

/// Deserializes one value from the start of `bytes` and returns it with the bytes after it,
/// for values written one after another into one buffer with [`encode_into`].
///
/// Unlike [`decode`], bytes left over are not an error: they are handed back.
///
/// # Errors
/// [`DecodeError::Deserialize`] if `bytes` does not start with a valid encoding of a `T`.
#[inline]
pub fn decode_prefix<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, &[u8]), DecodeError> {
    postcard::take_from_bytes::<T>(bytes).map_err(deserialize_error::<T>)
}

/// Number of bytes [`encode`] would produce (one counting pass, no allocation).
///
/// For `Vec<u8>` under the payload bypass, use [`payload_len`].
///
/// # Errors
/// [`EncodeError::Serialize`] if serde refuses the value.
#[inline]
pub fn encoded_len<T: Serialize + ?Sized>(value: &T) -> Result<usize, EncodeError> {
    postcard::serialize_with_flavor(value, postcard::ser_flavors::Size::default())
        .map_err(serialize_error::<T>)
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

/// How long this process's outputs wait for ring space before travelling inline; nanoseconds,
/// `u64::MAX` for ever (the default: holding records is backpressure).
static FULL_RING_WAIT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(u64::MAX);

/// Sets how long an output of this worker process waits for room in its ring before it is
/// sent inline instead; `None` (the default) waits for as long as the reader holds records.
///
/// A driver that hands ring records to code it does not control (the Python binding gives
/// out views that may be kept for ever) sets a limit in its workers, so that records held
/// without end slow the stage down to inline speed instead of stopping it.
///
/// ```
/// skorche_worker::codec::set_full_ring_wait(Some(std::time::Duration::from_millis(200)));
/// skorche_worker::codec::set_full_ring_wait(None);
/// ```
pub fn set_full_ring_wait(limit: Option<Duration>) {
    let nanos = limit.map_or(u64::MAX, |d| d.as_nanos().min(u64::MAX as u128 - 1) as u64);
    FULL_RING_WAIT.store(nanos, std::sync::atomic::Ordering::Relaxed);
}

/// `on_full`, except that once `started` is older than the process's full-ring wait limit a
/// wait becomes [`OnFull::Inline`].
fn within_wait_limit(started: std::time::Instant, on_full: OnFull) -> OnFull {
    let limit = FULL_RING_WAIT.load(std::sync::atomic::Ordering::Relaxed);
    if on_full == OnFull::Wait && started.elapsed().as_nanos() >= u128::from(limit) {
        OnFull::Inline
    } else {
        on_full
    }
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
            // Too short a reservation (a value that grew since it was measured) fails here
            // with `SerializeBufferFull` rather than writing past it.
            let written = postcard::to_slice(&value, &mut res[..])
                .map_err(serialize_error::<T>)?
                .len();
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
        let started = std::time::Instant::now();
        let mut on_full = || within_wait_limit(started, self.on_full());
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
        let started = std::time::Instant::now();
        let mut on_full = || within_wait_limit(started, self.on_full());
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

// ------------------------------------------------------------------ values of a batch

/// Appends a value to `out`, the values of one message: small values are encoded straight
/// onto the end of its buffer (no allocation of their own); a value whose encoding is at
/// least `threshold` bytes goes into `ring` when one is given (asking `on_full` while it is
/// full, as [`encode_payload_with`]), and only its handle is recorded. Returns whether the
/// value went into the ring.
///
/// # Errors
/// [`EncodeError::Serialize`] if serde refuses the value (`out` is left as it was),
/// [`EncodeError::Reserve`] when `on_full` said [`OnFull::Stop`].
pub fn encode_value<T: Serialize + 'static>(
    value: T,
    ring: Option<&Ring>,
    threshold: usize,
    on_full: &mut dyn FnMut() -> OnFull,
    out: &mut Values,
) -> Result<bool, EncodeError> {
    if is_bytes::<T>() {
        let bytes = (&value as &dyn Any)
            .downcast_ref::<Vec<u8>>()
            .expect("TypeId checked: T is Vec<u8>");
        if let Some(ring) =
            ring.filter(|r| bytes.len() >= threshold && bytes.len() <= r.max_payload())
        {
            if let Some(mut res) = reserve(ring, bytes.len(), on_full)? {
                res.copy_from_slice(bytes);
                out.push_shm(res.commit());
                return Ok(true);
            }
        }
        out.push_bytes(bytes);
        return Ok(false);
    }
    // Encoded onto the buffer first: for the many small values that is the only pass. A
    // large one is then moved into the ring (one copy, cheaper than a second serde pass).
    let mark = out.mark();
    out.push_with(|buf| encode_into(&value, buf))?;
    let Some(ring) = ring else {
        return Ok(false);
    };
    let len = out.last().map_or(0, |v| v.len());
    if len < threshold || len > ring.max_payload() {
        return Ok(false);
    }
    let Some(mut res) = reserve(ring, len, on_full)? else {
        return Ok(false);
    };
    if let Some(ValueRef::Inline(bytes)) = out.last() {
        res.copy_from_slice(bytes);
    }
    out.truncate(mark);
    out.push_shm(res.commit());
    Ok(true)
}

/// Decodes one value of a message as a `T`; a ring record is read in place and released
/// (even when decoding fails, so a bad record cannot pin the ring).
///
/// # Errors
/// As [`decode_payload`].
pub fn decode_value<T: DeserializeOwned + 'static>(
    value: ValueRef<'_>,
    rings: &[Ring],
) -> Result<T, DecodeError> {
    match value {
        ValueRef::Inline(bytes) => decode_bytes::<T>(bytes),
        ValueRef::Shm(handle) => read_shm(handle, rings, decode_bytes::<T>),
    }
}

/// Releases the ring records among `handles` (outputs of a call that failed after storing
/// them); errors are ignored: the records are being abandoned anyway.
pub fn release_handles(handles: &[Handle], rings: &[Ring]) {
    for h in handles {
        if let Ok(ring) = ring_for(h, rings) {
            let _ = ring.release(h);
        }
    }
}

impl PayloadIo {
    /// Appends an output per [`encode_value`] with this process's output ring and waiting
    /// rules (see [`PayloadIo::encode`]).
    ///
    /// # Errors
    /// As [`encode_value`].
    pub fn encode_value<T: Serialize + 'static>(
        &self,
        value: T,
        out: &mut Values,
    ) -> Result<(), EncodeError> {
        let ring = self.output_ring.and_then(|i| self.rings.get(i));
        let started = std::time::Instant::now();
        let mut on_full = || within_wait_limit(started, self.on_full());
        if encode_value(value, ring, self.shm_threshold, &mut on_full, out)? {
            self.stored
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }

    /// Decodes an input of a batch; a ring record is left in place when inputs are kept.
    ///
    /// # Errors
    /// As [`decode_payload`].
    pub fn decode_value<T: DeserializeOwned + 'static>(
        &self,
        value: ValueRef<'_>,
    ) -> Result<T, DecodeError> {
        match value {
            ValueRef::Shm(handle) if self.keep_inputs => read_kept(handle, &self.rings),
            other => decode_value(other, &self.rings),
        }
    }
}
