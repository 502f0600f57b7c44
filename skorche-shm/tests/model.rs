//! Property test: random reserve/commit/abandon/read/release/hold sequences against a simple
//! model of the ring's space accounting.
#![cfg(not(loom))]

use std::collections::VecDeque;
use std::sync::Arc;

use proptest::prelude::*;
use skorche_shm::{Handle, HandleError, ReserveError, Ring};

const CAPACITY: usize = 2048;
const HEADER: u64 = 64;

fn record_size(len: usize) -> u64 {
    HEADER + (len as u64).div_ceil(64) * 64
}

#[derive(Clone, Debug)]
enum Op {
    /// Reserve `len`, fill, commit.
    Write(usize),
    /// Reserve `len` and drop the reservation uncommitted.
    Abandon(usize),
    /// Read the n-th known handle (modulo the count).
    Read(usize),
    /// Release the n-th known handle (modulo the count).
    Release(usize),
    /// Take over the n-th known handle as a `HeldRecord` (several holds of one record may
    /// coexist).
    Hold(usize),
    /// Drop the n-th live hold (modulo the count): the last hold of a record releases it.
    DropHold(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..700).prop_map(Op::Write),
        1 => (0usize..700).prop_map(Op::Abandon),
        3 => any::<usize>().prop_map(Op::Read),
        4 => any::<usize>().prop_map(Op::Release),
        3 => any::<usize>().prop_map(Op::Hold),
        3 => any::<usize>().prop_map(Op::DropHold),
    ]
}

#[derive(Debug, PartialEq)]
enum Slot {
    Live,
    Freed,
}

/// The model: absolute head/tail and the records in between, oldest first.
struct Model {
    cap: u64,
    head: u64,
    tail: u64,
    records: VecDeque<(u64, u64, Slot)>,
}

impl Model {
    fn reclaim(&mut self) {
        while let Some((_, size, Slot::Freed)) = self.records.front() {
            self.tail += size;
            self.records.pop_front();
        }
    }

    /// Where a record of `len` bytes goes, or `None` if the ring is full.
    fn reserve(&mut self, len: usize) -> Option<u64> {
        let size = record_size(len);
        self.reclaim();
        loop {
            let free = self.cap - (self.head - self.tail);
            let pos = self.head % self.cap;
            // Early wrap of a large record (see `place` in ring.rs).
            let used = self.head - self.tail;
            let early = size >= self.cap / 16
                && pos >= self.cap / 4
                && used + size <= self.cap / 4
                && pos + size <= self.cap;
            if pos + size > self.cap || early {
                let pad = self.cap - pos;
                if pad > free {
                    return None;
                }
                self.records.push_back((self.head, pad, Slot::Freed));
                self.head += pad;
                self.reclaim();
                continue;
            }
            if size > free {
                return None;
            }
            let at = self.head;
            self.records.push_back((at, size, Slot::Live));
            self.head += size;
            return Some(at);
        }
    }

    fn free(&mut self, abs: u64) {
        let r = self.records.iter_mut().find(|r| r.0 == abs).expect("known");
        r.2 = Slot::Freed;
    }
}

