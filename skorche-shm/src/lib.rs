//! A bounded, crash-safe, zero-copy byte ring between processes.
//!
//! A writer places bytes in a shared segment and sends only a small [`Handle`] (ring id, offset,
//! length, generation: a few dozen bytes, serde-serializable); a reader in any process that
//! opened the ring reads them in place. The crate knows nothing about pipelines.
//!
//! # Hello, ring
//!
//! ```
//! use std::time::Duration;
//! use skorche_shm::Ring;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The creating process owns the ring; its descriptor is what other processes need.
//! let ring = Ring::create(1 << 20)?;
//! let descriptor = ring.descriptor(); // Serialize it and send it to a peer...
//! let peer = Ring::open(&descriptor)?; // ...which opens it (here: the same process).
//!
//! // Write in place: reserve, fill, commit. No intermediate buffer.
//! let mut reservation = ring.reserve(5, Duration::from_secs(1))?;
//! reservation.copy_from_slice(b"hello");
//! let handle = reservation.commit(); // Send this (serde) to the consumer.
//!
//! // Read in place, then release once.
//! assert_eq!(&*peer.read(&handle)?, b"hello");
//! peer.release(&handle)?;
//! assert!(peer.release(&handle).is_err()); // a double release is an error
//! # Ok(())
//! # }
//! ```
//!
//! # Backpressure
//!
//! The ring never overwrites a record that is not released. When it is full,
//! [`Ring::try_reserve`] fails at once with [`ReserveError::Full`], [`Ring::reserve`] waits up
//! to its timeout (spinning, then sleeping up to 1 ms between attempts) and then fails with
//! [`ReserveError::Timeout`]. A payload larger than [`Ring::max_payload`] fails at once with
//! [`ReserveError::TooLarge`].
//!
//! ```
//! # use skorche_shm::{ReserveError, Ring};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ring = Ring::create(4096)?;
//! let held = ring.write(&[0; 3000], std::time::Duration::ZERO)?;
//! assert!(matches!(ring.try_reserve(3000), Err(ReserveError::Full { .. })));
//! ring.release(&held)?; // the oldest record is released: its space comes back
//! assert!(ring.try_reserve(3000).is_ok());
//! assert!(matches!(ring.try_reserve(5000), Err(ReserveError::TooLarge { .. })));
//! # Ok(())
//! # }
//! ```
//!
//! # Handles are validated
//!
//! [`Ring::read`] and [`Ring::release`] check the ring id, alignment and bounds of a handle
//! against the capacity validated when the ring was created or opened, that its generation has
//! been written and not yet reclaimed, and the record header's generation, state and length.
//! A stale, forged, truncated or foreign handle is a [`HandleError`], never a read outside the
//! segment. A [`ReadGuard`] pins its record: releasing it while a guard lives fails with
//! [`HandleError::InUse`].
//!
//! # Protocol
//!
//! The segment is a header (magic, version, capacity, ring id, and the atomics `head`, `tail`
//! and `writer`, each on its own cache line) followed by the data area; see `src/layout.rs` for
//! the byte layout. Records are `[state, len, generation][payload]`, start at multiples of 64
//! bytes ([`RECORD_ALIGN`]) and are contiguous: a record that would cross the end of the data
//! area is preceded by a padding record filling the rest of the lap. A large record (at least
//! 1/16 of the ring) also starts the next lap early, past the first quarter of this one, when
//! the records in flight and it fit in a quarter of the ring: a reader that keeps up then keeps
//! the writer in the ring's first pages, which stay mapped and cached, instead of faulting in
//! fresh pages of the whole segment.
//!
//! `head` and `tail` count bytes since creation and never wrap. A record's offset is
//! `position % capacity`, its generation `position / capacity + 1`. Each record has a 64-bit
//! state word packing `generation (40 bits) | readers (20 bits) | state (4 bits)`; because the
//! generation is part of every compare-and-swap, a stale handle can never act on a newer record
//! at the same offset (no ABA).
//!
//! * **Writer** (one `Ring` value per ring, claimed by CAS on `writer` at its first reservation
//!   and given back when it is dropped; its threads are serialized by a mutex):
//!   1. *reclaim*: from `tail`, while the record there is `RELEASED`, `ABANDONED` or `PADDING`
//!      (Acquire load of its state word), advance over it; store `tail` (Release).
//!   2. *place*: if the record does not fit before the end of the lap, write a `PADDING` record
//!      and advance `head`; if it fits in `capacity - (head - tail)`, write its header with
//!      state `WRITING` (Release) and advance `head` (Release). Otherwise: full.
//!   3. *commit*: store `COMMITTED` (Release) into the state word. Dropping an uncommitted
//!      [`Reservation`] stores `ABANDONED` instead, so its space is reclaimed.
//! * **Readers** (any number, any process): validate the handle, check `tail <= position <
//!   head` (Acquire loads), then CAS the state word from `(generation, n, COMMITTED)` to
//!   `(generation, n + 1, COMMITTED)` (Acquire: pairs with the commit, so the payload is
//!   visible). Dropping the guard decrements the count (Release).
//! * **Release** (once per record, by whichever process consumed it, in any order): CAS from
//!   `(generation, 0, COMMITTED)` to `(generation, 0, RELEASED)` (AcqRel). Its Release half pairs
//!   with the writer's Acquire in *reclaim*, so every use of the bytes happens before their reuse.
//!
//! The fast path takes no lock shared between processes: one CAS to read, one to release, a few
//! stores to write. The protocol is model-checked with loom (`tests/loom_ring.rs`, run with
//! `RUSTFLAGS="--cfg loom" cargo test -p skorche-shm --release --test loom_ring`): the code
//! under test is the real `ring.rs`, with loom atomics on a heap segment (`src/sync.rs`).
//!
//! # Keeping records as values
//!
//! A consumer that wants to keep a record's bytes past one read takes it over with
//! [`Ring::hold`]: a [`HeldRecord`] pins the record like a [`ReadGuard`] but owns an `Arc` of
//! the ring, and releases the record when dropped, in any order. [`ShmBytes`] (bytes) and
//! [`ShmSlice<T>`] (plain-old-data values, via [`bytemuck`]) are values built on it that may
//! also own their data instead (a small payload that never went through a ring). Records are
//! reclaimed in ring order, so one record held for minutes stops the writer once the ring has
//! gone round to it: that is backpressure (the writer waits), never an error.
//! [`Ring::kept_bytes`] counts what live holds keep, so a leak check can tell them apart
//! from records nobody will release.
//!
//! # Backing
//!
//! * [`Backing::Memfd`] (default, [`Ring::create`]): an anonymous `memfd_create` segment, mode
//!   0600, sealed against shrinking and growing (so no peer can make our mapping fault), mapped
//!   `MAP_SHARED`. It has no name, so nothing can ever be left in `/dev/shm`, even after
//!   SIGKILL; the memory is freed with its last mapping. Peers open it as
//!   `/proc/<creator pid>/fd/<fd>` (which the kernel allows to the same user, and to root) while
//!   the creator is alive; they refuse a memfd that is not sealed.
//! * [`Backing::Named`] ([`Ring::create_named`]): `shm_open("/skorche-<pid>-<id>", O_CREAT |
//!   O_EXCL, 0600)`, for unrelated processes. Call [`Ring::unlink`] as soon as every peer has
//!   opened it; from then on a SIGKILL leaves nothing behind. Dropping the owner unlinks it too
//!   (normal and panic paths). A named segment cannot be sealed, so a hostile peer that truncates
//!   it could make our reads fault (SIGBUS); use memfd where that matters.
//! * [`Backing::InProcess`] ([`Ring::create_in_process`]): heap memory for one process.
//!
//! The `shared_memory` crate was not used: 0.12.4 is unmaintained since 2021, pulls in `nix`
//! 0.23 beside the workspace's `nix` 0.30, and unlinks only in `Drop`, so a killed owner leaks
//! its name and there is no way to unlink after peers attach. The segment code here is small:
//! `nix` for `memfd_create`, `shm_open`, `ftruncate` and seals, and `memmap2` for the mapping.
//!
//! # Trust
//!
//! A process that maps the segment does not trust its contents: the capacity is validated once
//! at open and kept locally, and every offset or length read from shared memory is bounds-checked
//! before use, so a buggy or malicious peer can corrupt payloads or stall the ring, but cannot
//! make this crate read or write outside the segment. What it cannot prevent is a peer writing
//! into bytes we are reading (shared memory offers no such guarantee); the protocol only
//! ensures that peers which follow it never do.
//!
//! # Limits
//!
//! One writer per ring (the first `Ring` value to reserve; [`ReserveError::WriterBusy`] for
//! others). A writer killed by a signal keeps its claim, so the ring accepts no new writer; make
//! a new ring. A reader killed while holding a [`ReadGuard`], a writer killed inside a
//! reservation, or a consumer that never releases, stalls reclamation at that record: the ring
//! then fills and reservations time out (nothing is overwritten). Waiting in [`Ring::reserve`]
//! polls with backoff; there is no cross-process wake-up.
//!
//! # Tests and benchmark
//!
//! * `tests/cross_process.rs`: a real child process (this test binary re-executed) writes
//!   10,000 records of 1 B to 4 MiB through a 16 MiB ring while the parent checks and releases
//!   them out of order, and the reverse.
//! * `tests/model.rs`: proptest of random reserve/commit/abandon/read/release sequences against
//!   a model of the space accounting.
//! * `tests/loom_ring.rs`: loom model of the protocol (see above).
//! * `tests/bad_input.rs`: forged, stale, truncated, out-of-bounds and misaligned handles,
//!   double release, oversize payloads, segments that are not rings.
//! * `tests/leak.rs`: nothing in `/dev/shm` after drop, panic or SIGKILL.
//! * `cargo bench -p skorche-shm --bench ring`: GB/s against a memcpy baseline, one and two
//!   processes, payloads from 4 KiB to 64 MiB, printed as one table.
#![warn(missing_docs)]

mod bytes;
mod error;
mod held;
mod layout;
#[cfg(not(loom))]
mod os;
mod ring;
mod segment;
mod slice;
mod sync;

pub use bytemuck;
pub use bytes::ShmBytes;
pub use held::HeldRecord;
pub use slice::{ShmSlice, SliceError};

pub use error::{CreateError, HandleError, OpenError, ReserveError};
pub use layout::RECORD_ALIGN;
pub use ring::{
    Backing, BackingDescriptor, Handle, ReadGuard, Reservation, Ring, RingDescriptor, RingId,
};
