//! The one place this crate names `skorche-shm` types.
//!
//! TEMPORARY STAND-IN: `skorche-shm` is being written at the same time as this crate. Until it
//! lands, this module mirrors the agreed API names with an implementation that can create no
//! ring (every operation fails with a typed error), so the inline path is fully usable and the
//! shm path compiles. Switching to the real crate is replacing this file by
//! `pub use skorche_shm::{...};`.
#![allow(missing_docs, dead_code)]

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Identifies a ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RingId(pub u64);

/// What a peer needs to attach a ring.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RingDescriptor {
    pub id: RingId,
    pub capacity: u64,
}

/// A record in a ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handle {
    pub ring: RingId,
    pub offset: u64,
    pub len: u64,
    pub generation: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("ring unavailable (skorche-shm stand-in)")]
pub struct ReserveError;
#[derive(Debug, thiserror::Error)]
#[error("bad handle (skorche-shm stand-in)")]
pub struct HandleError;
#[derive(Debug, thiserror::Error)]
#[error("cannot open ring (skorche-shm stand-in)")]
pub struct OpenError;

#[derive(Debug)]
pub struct Ring {
    desc: RingDescriptor,
}

#[derive(Debug)]
pub struct Reservation<'a> {
    buf: &'a mut [u8],
}
impl std::ops::Deref for Reservation<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.buf
    }
}
impl std::ops::DerefMut for Reservation<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.buf
    }
}
impl Reservation<'_> {
    pub fn commit(self) -> Handle {
        unreachable!("stand-in ring never reserves")
    }
}

#[derive(Debug)]
pub struct ReadGuard<'a> {
    buf: &'a [u8],
}
impl std::ops::Deref for ReadGuard<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.buf
    }
}

impl Ring {
    pub fn open(_desc: &RingDescriptor) -> Result<Ring, OpenError> {
        Err(OpenError)
    }
    pub fn descriptor(&self) -> RingDescriptor {
        self.desc.clone()
    }
    pub fn id(&self) -> RingId {
        self.desc.id
    }
    pub fn capacity(&self) -> u64 {
        self.desc.capacity
    }
    pub fn reserve(
        &self,
        _len: usize,
        _timeout: Duration,
    ) -> Result<Reservation<'_>, ReserveError> {
        Err(ReserveError)
    }
    pub fn read(&self, _h: &Handle) -> Result<ReadGuard<'_>, HandleError> {
        Err(HandleError)
    }
    pub fn release(&self, _h: &Handle) -> Result<(), HandleError> {
        Err(HandleError)
    }
}
