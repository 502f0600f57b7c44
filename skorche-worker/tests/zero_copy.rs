//! The raw wire form of `ShmBytes` and `ShmSlice`, without processes: a `ShmBytes` held in a
//! ring the worker attached goes on as its handle (no copy), one held elsewhere is copied
//! once, owned bytes travel raw; outputs are held in place by the driver.

use std::sync::Arc;
use std::time::Duration;

use skorche_worker::codec::{OnFull, PayloadIo};
use skorche_worker::error::DecodeError;
use skorche_worker::protocol::Payload;
use skorche_worker::rings::{Ring, ShmBytes, ShmSlice};
use skorche_worker::zero_copy::{self, decode_input, decode_output, FromOutput};

fn ring() -> Arc<Ring> {
    Arc::new(Ring::create(1 << 20).unwrap())
}

fn wait() -> OnFull {
    OnFull::Wait
}

/// Encodes one input as the feeder does, and returns it as a single payload.
fn encode_input(
    value: ShmBytes,
    ring: &Ring,
    family: &[Arc<Ring>],
    threshold: usize,
    on_full: &mut dyn FnMut() -> OnFull,
) -> Result<Payload, skorche_worker::error::EncodeError> {
    let mut values = skorche_worker::values::Values::default();
    zero_copy::encode_input(value, ring, family, threshold, on_full, &mut values)?;
    Ok(values.last().expect("one value").to_payload())
}

#[test]
fn a_value_held_in_an_attached_ring_goes_on_as_its_handle() {
    let (producer, input) = (ring(), ring());
    let handle = producer.write(&[9u8; 5000], Duration::ZERO).unwrap();
    let value = ShmBytes::from(producer.hold(&handle).unwrap());
    assert_eq!(producer.kept_bytes(), 5120);
    let family = [producer.clone()];
    let payload = encode_input(value, &input, &family, 64, &mut wait).unwrap();
    assert_eq!(payload, Payload::Shm(handle), "the same record, not a copy");
    assert_eq!(
        input.used(),
        0,
        "nothing written to the worker's input ring"
    );
    // Handed over: no longer kept by a value, not released either; the worker reads it in
    // place and releases it.
    assert_eq!(producer.kept_bytes(), 0);
    assert_eq!(producer.held_bytes(), Some(5120));
    let io = PayloadIo::new(
        vec![Ring::open(&producer.descriptor()).unwrap()],
        None,
        64,
        None,
    );
    let got: ShmBytes = decode_input(payload.as_value(), &io).unwrap();
    assert_eq!(got, vec![9u8; 5000]);
    assert_eq!(producer.held_bytes(), Some(0));
}

#[test]
fn a_value_held_elsewhere_or_shared_is_copied_once() {
    let (producer, input) = (ring(), ring());
    let handle = producer.write(&[3u8; 5000], Duration::ZERO).unwrap();
    let value = ShmBytes::from(producer.hold(&handle).unwrap());
    // Not attached by the worker: copied into its input ring.
    let payload = encode_input(value.clone(), &input, &[], 64, &mut wait).unwrap();
    let Payload::Shm(copied) = payload else {
        panic!("{payload:?}")
    };
    assert_eq!(copied.ring, input.id());
    assert_eq!(&*input.read(&copied).unwrap(), &[3u8; 5000][..]);
    // Attached, but a clone still reads it: copied too, the record stays with the clone.
    let family = [producer.clone()];
    let payload = encode_input(value.clone(), &input, &family, 64, &mut wait).unwrap();
    assert_ne!(payload, Payload::Shm(handle));
    drop(value);
    assert_eq!(
        producer.held_bytes(),
        Some(0),
        "released with the last clone"
    );
}

#[test]
fn owned_bytes_travel_raw() {
    let input = ring();
    let small = encode_input(ShmBytes::from(vec![1u8, 2, 3]), &input, &[], 64, &mut wait);
    assert_eq!(
        small.unwrap(),
        Payload::Inline(vec![1, 2, 3]),
        "no length prefix"
    );
    let io = PayloadIo::new(Vec::new(), None, 64, None);
    let back: ShmBytes = decode_input(Payload::Inline(vec![1, 2, 3]).as_value(), &io).unwrap();
    assert_eq!(back, vec![1u8, 2, 3]);
}

#[test]
fn outputs_are_held_in_place_and_checked() {
    let out = ring();
    let values = [1.5f32, -2.0, 3.25];
    let handle = out.write(bytemuck_bytes(&values), Duration::ZERO).unwrap();
    let slice = <ShmSlice<f32>>::from_value(Payload::Shm(handle).as_value(), &out).unwrap();
    assert!(slice.in_ring());
    assert_eq!(&slice[..], &values);
    drop(slice);
    assert_eq!(out.held_bytes(), Some(0));

    // A byte count that is not a whole number of f32: an error, and the record is released.
    let odd = out.write(&[0u8; 7], Duration::ZERO).unwrap();
    let err = <ShmSlice<f32>>::from_value(Payload::Shm(odd).as_value(), &out).unwrap_err();
    assert!(matches!(err, DecodeError::Slice(_)), "{err}");
    assert_eq!(out.held_bytes(), Some(0));

    // A handle into another ring is refused.
    let other = ring();
    let foreign = other.write(&[0u8; 8], Duration::ZERO).unwrap();
    let err = decode_output::<ShmBytes>(Payload::Shm(foreign).as_value(), &out).unwrap_err();
    assert!(matches!(err, DecodeError::UnknownRing { .. }), "{err}");
}

fn bytemuck_bytes(values: &[f32]) -> &[u8] {
    skorche_worker::rings::bytemuck::cast_slice(values)
}
