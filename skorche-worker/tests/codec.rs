//! Codec round-trips, the `Vec<u8>` bypass, ring payloads and hostile input.

use proptest::prelude::*;
use skorche_worker::codec::{self, decode_payload, encode_payload};
use skorche_worker::error::DecodeError;
use skorche_worker::protocol::Payload;
use skorche_worker::rings::{Handle, Ring};
use std::time::Duration;

const T: Duration = Duration::from_secs(1);

fn roundtrip<T>(v: T, ring: Option<&Ring>, threshold: usize) -> T
where
    T: serde::Serialize + serde::de::DeserializeOwned + Clone + 'static,
{
    let rings: Vec<&Ring> = ring.into_iter().collect();
    let p = encode_payload(v, ring, threshold, T).unwrap();
    match (&p, rings.first()) {
        (Payload::Shm(_), Some(r)) => {
            let ring_slice = std::slice::from_ref(*r);
            decode_payload(&p, ring_slice).unwrap()
        }
        _ => decode_payload(&p, &[]).unwrap(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn bytes_roundtrip_inline_raw(v in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let p = encode_payload(v.clone(), None, usize::MAX, T).unwrap();
        // The bypass stores the bytes themselves, no length prefix.
        prop_assert_eq!(&p, &Payload::Inline(v.clone()));
        let back: Vec<u8> = decode_payload(&p, &[]).unwrap();
        prop_assert_eq!(back, v);
    }

    #[test]
    fn values_roundtrip_inline(v in any::<(u64, String, Vec<i32>, Option<bool>)>()) {
        prop_assert_eq!(roundtrip(v.clone(), None, 0), v);
    }

    #[test]
    fn values_roundtrip_through_a_ring(v in any::<(u64, String, Vec<u16>)>(), threshold in 0usize..3) {
        let ring = Ring::create_in_process(1 << 16).unwrap();
        let p = encode_payload(v.clone(), Some(&ring), threshold, T).unwrap();
        prop_assert!(matches!(p, Payload::Shm(_)));
        let rings = std::slice::from_ref(&ring);
        prop_assert_eq!(decode_payload::<(u64, String, Vec<u16>)>(&p, rings).unwrap(), v);
        // Released after decode: the handle is no longer readable.
        prop_assert!(decode_payload::<(u64, String, Vec<u16>)>(&p, rings).is_err());
    }

    #[test]
    fn bytes_roundtrip_through_a_ring(v in proptest::collection::vec(any::<u8>(), 1..8192)) {
        let ring = Ring::create_in_process(1 << 16).unwrap();
        let p = encode_payload(v.clone(), Some(&ring), 1, T).unwrap();
        let Payload::Shm(h) = p else { panic!("expected shm") };
        prop_assert_eq!(h.len as usize, v.len());
        let back: Vec<u8> = decode_payload(&p, std::slice::from_ref(&ring)).unwrap();
        prop_assert_eq!(back, v);
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = codec::decode::<(u64, String, Vec<u32>)>(&bytes);
        let _ = decode_payload::<Option<(u8, String)>>(&Payload::Inline(bytes), &[]);
    }
}

#[test]
fn small_values_stay_inline_with_a_ring() {
    let ring = Ring::create_in_process(1 << 16).unwrap();
    let p = encode_payload(5u64, Some(&ring), 64, T).unwrap();
    assert!(matches!(p, Payload::Inline(_)));
    let p = encode_payload(vec![1u8; 10], Some(&ring), 64, T).unwrap();
    assert_eq!(p, Payload::Inline(vec![1u8; 10]));
}

#[test]
fn payload_len_is_raw_for_bytes() {
    assert_eq!(codec::payload_len(&vec![0u8; 1000]).unwrap(), 1000);
    assert_eq!(
        codec::payload_len(&vec![0u16; 10]).unwrap(),
        codec::encode(&vec![0u16; 10]).unwrap().len()
    );
}

#[test]
fn trailing_bytes_are_an_error() {
    let mut b = codec::encode(&7u64).unwrap();
    b.push(0);
    assert!(matches!(
        codec::decode::<u64>(&b),
        Err(DecodeError::TrailingBytes { extra: 1, .. })
    ));
}

#[test]
fn handles_into_unknown_rings_or_out_of_bounds_are_errors() {
    let ring = Ring::create_in_process(1 << 16).unwrap();
    let rings = std::slice::from_ref(&ring);
    let forged = Handle {
        ring: ring.id(),
        offset: 1 << 40,
        len: 8,
        generation: 1,
    };
    assert!(matches!(
        decode_payload::<u64>(&Payload::Shm(forged), rings),
        Err(DecodeError::Handle { .. })
    ));
    let other = Handle {
        ring: skorche_worker::rings::RingId(ring.id().0 ^ 1),
        ..forged
    };
    assert!(matches!(
        decode_payload::<u64>(&Payload::Shm(other), rings),
        Err(DecodeError::UnknownRing { .. })
    ));
}

#[test]
fn a_full_ring_times_out_instead_of_overwriting() {
    let ring = Ring::create_in_process(1 << 16).unwrap();
    let first = encode_payload(vec![1u8; 40_000], Some(&ring), 1, T).unwrap();
    let err = encode_payload(vec![2u8; 40_000], Some(&ring), 1, Duration::from_millis(20));
    assert!(
        matches!(err, Err(skorche_worker::error::EncodeError::Reserve { .. })),
        "{err:?}"
    );
    let back: Vec<u8> = decode_payload(&first, std::slice::from_ref(&ring)).unwrap();
    assert_eq!(back, vec![1u8; 40_000]);
    encode_payload(vec![2u8; 40_000], Some(&ring), 1, T).unwrap();
}

#[test]
fn forwarding_a_payload_leaves_it_untouched() {
    let ring = Ring::create_in_process(1 << 16).unwrap();
    let p = encode_payload(vec![9u8; 1000], Some(&ring), 1, T).unwrap();
    let mut values = skorche_worker::values::Values::default();
    values.push_payload(p.clone());
    let forwarded = values.last().unwrap().to_payload();
    assert_eq!(forwarded, p);
    let back: Vec<u8> = decode_payload(&forwarded, std::slice::from_ref(&ring)).unwrap();
    assert_eq!(back.len(), 1000);
}

#[test]
fn huge_length_prefix_is_refused_without_allocating() {
    // varint marker 253 = u64 follows: a string "of" 2^62 bytes in a 9-byte message.
    let mut bytes = vec![253u8];
    bytes.extend_from_slice(&(1u64 << 62).to_le_bytes());
    assert!(matches!(
        codec::decode::<String>(&bytes),
        Err(DecodeError::Deserialize { .. })
    ));
    assert!(codec::decode::<Vec<String>>(&bytes).is_err());
}

#[test]
fn a_writer_waits_for_room_longer_than_one_poll() {
    let ring = Ring::create_in_process(1 << 16).unwrap();
    let first = encode_payload(vec![1u8; 40_000], Some(&ring), 1, T).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            // Several polls' worth of backpressure before the room comes back.
            std::thread::sleep(codec::RING_POLL * 5);
            codec::release_payload(&first, std::slice::from_ref(&ring)).unwrap();
        });
        let second = encode_payload(vec![2u8; 40_000], Some(&ring), 1, Duration::from_secs(10));
        assert!(matches!(second, Ok(Payload::Shm(_))), "{second:?}");
    });
}

#[test]
fn a_batch_of_values_mixes_inline_and_ring_values_in_order() {
    use skorche_worker::codec::{decode_value, encode_value, OnFull};
    use skorche_worker::values::Values;
    let ring = Ring::create_in_process(1 << 20).unwrap();
    let rings = std::slice::from_ref(&ring);
    let inputs: Vec<Vec<u64>> = (0..50u64).map(|i| vec![i; (i * 7) as usize]).collect();
    let mut values = Values::default();
    let mut in_ring = 0;
    for v in &inputs {
        let mut wait = || OnFull::Wait;
        in_ring +=
            usize::from(encode_value(v.clone(), Some(&ring), 100, &mut wait, &mut values).unwrap());
    }
    assert!(
        in_ring > 0 && in_ring < inputs.len(),
        "{in_ring} of {}",
        inputs.len()
    );
    let back: Vec<Vec<u64>> = values
        .iter()
        .map(|v| decode_value(v, rings).unwrap())
        .collect();
    assert_eq!(back, inputs);
    assert_eq!(
        ring.held_bytes().unwrap(),
        0,
        "every record read was released"
    );
}
