//! Bad input: forged, stale, truncated, out-of-bounds and misaligned handles, double release,
//! oversize payloads, and segments that are not rings.
#![cfg(not(loom))]

use std::time::Duration;

use skorche_shm::{
    BackingDescriptor, Handle, HandleError, OpenError, ReserveError, Ring, RingDescriptor, RingId,
};

const T: Duration = Duration::from_secs(5);

#[test]
fn read_returns_written_bytes_without_copy() {
    let sut = Ring::create(4096).unwrap();
    let h = sut.write(b"hello", T).unwrap();
    assert_eq!(h.ring, sut.id());
    assert_eq!(&*sut.read(&h).unwrap(), b"hello");
    let again = sut.read(&h).unwrap();
    assert_eq!(
        again.as_ptr(),
        sut.read(&h).unwrap().as_ptr(),
        "same bytes, not a copy"
    );
    drop(again);
    sut.release(&h).unwrap();
}

#[test]
fn handle_for_another_ring_is_rejected() {
    let a = Ring::create(4096).unwrap();
    let b = Ring::create(4096).unwrap();
    let h = a.write(b"x", T).unwrap();
    let err = b.read(&h).unwrap_err();
    assert!(matches!(err, HandleError::WrongRing { .. }), "{err}");
    assert!(err.to_string().starts_with("handle for ring 0x"), "{err}");
    assert!(matches!(b.release(&h), Err(HandleError::WrongRing { .. })));
}

#[test]
fn forged_handles_are_rejected() {
    let sut = Ring::create(4096).unwrap();
    let h = sut.write(&[7u8; 100], T).unwrap();
    let never = Handle {
        generation: h.generation + 1,
        ..h
    };
    assert!(matches!(
        sut.read(&never),
        Err(HandleError::NeverWritten { .. })
    ));
    let zero = Handle { generation: 0, ..h };
    assert!(matches!(
        sut.read(&zero),
        Err(HandleError::NeverWritten { .. })
    ));
    let huge = Handle {
        generation: u64::MAX,
        ..h
    };
    assert!(matches!(
        sut.read(&huge),
        Err(HandleError::NeverWritten { .. })
    ));
    let misaligned = Handle { offset: 8, ..h };
    assert!(matches!(
        sut.read(&misaligned),
        Err(HandleError::Misaligned { offset: 8, .. })
    ));
    // Aligned, but in the middle of the payload of a live record: not a record header.
    let h2 = sut.write(&[0u8; 1000], T).unwrap();
    let inside = Handle {
        offset: h2.offset + 128,
        len: 10,
        ..h2
    };
    assert!(matches!(
        sut.read(&inside),
        Err(HandleError::NotARecord { .. })
    ));
    assert!(matches!(
        sut.release(&inside),
        Err(HandleError::NotARecord { .. })
    ));
    // The real records are untouched.
    assert_eq!(&*sut.read(&h).unwrap(), &[7u8; 100][..]);
}

#[test]
fn out_of_bounds_handles_are_rejected() {
    let sut = Ring::create(4096).unwrap();
    let h = sut.write(b"abc", T).unwrap();
    for bad in [
        Handle { offset: 4096, ..h },
        Handle {
            offset: u64::MAX - 63,
            ..h
        },
        Handle { len: 4096, ..h },
        Handle {
            offset: 4096 - 64,
            len: 1,
            ..h
        },
        Handle { len: u64::MAX, ..h },
    ] {
        let err = sut.read(&bad).unwrap_err();
        assert!(
            matches!(err, HandleError::OutOfBounds { .. }),
            "{bad:?}: {err}"
        );
        assert!(matches!(
            sut.release(&bad),
            Err(HandleError::OutOfBounds { .. })
        ));
    }
}

#[test]
fn truncated_handle_is_rejected() {
    let sut = Ring::create(4096).unwrap();
    let h = sut.write(&[1u8; 300], T).unwrap();
    let truncated = Handle { len: 200, ..h };
    let err = sut.read(&truncated).unwrap_err();
    assert_eq!(
        err,
        HandleError::LengthMismatch {
            offset: h.offset,
            len: 200,
            record_len: 300
        }
    );
    assert!(sut.release(&truncated).is_err());
    sut.release(&h).unwrap();
}

