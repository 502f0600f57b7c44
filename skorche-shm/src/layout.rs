//! The byte layout of a ring segment, shared by every process that maps it.
//!
//! ```text
//! offset  size  field
//! 0       8     magic        b"SKORSHM\0" as little-endian u64; written once by the creator
//! 8       8     version      LAYOUT_VERSION; written once by the creator
//! 16      8     capacity     size of the data area in bytes (multiple of RECORD_ALIGN)
//! 24      8     ring id      random u64, also carried by every Handle
//! 32      32    reserved     zero
//! 64      8     head         AtomicU64: bytes ever reserved (writer stores, Release)
//! 128     8     tail         AtomicU64: bytes ever reclaimed (writer stores, Release)
//! 192     8     writer       AtomicU64: token of the Ring value that writes (0 = none)
//! 256     ...   data area    `capacity` bytes of records
//! ```
//!
//! `head`, `tail` and `writer` sit on their own 64-byte cache lines so that readers polling
//! them do not false-share with the constant fields. Every field is accessed through an
//! [`AtomicU64`](crate::sync::AtomicU64), even the constant ones (with `Relaxed`): the segment
//! is shared with peers that we do not trust, so no plain reference to it is ever made.
//!
//! A record starts at a multiple of [`RECORD_ALIGN`] inside the data area:
//!
//! ```text
//! +0   8   state       AtomicU64, see `pack`: generation tag | reader count | state
//! +8   8   len         payload length in bytes
//! +16  8   generation  full generation (lap number + 1) of the record
//! +24  40  reserved
//! +64  len payload, then padding up to the next multiple of RECORD_ALIGN
//! ```
//!
//! Positions (`head`, `tail`, and a record's absolute position) count bytes since creation and
//! never wrap; the offset in the data area is `position % capacity` and the generation is
//! `position / capacity + 1`, so `(offset, generation)` names one record for the ring's life.

/// First eight bytes of every ring segment.
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"SKORSHM\0");
/// Layout version; bump on any incompatible change to this file.
pub(crate) const LAYOUT_VERSION: u64 = 1;

pub(crate) const OFF_MAGIC: usize = 0;
pub(crate) const OFF_VERSION: usize = 8;
pub(crate) const OFF_CAPACITY: usize = 16;
pub(crate) const OFF_RING_ID: usize = 24;
pub(crate) const OFF_HEAD: usize = 64;
pub(crate) const OFF_TAIL: usize = 128;
pub(crate) const OFF_WRITER: usize = 192;
/// Size of the segment header; the data area starts here.
pub(crate) const HEADER_SIZE: usize = 256;

/// Records start at multiples of this: one cache line, so that a record header never shares a
/// line with another record's payload and payloads are 64-byte aligned for fast copies.
pub const RECORD_ALIGN: usize = 64;
// The data area and the shared counters each start on their own cache line.
const _: () = assert!(HEADER_SIZE % RECORD_ALIGN == 0);
const _: () = assert!(OFF_HEAD % 64 == 0 && OFF_TAIL % 64 == 0 && OFF_WRITER % 64 == 0);

/// Size of a record header (one cache line, see [`RECORD_ALIGN`]).
pub(crate) const RECORD_HEADER: usize = 64;
pub(crate) const REC_STATE: usize = 0;
pub(crate) const REC_LEN: usize = 8;
pub(crate) const REC_GENERATION: usize = 16;

/// Smallest data capacity: two records of empty payload.
pub(crate) const MIN_CAPACITY: usize = 2 * RECORD_HEADER;
/// Largest data capacity: 1 TiB, far beyond any sane ring and safely below `isize::MAX`.
pub(crate) const MAX_CAPACITY: usize = 1 << 40;

// Record states (low 4 bits of the state word).
/// Reserved by the writer, payload being filled.
pub(crate) const WRITING: u64 = 1;
/// Committed: readable until released.
pub(crate) const COMMITTED: u64 = 2;
/// Released by a consumer: reclaimable.
pub(crate) const RELEASED: u64 = 3;
/// Padding at the end of a lap: reclaimable, never readable.
pub(crate) const PADDING: u64 = 4;
/// A reservation dropped without commit: reclaimable, never readable.
pub(crate) const ABANDONED: u64 = 5;

const STATE_BITS: u32 = 4;
const READER_BITS: u32 = 20;
const GEN_SHIFT: u32 = STATE_BITS + READER_BITS;
/// One reader in the state word.
pub(crate) const READER_ONE: u64 = 1 << STATE_BITS;
/// Most simultaneous read guards on one record.
pub(crate) const MAX_READERS: u64 = (1 << READER_BITS) - 1;
const GEN_MASK: u64 = (1 << (64 - GEN_SHIFT)) - 1;

/// Packs a state word: `generation tag (40 bits) | readers (20 bits) | state (4 bits)`.
///
/// The generation tag makes every compare-and-swap on the word specific to one record
/// generation, so a stale handle can never release or pin a newer record at the same offset
/// (no ABA).
pub(crate) const fn pack(generation: u64, readers: u64, state: u64) -> u64 {
    ((generation & GEN_MASK) << GEN_SHIFT) | (readers << STATE_BITS) | state
}

/// The state field of a state word.
pub(crate) const fn state_of(word: u64) -> u64 {
    word & ((1 << STATE_BITS) - 1)
}

/// The reader count of a state word.
pub(crate) const fn readers_of(word: u64) -> u64 {
    (word >> STATE_BITS) & MAX_READERS
}

/// Whether the state word belongs to `generation`.
pub(crate) const fn tag_matches(word: u64, generation: u64) -> bool {
    word >> GEN_SHIFT == generation & GEN_MASK
}

/// Size of a record with `len` payload bytes, header and alignment padding included.
pub(crate) const fn record_size(len: usize) -> usize {
    RECORD_HEADER + len.div_ceil(RECORD_ALIGN) * RECORD_ALIGN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_word_round_trips_its_fields() {
        for generation in [1, 2, GEN_MASK, GEN_MASK + 5] {
            for readers in [0, 1, MAX_READERS] {
                for state in [WRITING, COMMITTED, RELEASED, PADDING, ABANDONED] {
                    let w = pack(generation, readers, state);
                    assert_eq!(state_of(w), state);
                    assert_eq!(readers_of(w), readers);
                    assert!(tag_matches(w, generation));
                    assert!(!tag_matches(w, generation + 1));
                }
            }
        }
        assert_eq!(pack(3, 1, COMMITTED), pack(3, 0, COMMITTED) + READER_ONE);
    }

    #[test]
    fn records_are_aligned_and_hold_their_payload() {
        assert_eq!(record_size(0), 64);
        assert_eq!(record_size(1), 128);
        assert_eq!(record_size(64), 128);
        assert_eq!(record_size(65), 192);
    }
}
