//! Loom model tests of the ring's atomics protocol on a small heap ring; the real protocol code
//! runs with loom's atomics (see `src/sync.rs`).
//!
//! Run with: `RUSTFLAGS="--cfg loom" cargo test -p skorche-shm --release --test loom_ring`
#![cfg(loom)]

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use skorche_shm::{HandleError, ReserveError, Ring};

/// 256 data bytes: two records of 64 payload bytes (128 bytes each) fill the ring.
const CAPACITY: usize = 256;

/// Checks every byte of `payload` is `byte`, twice, with a load of `writes` in between. Loom
/// does not track plain memory and switches threads only at operations on shared sync objects,
/// so the writer bumps `writes` after it writes: loom then explores the writer running between
/// the two checks, which would expose an overwrite of borrowed bytes.
fn assert_stable(payload: &[u8], byte: u8, writes: &AtomicUsize) {
    assert!(
        payload.iter().all(|&b| b == byte),
        "payload changed under a guard"
    );
    writes.load(Ordering::SeqCst);
    assert!(
        payload.iter().all(|&b| b == byte),
        "payload changed under a guard"
    );
}

fn write(ring: &Ring, byte: u8) -> Result<skorche_shm::Handle, ReserveError> {
    let mut r = ring.try_reserve(64)?;
    r.fill(byte);
    Ok(r.commit())
}

#[test]
fn writer_never_reuses_space_a_reader_still_holds() {
    loom::model(|| {
        let ring = Arc::new(Ring::create_in_process(CAPACITY).unwrap());
        let writes = Arc::new(AtomicUsize::new(0));
        let first = write(&ring, 1).unwrap();
        let reader = {
            let ring = ring.clone();
            let writes = writes.clone();
            thread::spawn(move || {
                let guard = ring.read(&first).unwrap();
                assert_stable(&guard, 1, &writes);
                drop(guard);
                ring.release(&first).unwrap();
            })
        };
        let second = write(&ring, 2).unwrap();
        // The third record needs the first one's space: it succeeds only after the release.
        let third = write(&ring, 3);
        writes.fetch_add(1, Ordering::SeqCst);
        match third {
            Ok(third) => {
                assert_eq!(third.offset, first.offset);
                assert!(matches!(ring.read(&first), Err(HandleError::Stale { .. })));
                assert!(ring.read(&third).unwrap().iter().all(|&b| b == 3));
            }
            Err(e) => assert!(matches!(e, ReserveError::Full { .. }), "{e}"),
        }
        reader.join().unwrap();
        assert!(ring.read(&second).unwrap().iter().all(|&b| b == 2));
    });
}

#[test]
fn concurrent_double_release_succeeds_once() {
    loom::model(|| {
        let ring = Arc::new(Ring::create_in_process(CAPACITY).unwrap());
        let h = write(&ring, 7).unwrap();
        let other = {
            let ring = ring.clone();
            thread::spawn(move || ring.release(&h))
        };
        let mine = ring.release(&h);
        let theirs = other.join().unwrap();
        let oks = [&mine, &theirs].iter().filter(|r| r.is_ok()).count();
        assert_eq!(oks, 1, "{mine:?} {theirs:?}");
        assert!([mine, theirs]
            .iter()
            .any(|r| matches!(r, Err(HandleError::DoubleRelease { .. }))));
    });
}

#[test]
fn release_racing_a_read_never_frees_a_pinned_record() {
    loom::model(|| {
        let ring = Arc::new(Ring::create_in_process(CAPACITY).unwrap());
        let writes = Arc::new(AtomicUsize::new(0));
        let h = write(&ring, 9).unwrap();
        // The releaser reuses the space at once if its release succeeds: two more records wrap
        // around onto the first one's bytes.
        let releaser = {
            let ring = ring.clone();
            let writes = writes.clone();
            thread::spawn(move || {
                let released = ring.release(&h);
                if released.is_ok() {
                    write(&ring, 0xEE).unwrap();
                    let _ = write(&ring, 0xFF);
                    writes.fetch_add(1, Ordering::SeqCst);
                }
                released
            })
        };
        let read = ring.read(&h).map(|g| {
            assert_stable(&g, 9, &writes);
        });
        let released = releaser.join().unwrap();
        match (read, released) {
            (Ok(()), Ok(())) => {}                         // read finished before release
            (Ok(()), Err(HandleError::InUse { .. })) => {} // release saw the pin
            (Err(HandleError::Released { .. }), Ok(())) => {} // release came first
            (Err(HandleError::Stale { .. }), Ok(())) => {} // ... and the space was reused
            other => panic!("impossible outcome {other:?}"),
        }
    });
}

