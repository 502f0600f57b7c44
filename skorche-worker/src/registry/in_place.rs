//! Task forms that skip a copy in a worker: `map_in_place` reads its input where it lies in
//! the input ring, `map_slice` and `fill_slice` store typed arrays as raw bytes (`fill_slice`
//! straight into the output ring).

use bytemuck::Pod;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{decode_failure, encode_failure, guarded, Outputs, TaskInstance};
use crate::codec::PayloadIo;
use crate::protocol::TaskFailure;
use crate::shm::{ShmBytes, ShmSlice};
use crate::values::{ValueRef, Values};
use crate::zero_copy::{encode_output, with_input};

mod sealed {
    pub trait Sealed {}
    impl Sealed for Vec<u8> {}
    impl Sealed for crate::shm::ShmBytes {}
}

/// The input types a `map_in_place` task may declare: `Vec<u8>` and [`ShmBytes`], whose wire
/// form is their raw bytes, so a worker can hand the task a view of them in place.
pub trait BytesInput: AsRef<[u8]> + sealed::Sealed {}
impl BytesInput for Vec<u8> {}
impl BytesInput for ShmBytes {}

/// `fn(&[u8]) -> Out` over an input read in place.
pub(super) struct InPlaceInstance<F>(pub(super) F);

impl<In, Out, F> TaskInstance<In, Out> for InPlaceInstance<F>
where
    In: BytesInput,
    F: FnMut(&[u8]) -> Out + Send,
{
    fn call(&mut self, input: In) -> Result<Outputs<Out>, TaskFailure> {
        guarded(|| Ok(Outputs::One((self.0)(input.as_ref()))))
    }

    fn call_value(
        &mut self,
        input: ValueRef<'_>,
        io: &PayloadIo,
        out: &mut Values,
    ) -> Result<u32, TaskFailure>
    where
        In: DeserializeOwned + 'static,
        Out: Serialize + 'static,
    {
        // The task runs inside `guarded`, so a panic cannot skip the record's release.
        let value = match input {
            ValueRef::Inline(bytes) => guarded(|| Ok((self.0)(bytes))),
            ValueRef::Shm(handle) => {
                with_input(handle, io, |bytes| guarded(|| Ok((self.0)(bytes))))
                    .map_err(decode_failure)?
            }
        }?;
        encode_output(value, io, out).map_err(encode_failure)?;
        Ok(1)
    }
}

/// Stores raw bytes as one output: in the output ring when large enough and there is room
/// (one copy), inline otherwise.
fn store_raw(bytes: &[u8], io: &PayloadIo, out: &mut Values) -> Result<u32, TaskFailure> {
    let ring = io.output_ring.and_then(|i| io.rings.get(i));
    if let Some(ring) = ring.filter(|_| bytes.len() >= io.shm_threshold) {
        if let Some(mut res) = io
            .reserve_output(ring, bytes.len())
            .map_err(encode_failure)?
        {
            res.copy_from_slice(bytes);
            out.push_shm(res.commit());
            return Ok(1);
        }
    }
    out.push_bytes(bytes);
    Ok(1)
}

/// `fn(In) -> Vec<T>` stored as the raw bytes of the values.
pub(super) struct SliceInstance<F>(pub(super) F);

impl<In, T, F> TaskInstance<In, ShmSlice<T>> for SliceInstance<F>
where
    T: Pod + Send + Sync,
    F: FnMut(In) -> Vec<T> + Send,
{
    fn call(&mut self, input: In) -> Result<Outputs<ShmSlice<T>>, TaskFailure> {
        guarded(|| Ok(Outputs::One(ShmSlice::from((self.0)(input)))))
    }

    fn call_into(
        &mut self,
        input: In,
        io: &PayloadIo,
        out: &mut Values,
    ) -> Result<u32, TaskFailure> {
        let values = guarded(|| Ok((self.0)(input)))?;
        store_raw(bytemuck::cast_slice(&values), io, out)
    }
}

/// `size: fn(&In) -> usize` values, `fill: fn(In, &mut [T])` written in place.
pub(super) struct FillSliceInstance<Z, F> {
    pub(super) size: Z,
    pub(super) fill: F,
}

impl<In, T, Z, F> TaskInstance<In, ShmSlice<T>> for FillSliceInstance<Z, F>
where
    T: Pod + Send + Sync,
    Z: FnMut(&In) -> usize + Send,
    F: FnMut(In, &mut [T]) + Send,
{
    fn call(&mut self, input: In) -> Result<Outputs<ShmSlice<T>>, TaskFailure> {
        guarded(|| {
            let mut out = vec![T::zeroed(); (self.size)(&input)];
            (self.fill)(input, &mut out);
            Ok(Outputs::One(ShmSlice::from(out)))
        })
    }

    fn call_into(
        &mut self,
        input: In,
        io: &PayloadIo,
        out: &mut Values,
    ) -> Result<u32, TaskFailure> {
        guarded(|| {
            let n = (self.size)(&input);
            let len = n.checked_mul(std::mem::size_of::<T>()).ok_or_else(|| {
                encode_failure(crate::error::EncodeError::Serialize {
                    type_name: std::any::type_name::<T>(),
                    message: format!("{n} values do not fit in memory"),
                })
            })?;
            let ring = io.output_ring.and_then(|i| io.rings.get(i));
            if let Some(ring) = ring.filter(|_| len >= io.shm_threshold) {
                // Written in place: no intermediate buffer. A panic in `fill` drops the
                // reservation uncommitted. Records are 64-byte aligned, so the cast fails only
                // for a `T` aligned to more: then the values are filled aside and copied.
                if let Some(mut res) = io.reserve_output(ring, len).map_err(encode_failure)? {
                    if let Ok(values) = bytemuck::try_cast_slice_mut::<u8, T>(&mut res[..]) {
                        (self.fill)(input, values);
                        out.push_shm(res.commit());
                        return Ok(1);
                    }
                    let mut values = vec![T::zeroed(); n];
                    (self.fill)(input, &mut values);
                    res.copy_from_slice(bytemuck::cast_slice(&values));
                    out.push_shm(res.commit());
                    return Ok(1);
                }
            }
            let mut values = vec![T::zeroed(); n];
            (self.fill)(input, &mut values);
            out.push_bytes(bytemuck::cast_slice(&values));
            Ok(1)
        })
    }
}