#[test]
fn truncated_serialized_handle_does_not_parse() {
    let sut = Ring::create(4096).unwrap();
    let h = sut.write(b"abc", T).unwrap();
    let json = serde_json::to_string(&h).unwrap();
    assert!(json.len() < 100, "a handle is a few dozen bytes: {json}");
    assert_eq!(serde_json::from_str::<Handle>(&json).unwrap(), h);
    assert!(serde_json::from_str::<Handle>(&json[..json.len() - 5]).is_err());
}

#[test]
fn stale_handle_is_rejected_after_space_is_reused() {
    let sut = Ring::create(1024).unwrap();
    let first = sut.write(&[1u8; 400], T).unwrap();
    sut.release(&first).unwrap();
    // Fill the ring until the first record's space is reclaimed and rewritten.
    let mut live = Vec::new();
    for i in 0..4u8 {
        let h = sut.write(&[i; 400], T).unwrap();
        live.push(h);
        sut.release(&live.remove(0)).unwrap();
    }
    let err = sut.read(&first).unwrap_err();
    assert!(matches!(err, HandleError::Stale { .. }), "{err}");
    assert!(err
        .to_string()
        .starts_with("stale handle at offset 0: generation 1, record has"));
}

#[test]
fn double_release_is_an_error() {
    let sut = Ring::create(4096).unwrap();
    let h = sut.write(b"once", T).unwrap();
    sut.release(&h).unwrap();
    assert!(matches!(
        sut.release(&h),
        Err(HandleError::DoubleRelease { .. })
    ));
    assert!(matches!(sut.read(&h), Err(HandleError::Released { .. })));
    // Still an error after the writer reclaimed the space.
    let _ = sut.write(b"next", T).unwrap();
    assert!(matches!(
        sut.release(&h),
        Err(HandleError::DoubleRelease { .. })
    ));
}

#[test]
fn release_while_read_is_refused() {
    let sut = Ring::create(4096).unwrap();
    let h = sut.write(b"pinned", T).unwrap();
    let guard = sut.read(&h).unwrap();
    assert!(matches!(
        sut.release(&h),
        Err(HandleError::InUse { readers: 1, .. })
    ));
    drop(guard);
    sut.release(&h).unwrap();
}

#[test]
fn uncommitted_reservation_is_not_readable_and_frees_its_space() {
    let sut = Ring::create(1024).unwrap();
    let r = sut.try_reserve(900).unwrap();
    let h = r.handle();
    assert!(matches!(
        sut.read(&h),
        Err(HandleError::NotCommitted { .. })
    ));
    assert!(matches!(
        sut.try_reserve(10),
        Err(ReserveError::Full { .. })
    ));
    drop(r);
    assert!(matches!(sut.read(&h), Err(HandleError::NotARecord { .. })));
    let h2 = sut.write(&[3u8; 900], T).unwrap();
    assert_eq!(sut.read(&h2).unwrap().len(), 900);
}

