//! Error types, one per operation.
//!
//! Every variant names what went wrong and where (ring id, offset, generation), so a log line is
//! enough to find the culprit.

use std::time::Duration;

use crate::RingId;

/// Why [`Ring::create`](crate::Ring::create) (or one of its siblings) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CreateError {
    /// The capacity is zero, too small for one record, or too large to map.
    #[error("invalid ring capacity {requested}: must be between {min} and {max} bytes")]
    InvalidCapacity {
        /// The capacity asked for.
        requested: usize,
        /// The smallest capacity accepted.
        min: usize,
        /// The largest capacity accepted.
        max: usize,
    },
    /// A system call failed while creating the segment.
    #[error("cannot create ring segment: {op} failed")]
    Os {
        /// The operation that failed (`memfd_create`, `shm_open`, `ftruncate`, `mmap`, ...).
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Why [`Ring::open`](crate::Ring::open) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The descriptor names a process-local ring, which no other process can open.
    #[error("ring {ring} is process-local and cannot be opened from a descriptor")]
    NotShareable {
        /// The ring's id.
        ring: RingId,
    },
    /// A system call failed while opening or mapping the segment.
    #[error("cannot open ring segment {path}: {op} failed")]
    Os {
        /// The operation that failed.
        op: &'static str,
        /// The path or name of the segment.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The segment is smaller than a ring header.
    #[error("segment {path} is not a ring: {size} bytes is smaller than the {header}-byte header")]
    TooSmall {
        /// The path or name of the segment.
        path: String,
        /// Its size in bytes.
        size: u64,
        /// The size of a ring header.
        header: u64,
    },
    /// The segment does not start with the ring magic number.
    #[error("segment {path} is not a ring: bad magic 0x{found:016x}")]
    BadMagic {
        /// The path or name of the segment.
        path: String,
        /// The first eight bytes found.
        found: u64,
    },
    /// The segment was written by an incompatible version of this crate.
    #[error("segment {path} has ring layout version {found}, this build reads version {expected}")]
    VersionMismatch {
        /// The path or name of the segment.
        path: String,
        /// The version in the segment.
        found: u64,
        /// The version this build understands.
        expected: u64,
    },
    /// The header's capacity disagrees with the segment size or the descriptor.
    #[error("segment {path} has an inconsistent header: {reason}")]
    BadHeader {
        /// The path or name of the segment.
        path: String,
        /// What is inconsistent.
        reason: String,
    },
    /// The segment holds a different ring than the descriptor names.
    #[error("segment {path} holds ring {found}, the descriptor names ring {expected}")]
    WrongRing {
        /// The path or name of the segment.
        path: String,
        /// The ring id in the descriptor.
        expected: RingId,
        /// The ring id in the segment header.
        found: RingId,
    },
    /// A memfd segment is not sealed against shrinking, so a peer could make our reads fault.
    #[error("segment {path} is not sealed against shrinking")]
    NotSealed {
        /// The path of the segment.
        path: String,
    },
}

/// Why a reservation ([`Ring::try_reserve`](crate::Ring::try_reserve),
/// [`Ring::reserve`](crate::Ring::reserve), [`Ring::write`](crate::Ring::write)) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReserveError {
    /// The payload can never fit in this ring.
    #[error(
        "payload of {requested} bytes exceeds the largest record of ring {ring} ({max} bytes)"
    )]
    TooLarge {
        /// The ring.
        ring: RingId,
        /// The payload length asked for.
        requested: usize,
        /// The largest payload this ring accepts.
        max: usize,
    },
    /// The ring has no room now because older records are not released yet.
    #[error("ring {ring} is full: {requested} bytes requested, {free} bytes free")]
    Full {
        /// The ring.
        ring: RingId,
        /// The payload length asked for.
        requested: usize,
        /// Contiguous free bytes available for a record at the moment of the check.
        free: usize,
    },
    /// The ring stayed full for the whole timeout.
    #[error("ring {ring} stayed full for {timeout:?} waiting for {requested} bytes")]
    Timeout {
        /// The ring.
        ring: RingId,
        /// The payload length asked for.
        requested: usize,
        /// How long we waited.
        timeout: Duration,
    },
    /// Another `Ring` value (in this or another process) is the ring's writer.
    #[error("ring {ring} already has a writer (only one writer per ring)")]
    WriterBusy {
        /// The ring.
        ring: RingId,
    },
    /// The shared record headers are inconsistent (a peer wrote garbage into the segment).
    #[error("ring {ring} is corrupt at offset {offset}: {reason}")]
    Corrupt {
        /// The ring.
        ring: RingId,
        /// Offset of the bad record in the data area.
        offset: u64,
        /// What was wrong.
        reason: &'static str,
    },
}