#[test]
fn writer_threads_share_one_writer_and_commit_to_a_concurrent_reader() {
    loom::model(|| {
        let ring = Arc::new(Ring::create_in_process(CAPACITY).unwrap());
        let other = {
            let ring = ring.clone();
            thread::spawn(move || write(&ring, 4).unwrap())
        };
        let mine = write(&ring, 5).unwrap();
        let theirs = other.join().unwrap();
        assert_ne!(mine.offset, theirs.offset);
        assert!(ring.read(&mine).unwrap().iter().all(|&b| b == 5));
        assert!(ring.read(&theirs).unwrap().iter().all(|&b| b == 4));
    });
}

#[test]
fn wrap_with_padding_waits_for_out_of_order_releases() {
    loom::model(|| {
        let ring = Arc::new(Ring::create_in_process(CAPACITY).unwrap());
        let a = write(&ring, 1).unwrap(); // offset 0, 128 bytes
        let b = ring.try_reserve(0).unwrap().commit(); // offset 128, 64 bytes
        let releaser = {
            let ring = ring.clone();
            thread::spawn(move || {
                ring.release(&b).unwrap(); // newer first: out of order
                ring.release(&a).unwrap();
            })
        };
        // 64 bytes are left before the end: the next 128-byte record needs padding there and
        // then the space of `a` (and `b` up to 128) at the start of lap 2.
        match write(&ring, 3) {
            Ok(c) => {
                assert_eq!((c.offset, c.generation), (0, 2));
                assert!(ring.read(&c).unwrap().iter().all(|&x| x == 3));
                assert!(matches!(ring.read(&a), Err(HandleError::Stale { .. })));
            }
            Err(e) => assert!(matches!(e, ReserveError::Full { .. }), "{e}"),
        }
        releaser.join().unwrap();
        // Everything but (maybe) the new record is released: the ring has room again.
        assert!(ring.try_reserve(64).is_ok());
    });
}

/// A record taken over with `Ring::hold` (owned, `std::sync::Arc`, as a pipeline's driver
/// keeps outputs) stays intact however the writer and the holds' drops interleave, and the
/// holds' drops, in any order on any thread, give the space back.
#[test]
fn held_records_stay_intact_and_are_released_out_of_order() {
    loom::model(|| {
        let ring = std::sync::Arc::new(Ring::create_in_process(CAPACITY).unwrap());
        let writes = Arc::new(AtomicUsize::new(0));
        let a = write(&ring, 1).unwrap();
        let b = write(&ring, 2).unwrap();
        let (held_a, held_b) = (ring.hold(&a).unwrap(), ring.hold(&b).unwrap());
        assert!(matches!(ring.release(&a), Err(HandleError::InUse { .. })));
        let holder = {
            let writes = writes.clone();
            thread::spawn(move || {
                assert_stable(&held_b, 2, &writes);
                drop(held_b); // the newer first: out of order
                assert_stable(&held_a, 1, &writes);
                drop(held_a);
            })
        };
        // Needs the space of `a`: succeeds only once both holds are gone (reclaim is in order).
        let third = write(&ring, 3);
        writes.fetch_add(1, Ordering::SeqCst);
        holder.join().unwrap();
        if let Ok(c) = third {
            assert_eq!(c.offset, a.offset);
            assert!(ring.read(&c).unwrap().iter().all(|&x| x == 3));
        }
        assert!(matches!(
            ring.read(&a),
            Err(HandleError::Released { .. } | HandleError::Stale { .. })
        ));
        assert_eq!(ring.kept_bytes(), 0);
    });
}

/// Two holds of one record (a hostile worker answering one handle twice) on two threads:
/// the record is released exactly once, by whichever drops last, never under the other.
#[test]
fn two_holds_of_one_record_release_it_once_after_both() {
    loom::model(|| {
        let ring = std::sync::Arc::new(Ring::create_in_process(CAPACITY).unwrap());
        let writes = Arc::new(AtomicUsize::new(0));
        let h = write(&ring, 5).unwrap();
        let first = ring.hold(&h).unwrap();
        let second = ring.hold(&h).unwrap();
        let other = {
            let writes = writes.clone();
            thread::spawn(move || {
                assert_stable(&second, 5, &writes);
                drop(second);
            })
        };
        assert_stable(&first, 5, &writes);
        drop(first);
        other.join().unwrap();
        assert!(matches!(
            ring.release(&h),
            Err(HandleError::DoubleRelease { .. })
        ));
        // Both 128-byte records fit again: the held one was reclaimed.
        let _ = write(&ring, 6).unwrap();
        writes.fetch_add(1, Ordering::SeqCst);
        let _ = write(&ring, 7).unwrap();
    });
}