#[test]
fn oversize_payload_fails_at_once() {
    let sut = Ring::create(4096).unwrap();
    assert_eq!(sut.max_payload(), 4096 - 64);
    let start = std::time::Instant::now();
    let err = sut.reserve(4097, Duration::from_secs(30)).unwrap_err();
    assert!(
        matches!(
            err,
            ReserveError::TooLarge {
                requested: 4097,
                ..
            }
        ),
        "{err}"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(sut.try_reserve(sut.max_payload()).is_ok());
}

#[test]
fn full_ring_try_reserve_fails_and_reserve_times_out() {
    let sut = Ring::create(1024).unwrap();
    let h = sut.write(&[0u8; 800], T).unwrap();
    assert!(matches!(
        sut.try_reserve(500),
        Err(ReserveError::Full { .. })
    ));
    let err = sut.reserve(500, Duration::from_millis(50)).unwrap_err();
    assert!(matches!(err, ReserveError::Timeout { .. }), "{err}");
    // Nothing was overwritten.
    assert_eq!(&*sut.read(&h).unwrap(), &[0u8; 800][..]);
    sut.release(&h).unwrap();
    assert!(sut.try_reserve(500).is_ok());
}

#[test]
fn second_writer_is_refused() {
    let sut = Ring::create(4096).unwrap();
    let peer = Ring::open(&sut.descriptor()).unwrap();
    sut.write(b"a", T).unwrap();
    assert!(matches!(
        peer.try_reserve(1),
        Err(ReserveError::WriterBusy { .. })
    ));
    drop(sut);
    // The owner's writer claim ended with it; the peer may write now.
    peer.write(b"b", T).unwrap();
}

#[test]
fn invalid_capacity_is_rejected() {
    assert!(Ring::create(0).is_err());
    assert!(Ring::create(64).is_err());
    assert_eq!(Ring::create(129).unwrap().capacity(), 192);
}

fn raw_named_segment(tag: &str, bytes: &[u8]) -> String {
    use nix::fcntl::OFlag;
    use nix::sys::stat::Mode;
    let name = format!("/skorche-test-{tag}-{}", std::process::id());
    let fd = nix::sys::mman::shm_open(
        name.as_str(),
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_RDWR,
        Mode::S_IRUSR | Mode::S_IWUSR,
    )
    .unwrap();
    let mut f = std::fs::File::from(fd);
    std::io::Write::write_all(&mut f, bytes).unwrap();
    name
}

#[test]
fn opening_a_segment_with_bad_magic_fails() {
    let name = raw_named_segment("magic", &[0xAB; 4096 + 256]);
    let desc = RingDescriptor {
        ring: RingId(1),
        capacity: 4096,
        backing: BackingDescriptor::Named { name: name.clone() },
    };
    let err = Ring::open(&desc).unwrap_err();
    nix::sys::mman::shm_unlink(name.as_str()).unwrap();
    assert!(matches!(err, OpenError::BadMagic { .. }), "{err}");
}

#[test]
fn opening_a_tiny_segment_fails() {
    let name = raw_named_segment("tiny", b"SKORSHM\0");
    let desc = RingDescriptor {
        ring: RingId(1),
        capacity: 4096,
        backing: BackingDescriptor::Named { name: name.clone() },
    };
    let err = Ring::open(&desc).unwrap_err();
    nix::sys::mman::shm_unlink(name.as_str()).unwrap();
    assert!(matches!(err, OpenError::TooSmall { .. }), "{err}");
}

#[test]
fn opening_a_segment_with_another_version_fails() {
    let sut = Ring::create_named(4096).unwrap();
    let desc = sut.descriptor();
    let BackingDescriptor::Named { name } = &desc.backing else {
        unreachable!()
    };
    let path = format!("/dev/shm{name}");
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    std::os::unix::fs::FileExt::write_at(&f, &99u64.to_le_bytes(), 8).unwrap();
    let err = Ring::open(&desc).unwrap_err();
    assert!(
        matches!(err, OpenError::VersionMismatch { found: 99, .. }),
        "{err}"
    );
}

#[test]
fn opening_with_wrong_descriptor_fails() {
    let sut = Ring::create(4096).unwrap();
    let mut desc = sut.descriptor();
    desc.ring = RingId(desc.ring.0 ^ 1);
    assert!(matches!(
        Ring::open(&desc),
        Err(OpenError::WrongRing { .. })
    ));
    let mut desc = sut.descriptor();
    desc.capacity = 8192;
    assert!(matches!(
        Ring::open(&desc),
        Err(OpenError::BadHeader { .. })
    ));
    let in_process = Ring::create_in_process(4096).unwrap();
    assert!(matches!(
        Ring::open(&in_process.descriptor()),
        Err(OpenError::NotShareable { .. })
    ));
}

#[test]
fn unsealed_memfd_is_refused() {
    use nix::sys::memfd::{memfd_create, MFdFlags};
    use std::os::fd::AsRawFd;
    let fd = memfd_create(c"not-a-ring", MFdFlags::MFD_CLOEXEC).unwrap();
    nix::unistd::ftruncate(&fd, 8192).unwrap();
    let desc = RingDescriptor {
        ring: RingId(1),
        capacity: 4096,
        backing: BackingDescriptor::Memfd {
            pid: std::process::id(),
            fd: fd.as_raw_fd(),
        },
    };
    assert!(matches!(
        Ring::open(&desc),
        Err(OpenError::NotSealed { .. })
    ));
}

#[test]
fn ring_and_its_borrows_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Ring>();
    send::<skorche_shm::Reservation<'static>>();
    send::<skorche_shm::ReadGuard<'static>>();
    // Several writer threads of one process share the ring's single writer.
    let sut = std::sync::Arc::new(Ring::create(1 << 20).unwrap());
    let handles: Vec<Handle> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4u8)
            .map(|i| {
                let sut = &sut;
                s.spawn(move || {
                    (0..50)
                        .map(|_| sut.write(&[i; 100], T).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    assert_eq!(handles.len(), 200);
    for h in &handles {
        let g = sut.read(h).unwrap();
        assert!(g.iter().all(|&b| b == g[0]));
        drop(g);
        sut.release(h).unwrap();
    }
}