/// Why a [`Handle`](crate::Handle) was rejected by [`Ring::read`](crate::Ring::read) or
/// [`Ring::release`](crate::Ring::release).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandleError {
    /// The handle belongs to another ring.
    #[error("handle for ring {handle_ring} used on ring {ring}")]
    WrongRing {
        /// The ring named in the handle.
        handle_ring: RingId,
        /// The ring it was used on.
        ring: RingId,
    },
    /// The offset is not at a record boundary.
    #[error("misaligned handle: offset {offset} is not a multiple of {align}")]
    Misaligned {
        /// The handle's offset.
        offset: u64,
        /// The record alignment.
        align: u64,
    },
    /// The record would extend past the end of the ring.
    #[error("handle out of bounds: record at offset {offset} with {len} bytes exceeds ring capacity {capacity}")]
    OutOfBounds {
        /// The handle's offset.
        offset: u64,
        /// The handle's length.
        len: u64,
        /// The ring's data capacity.
        capacity: u64,
    },
    /// The handle names a generation that has not been written yet (forged).
    #[error("forged handle at offset {offset}: generation {generation} has not been written")]
    NeverWritten {
        /// The handle's offset.
        offset: u64,
        /// The handle's generation.
        generation: u64,
    },
    /// The record was released and its space reused (or reclaimed).
    #[error(
        "stale handle at offset {offset}: generation {generation}, record has {record_generation}"
    )]
    Stale {
        /// The handle's offset.
        offset: u64,
        /// The handle's generation.
        generation: u64,
        /// The generation found in the record header now.
        record_generation: u64,
    },
    /// The handle's length differs from the record's (truncated or forged handle).
    #[error(
        "bad handle length at offset {offset}: handle says {len} bytes, record has {record_len}"
    )]
    LengthMismatch {
        /// The handle's offset.
        offset: u64,
        /// The handle's length.
        len: u64,
        /// The record's length.
        record_len: u64,
    },
    /// The record is still being written (its reservation was not committed).
    #[error("record at offset {offset} (generation {generation}) is not committed")]
    NotCommitted {
        /// The handle's offset.
        offset: u64,
        /// The handle's generation.
        generation: u64,
    },
    /// The offset holds padding or an abandoned reservation, not a record.
    #[error(
        "no record at offset {offset} (generation {generation}): padding or abandoned reservation"
    )]
    NotARecord {
        /// The handle's offset.
        offset: u64,
        /// The handle's generation.
        generation: u64,
    },
    /// The record was already released; it may not be read.
    #[error("record at offset {offset} (generation {generation}) was already released")]
    Released {
        /// The handle's offset.
        offset: u64,
        /// The handle's generation.
        generation: u64,
    },
    /// The record was released twice.
    #[error("double release of record at offset {offset} (generation {generation})")]
    DoubleRelease {
        /// The handle's offset.
        offset: u64,
        /// The handle's generation.
        generation: u64,
    },
    /// The record is still borrowed by a [`ReadGuard`](crate::ReadGuard) and cannot be released.
    #[error("record at offset {offset} is still read by {readers} guard(s)")]
    InUse {
        /// The handle's offset.
        offset: u64,
        /// Number of live read guards (in all processes).
        readers: u64,
    },
    /// Too many simultaneous read guards on one record.
    #[error("too many read guards on record at offset {offset}")]
    TooManyReaders {
        /// The handle's offset.
        offset: u64,
    },
}
