//! `Ring::held_bytes` counts records not yet released, unlike `used`, which also counts
//! records released but not yet reclaimed by the writer.

use std::time::Duration;

use skorche_shm::{Ring, RECORD_ALIGN};

#[test]
fn held_bytes_counts_only_unreleased_records() {
    let ring = Ring::create(1 << 20).unwrap();
    let a = ring.write(&[1u8; 1000], Duration::ZERO).unwrap();
    let b = ring.write(&[2u8; 3000], Duration::ZERO).unwrap();
    let size = |len: usize| (len + 64).next_multiple_of(RECORD_ALIGN);
    assert_eq!(ring.held_bytes(), Some(size(1000) + size(3000)));
    ring.release(&b).unwrap();
    assert_eq!(ring.held_bytes(), Some(size(1000)));
    ring.release(&a).unwrap();
    assert_eq!(ring.held_bytes(), Some(0));
    assert!(
        ring.used() > 0,
        "released records wait for the writer to reclaim them"
    );
}