struct Known {
    handle: Handle,
    seed: u8,
    released: bool,
}

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| seed.wrapping_add(i as u8)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn ring_matches_model(ops in prop::collection::vec(op(), 1..200)) {
        let sut = Arc::new(Ring::create_in_process(CAPACITY).unwrap());
        // Live holds: (index into `known`, the hold).
        let mut holds: Vec<(usize, skorche_shm::HeldRecord)> = Vec::new();
        let mut model = Model { cap: CAPACITY as u64, head: 0, tail: 0, records: VecDeque::new() };
        let mut known: Vec<Known> = Vec::new();
        for (step, op) in ops.into_iter().enumerate() {
            match op {
                Op::Write(len) | Op::Abandon(len) => {
                    let expected = model.reserve(len);
                    match (sut.try_reserve(len), expected) {
                        (Ok(mut r), Some(abs)) => {
                            let h = r.handle();
                            prop_assert_eq!(h.offset, abs % model.cap);
                            prop_assert_eq!(h.generation, abs / model.cap + 1);
                            prop_assert_eq!(h.len, len as u64);
                            if matches!(op, Op::Write(_)) {
                                let seed = step as u8;
                                r.copy_from_slice(&pattern(seed, len));
                                prop_assert_eq!(r.commit(), h);
                                known.push(Known { handle: h, seed, released: false });
                            } else {
                                drop(r);
                                model.free(abs);
                            }
                        }
                        (Err(ReserveError::Full { .. }), None) => {}
                        (got, want) => prop_assert!(false, "step {}: ring {:?}, model {:?}", step, got.map(|r| r.handle()), want),
                    }
                }
                Op::Read(n) if !known.is_empty() => {
                    let k = &known[n % known.len()];
                    match sut.read(&k.handle) {
                        Ok(g) => {
                            prop_assert!(!k.released, "read of a released record succeeded");
                            prop_assert_eq!(&*g, &pattern(k.seed, k.handle.len as usize)[..]);
                        }
                        Err(HandleError::Released { .. } | HandleError::Stale { .. }) => {
                            prop_assert!(k.released);
                        }
                        Err(e) => prop_assert!(false, "unexpected read error: {}", e),
                    }
                }
                Op::Release(n) if !known.is_empty() => {
                    let i = n % known.len();
                    let h = known[i].handle;
                    match sut.release(&h) {
                        Ok(()) => {
                            prop_assert!(!known[i].released);
                            known[i].released = true;
                            model.free((h.generation - 1) * model.cap + h.offset);
                        }
                        Err(HandleError::DoubleRelease { .. }) => prop_assert!(known[i].released),
                        Err(HandleError::InUse { .. }) => {
                            prop_assert!(holds.iter().any(|(k, _)| *k == i), "in use without a hold");
                        }
                        Err(e) => prop_assert!(false, "unexpected release error: {}", e),
                    }
                }
                Op::Hold(n) if !known.is_empty() => {
                    let i = n % known.len();
                    match sut.hold(&known[i].handle) {
                        Ok(held) => {
                            prop_assert!(!known[i].released, "hold of a released record succeeded");
                            prop_assert_eq!(&*held, &pattern(known[i].seed, known[i].handle.len as usize)[..]);
                            holds.push((i, held));
                        }
                        Err(HandleError::Released { .. } | HandleError::Stale { .. }) => {
                            prop_assert!(known[i].released);
                        }
                        Err(e) => prop_assert!(false, "unexpected hold error: {}", e),
                    }
                }
                Op::DropHold(n) if !holds.is_empty() => {
                    let (i, held) = holds.swap_remove(n % holds.len());
                    // Still the record's bytes, however long it was held and whatever was
                    // written meanwhile.
                    prop_assert_eq!(&*held, &pattern(known[i].seed, known[i].handle.len as usize)[..]);
                    drop(held);
                    if !holds.iter().any(|(k, _)| *k == i) {
                        let h = known[i].handle;
                        known[i].released = true;
                        model.free((h.generation - 1) * model.cap + h.offset);
                    }
                }
                Op::Read(_) | Op::Release(_) | Op::Hold(_) | Op::DropHold(_) => {}
            }
            prop_assert!(sut.used() <= CAPACITY);
            let kept: u64 = holds.iter().map(|(i, _)| record_size(known[*i].handle.len as usize)).sum();
            prop_assert_eq!(sut.kept_bytes() as u64, kept);
        }
    }
}

/// `ShmBytes` clones share one hold: the record is released when the last one drops, and
/// `into_record` gives the hold back only to a sole owner.
#[test]
fn shm_bytes_clones_share_one_record() {
    let ring = Arc::new(Ring::create_in_process(CAPACITY).unwrap());
    let h = ring.write(&[5u8; 100], std::time::Duration::ZERO).unwrap();
    let a = skorche_shm::ShmBytes::from(ring.hold(&h).unwrap());
    let b = a.clone();
    assert_eq!(ring.kept_bytes(), 192, "one hold for both");
    let a = a.into_record().expect_err("shared with a clone");
    drop(b);
    let record = a.into_record().expect("sole owner now");
    assert_eq!(record.handle(), h);
    assert!(format!("{record:?}").contains("len: 100"));
    drop(record);
    assert_eq!((ring.held_bytes(), ring.kept_bytes()), (Some(0), 0));
}
