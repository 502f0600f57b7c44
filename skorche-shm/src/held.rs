//! Records held past one read: a consumer that keeps a ring record's bytes as a value, for as
//! long as it likes, and gives the space back by dropping it.

use std::fmt;
use std::sync::Arc;

use crate::error::HandleError;
use crate::layout::{record_size, HEADER_SIZE};
use crate::ring::{Handle, Ring};

/// A committed record taken over by its consumer: its payload, pinned in place, owned.
///
/// Made by [`Ring::hold`]. Like a [`ReadGuard`](crate::ReadGuard) it pins the record (the
/// writer cannot reuse the space, and [`Ring::release`] fails with [`HandleError::InUse`]),
/// but it owns an `Arc` of the ring instead of borrowing it, so it may outlive every other
/// user of the ring, be sent to another thread and be dropped in any order. Dropping it
/// releases the record (the last of several holds of one record releases it).
///
/// Holding a record for a long time is backpressure, never an error: the writer waits for
/// the space (see [`Ring::reserve`]). The mapping stays valid while any hold lives, even if the
/// process that wrote the record has died, since the segment is only unmapped with the last
/// `Ring` value of this process.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use skorche_shm::Ring;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let ring = Arc::new(Ring::create(4096)?);
/// let handle = ring.write(b"kept", Duration::ZERO)?;
/// let held = ring.hold(&handle)?;
/// drop(ring); // the hold keeps the ring mapped
/// assert_eq!(&*held, b"kept");
/// let ring = held.ring().clone();
/// drop(held); // released here
/// assert_eq!(ring.held_bytes(), Some(0));
/// # Ok(())
/// # }
/// ```
pub struct HeldRecord {
    ring: Arc<Ring>,
    rec: usize,
    len: usize,
    generation: u64,
    /// Whether dropping releases the record (`false` once handed over by `into_handle`).
    release: bool,
}

impl Ring {
    /// Takes over the committed record `handle` names: pins it in place and returns an owned
    /// view that releases it when dropped. The caller must be the record's consumer (the one
    /// that would otherwise [`release`](Ring::release) it).
    ///
    /// # Errors
    /// As [`Ring::read`]: a stale, forged, released or foreign handle.
    pub fn hold(self: &Arc<Self>, handle: &Handle) -> Result<HeldRecord, HandleError> {
        let rec = self.pin(handle)?;
        self.count_kept(record_size(handle.len as usize), true);
        Ok(HeldRecord {
            ring: Arc::clone(self),
            rec,
            len: handle.len as usize,
            generation: handle.generation,
            release: true,
        })
    }
}

impl HeldRecord {
    /// The ring the record lives in.
    pub fn ring(&self) -> &Arc<Ring> {
        &self.ring
    }

    /// The record's handle.
    pub fn handle(&self) -> Handle {
        Handle {
            ring: self.ring.id(),
            offset: (self.rec - HEADER_SIZE) as u64,
            len: self.len as u64,
            generation: self.generation,
        }
    }

    /// Gives up the hold without releasing the record: whoever gets the returned handle
    /// consumes the record and releases it (for example a process that reads it next).
    pub fn into_handle(mut self) -> Handle {
        self.release = false;
        self.handle()
    }
}

impl std::ops::Deref for HeldRecord {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `pin` checked the handle against our own validated capacity (the slice is
        // inside the segment) and holds a reader on the COMMITTED record: the writer does not
        // reuse these bytes and `release` fails until we drop. The `Arc` keeps the mapping
        // alive as long as `self`. (A peer that ignores the protocol could still write them;
        // see the crate docs, "Trust".)
        unsafe { std::slice::from_raw_parts(self.ring.payload_ptr(self.rec, self.len), self.len) }
    }
}

impl AsRef<[u8]> for HeldRecord {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl fmt::Debug for HeldRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeldRecord")
            .field("ring", &self.ring.id())
            .field("offset", &(self.rec - HEADER_SIZE))
            .field("len", &self.len)
            .field("generation", &self.generation)
            .finish()
    }
}

impl Drop for HeldRecord {
    fn drop(&mut self) {
        // Released before it leaves the kept count, so a leak check that scans meanwhile
        // never counts it as held and not kept.
        if !self.ring.unpin(self.rec, self.generation, self.release) && self.release {
            tracing::debug!(ring = %self.ring.id(), offset = self.rec - HEADER_SIZE,
                "record still read elsewhere: not released by this hold");
        }
        self.ring.count_kept(record_size(self.len), false);
    }
}
