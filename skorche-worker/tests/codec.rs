//! Codec round-trips, the `Vec<u8>` bypass, ring payloads and hostile input.

use proptest::prelude::*;
use skorche_worker::codec::{self, decode_payload, encode_payload};
use skorche_worker::error::DecodeError;
use skorche_worker::protocol::Payload;
use skorche_worker::rings::{Handle, Ring};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

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

/// postcard's varint (LEB128) of `n`.
fn varint(mut n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out
}

#[test]
fn varint_helper_matches_the_codec() {
    for n in [0u64, 1, 127, 128, 300, 1 << 40, u64::MAX] {
        assert_eq!(codec::encode(&n).unwrap(), varint(n), "{n}");
    }
}

#[test]
fn huge_length_prefix_is_refused_without_allocating() {
    // A string "of" 2^62 bytes in an 11-byte message.
    let mut bytes = varint(1 << 62);
    bytes.extend_from_slice(b"ab");
    let (result, largest) = largest_allocation_during(|| codec::decode::<String>(&bytes));
    assert!(
        matches!(result, Err(DecodeError::Deserialize { .. })),
        "{result:?}"
    );
    assert!(largest < 1024, "allocated {largest} bytes");
    assert!(codec::decode::<Vec<String>>(&bytes).is_err());
    // Same for a byte string (the form of a batch's inline values inside messages).
    let (result, largest) =
        largest_allocation_during(|| codec::decode::<skorche_worker::values::Values>(&bytes));
    assert!(result.is_err(), "{result:?}");
    assert!(largest < 1024, "allocated {largest} bytes");
}

#[test]
fn a_forged_vec_length_fails_fast_without_a_huge_allocation() {
    // 10 bytes claiming a Vec<u64> of 2^40 elements (8 TiB): 6 bytes of length, 4 of data.
    let mut bytes = varint(1 << 40);
    bytes.extend_from_slice(&[1, 2, 3, 4]);
    assert_eq!(bytes.len(), 10);
    let start = Instant::now();
    let (result, largest) = largest_allocation_during(|| codec::decode::<Vec<u64>>(&bytes));
    let took = start.elapsed();
    assert!(
        matches!(result, Err(DecodeError::Deserialize { .. })),
        "{result:?}"
    );
    // serde's cautious size hint would cap a preallocation at 1 MiB; postcard gives none at
    // all when the length exceeds the bytes left. Either way, nothing near 8 TiB.
    assert!(largest <= 1 << 20, "allocated {largest} bytes");
    assert!(took < Duration::from_secs(1), "took {took:?}");
    // The probe does see a large allocation on this thread.
    let (_, seen) = largest_allocation_during(|| std::hint::black_box(vec![0u64; 1 << 20]));
    assert!(seen >= 8 << 20, "probe saw {seen} bytes");
    // Nested collections are refused the same way.
    assert!(codec::decode::<Vec<Vec<u64>>>(&bytes).is_err());
    // A map gets its claimed length as a size hint, which serde caps at 1 MiB of entries
    // (65,536 `(u64, u64)`); the hash table's own overhead makes that about 2.2 MiB.
    let (result, largest) =
        largest_allocation_during(|| codec::decode::<std::collections::HashMap<u64, u64>>(&bytes));
    assert!(result.is_err());
    assert!(largest <= 4 << 20, "allocated {largest} bytes");
}

#[test]
fn decode_prefix_reads_values_one_after_another() {
    let mut buf = Vec::new();
    let values: Vec<(u64, String, Vec<u32>)> = (0..100u64)
        .map(|i| {
            (
                i << (i % 64),
                format!("item {i}"),
                (0..i as u32 % 7).collect(),
            )
        })
        .collect();
    for v in &values {
        codec::encode_into(v, &mut buf).unwrap();
    }
    let mut rest = &buf[..];
    for v in &values {
        let (got, r) = codec::decode_prefix::<(u64, String, Vec<u32>)>(rest).unwrap();
        assert_eq!(&got, v);
        rest = r;
    }
    assert!(rest.is_empty());
    // Truncated input is an error, not a short value.
    let one = codec::encode(&values[5]).unwrap();
    assert!(matches!(
        codec::decode_prefix::<(u64, String, Vec<u32>)>(&one[..one.len() - 1]),
        Err(DecodeError::Deserialize { .. })
    ));
    // `decode` of the same buffer refuses what `decode_prefix` hands back.
    assert!(matches!(
        codec::decode::<(u64, String, Vec<u32>)>(&buf),
        Err(DecodeError::TrailingBytes { .. })
    ));
}

#[test]
fn encode_into_appends_the_bytes_of_encode() {
    let mut buf = b"head".to_vec();
    let v = ("text".to_string(), vec![1u32, 300, 70_000]);
    codec::encode_into(&v, &mut buf).unwrap();
    assert_eq!(&buf[..4], b"head");
    assert_eq!(buf[4..], codec::encode(&v).unwrap()[..]);
}

#[test]
fn encoded_len_counts_without_allocating() {
    let v = (
        "a string of some length".to_string(),
        (0..1000u32).collect::<Vec<_>>(),
    );
    let before = allocations();
    let len = codec::encoded_len(&v).unwrap();
    let count = allocations() - before;
    assert_eq!(len, codec::encode(&v).unwrap().len());
    assert_eq!(count, 0, "encoded_len allocated");
}

// ---------------------------------------------------------------- allocation probe
//
// Tests run on several threads at once, so the probe counts only the current thread's
// allocations.

struct Probe;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    // `try_with`: the allocator also runs while a thread's locals are torn down.
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
    let _ = COUNT.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every call is forwarded to `System` unchanged; only sizes are noted on the side.
unsafe impl GlobalAlloc for Probe {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: the caller's contract for `realloc` is passed on as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc` is passed on as is.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static PROBE: Probe = Probe;

/// Runs `f` and returns its result with the largest single allocation it made on this thread.
fn largest_allocation_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
    LARGEST.with(|l| l.set(0));
    let r = f();
    (r, LARGEST.with(Cell::get))
}

/// Allocations made so far on this thread.
fn allocations() -> usize {
    COUNT.with(Cell::get)
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
