//! The ring: creation, opening, the writer path (reserve/commit) and the reader path
//! (read/release). The protocol is described in the crate docs; each atomic access here carries
//! a `SYNC:` comment naming the access it pairs with.

use std::fmt;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{CreateError, HandleError, OpenError, ReserveError};
use crate::layout::*;
use crate::segment::Segment;
use crate::sync::{Mutex, Ordering};

/// Identifies one ring for its whole life; random per ring, carried by every [`Handle`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RingId(pub u64);

impl fmt::Debug for RingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RingId(0x{:016x})", self.0)
    }
}

impl fmt::Display for RingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:016x}", self.0)
    }
}

/// Names one committed record: plain data, cheap to copy, serialize and send to any process.
///
/// A handle is only a claim; the ring validates every field (ring id, bounds, alignment,
/// generation, record state) before use, so a stale, forged or truncated handle gives a
/// [`HandleError`], never an out-of-bounds read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Handle {
    /// The ring the record lives in.
    pub ring: RingId,
    /// Offset of the record header in the ring's data area (a multiple of [`RECORD_ALIGN`]).
    pub offset: u64,
    /// Payload length in bytes.
    pub len: u64,
    /// Generation of the record: the lap of the ring it was written in, from 1.
    pub generation: u64,
}

/// How a [`RingDescriptor`] reaches the segment.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum BackingDescriptor {
    /// An anonymous memfd held open by process `pid` as descriptor `fd`; peers open
    /// `/proc/<pid>/fd/<fd>` while that process lives.
    Memfd {
        /// The creating process.
        pid: u32,
        /// Its descriptor number for the memfd.
        fd: i32,
    },
    /// A memfd this process inherited as descriptor `fd` from the process that created the
    /// ring (see [`Ring::dup_fd`]): opened as `/proc/self/fd/<fd>`, so no other process's
    /// descriptor table is involved. The inherited descriptor is closed once the ring is
    /// mapped.
    Inherited {
        /// The descriptor number in this process.
        fd: i32,
    },
    /// A named POSIX shared-memory segment (`/dev/shm/<name without the slash>`).
    Named {
        /// The name passed to `shm_open`, starting with `/skorche-`.
        name: String,
    },
    /// A heap ring private to its process; cannot be opened elsewhere.
    InProcess,
}

/// Everything another process needs to open a ring with [`Ring::open`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RingDescriptor {
    /// The ring's id (checked against the segment header on open).
    pub ring: RingId,
    /// The data capacity in bytes (checked against the segment header on open).
    pub capacity: u64,
    /// Where the segment is.
    pub backing: BackingDescriptor,
}

/// Which memory a new ring lives in; see the crate docs, "Backing".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backing {
    /// Anonymous sealed memfd: no name, nothing to leak. The default.
    #[default]
    Memfd,
    /// Named POSIX shm (`/dev/shm/skorche-*`), mode 0600, for unrelated processes; call
    /// [`Ring::unlink`] once every peer has opened it.
    Named,
    /// Process-local heap memory (tests, single-process use).
    InProcess,
}

/// A shared-memory byte ring; see the crate docs for the protocol.
///
/// `Ring` is `Send + Sync`; all methods take `&self`. Writer methods may be called from several
/// threads: they are serialized by an internal mutex. Only one `Ring` value per ring (across all
/// processes) may write: the first to reserve claims the ring until it is dropped.
pub struct Ring {
    seg: Segment,
    id: RingId,
    cap: usize,
    backing: BackingDescriptor,
    owner: bool,
    #[cfg_attr(loom, allow(dead_code))]
    unlinked: std::sync::atomic::AtomicBool,
    /// Random token claiming the shared `writer` word; nonzero.
    token: u64,
    /// Serializes this value's writer threads; `true` once the writer word is claimed.
    writer: Mutex<bool>,
    /// Bytes of the records that live [`HeldRecord`](crate::HeldRecord)s of this process hold
    /// (a process-local count, for leak checks: see [`Ring::kept_bytes`]).
    kept: std::sync::atomic::AtomicUsize,
}

impl fmt::Debug for Ring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("id", &self.id)
            .field("capacity", &self.cap)
            .field("backing", &self.backing)
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

/// A nonzero, unpredictable-enough u64 (ring ids, writer tokens, segment names).
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    h.write_u32(std::process::id());
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    h.finish() | 1
}

/// Where a validated handle points.
struct Located {
    /// Offset of the record header from the segment start.
    rec: usize,
    /// Absolute position of the record.
    abs: u64,
}

impl Ring {
    /// Creates a ring with at least `capacity` bytes of data area (rounded up to a multiple of
    /// [`RECORD_ALIGN`]) on the platform's default backing (an anonymous memfd on Linux; the
    /// choice is made in one platform file, `os.rs`). The caller owns it.
    pub fn create(capacity: usize) -> Result<Ring, CreateError> {
        // Loom models have no OS backing: `create_with` puts any backing on the heap.
        #[cfg(not(loom))]
        let backing = crate::os::DEFAULT_BACKING;
        #[cfg(loom)]
        let backing = Backing::InProcess;
        Ring::create_with(capacity, backing)
    }

    /// Creates a ring in a named POSIX segment; see [`Backing::Named`] and [`Ring::unlink`].
    pub fn create_named(capacity: usize) -> Result<Ring, CreateError> {
        Ring::create_with(capacity, Backing::Named)
    }

    /// Creates a process-local ring on the heap (not openable from other processes).
    pub fn create_in_process(capacity: usize) -> Result<Ring, CreateError> {
        Ring::create_with(capacity, Backing::InProcess)
    }

    /// Creates a ring of at least `capacity` data bytes on the given backing.
    pub fn create_with(capacity: usize, backing: Backing) -> Result<Ring, CreateError> {
        let cap = capacity
            .checked_next_multiple_of(RECORD_ALIGN)
            .filter(|c| (MIN_CAPACITY..=MAX_CAPACITY).contains(c))
            .ok_or(CreateError::InvalidCapacity {
                requested: capacity,
                min: MIN_CAPACITY,
                max: MAX_CAPACITY,
            })?;
        let len = HEADER_SIZE + cap;
        let id = RingId(random_u64());
        let (seg, backing) = match backing {
            Backing::InProcess => (Segment::heap(len), BackingDescriptor::InProcess),
            #[cfg(not(loom))]
            Backing::Memfd => {
                let file = crate::os::create_memfd(len)?;
                let fd = crate::os::raw_fd(&file);
                let seg = Segment::map(file, len)
                    .map_err(|source| CreateError::Os { op: "mmap", source })?;
                let pid = std::process::id();
                (seg, BackingDescriptor::Memfd { pid, fd })
            }
            #[cfg(not(loom))]
            Backing::Named => {
                let name = format!("/skorche-{}-{:016x}", std::process::id(), id.0);
                let file = crate::os::create_named(&name, len)?;
                let seg = Segment::map(file, len).map_err(|source| {
                    let _ = crate::os::unlink_named(&name);
                    CreateError::Os { op: "mmap", source }
                })?;
                (seg, BackingDescriptor::Named { name })
            }
            #[cfg(loom)]
            _ => (Segment::heap(len), BackingDescriptor::InProcess),
        };
        seg.word(OFF_VERSION)
            .store(LAYOUT_VERSION, Ordering::Relaxed);
        seg.word(OFF_CAPACITY).store(cap as u64, Ordering::Relaxed);
        seg.word(OFF_RING_ID).store(id.0, Ordering::Relaxed);
        // SYNC: Release pairs with the Acquire load of the magic in `open`: a peer that sees the
        // magic sees the version, capacity and id stored above.
        seg.word(OFF_MAGIC).store(MAGIC, Ordering::Release);
        tracing::debug!(ring = %id, capacity = cap, ?backing, "created ring");
        Ok(Ring {
            seg,
            id,
            cap,
            backing,
            owner: true,
            unlinked: std::sync::atomic::AtomicBool::new(false),
            token: random_u64(),
            writer: Mutex::new(false),
            kept: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// Opens, from any process, the ring that `desc` describes.
    ///
    /// The segment header is validated (magic, version, capacity against the segment size and
    /// the descriptor, ring id); nothing read from it afterwards is trusted without a bounds
    /// check.
    pub fn open(desc: &RingDescriptor) -> Result<Ring, OpenError> {
        #[cfg(loom)]
        {
            Err(OpenError::NotShareable { ring: desc.ring })
        }
        #[cfg(not(loom))]
        {
            let (file, path) = match &desc.backing {
                BackingDescriptor::InProcess => {
                    return Err(OpenError::NotShareable { ring: desc.ring })
                }
                BackingDescriptor::Memfd { pid, fd } => crate::os::open_memfd(*pid, *fd)?,
                BackingDescriptor::Inherited { fd } => crate::os::open_inherited(*fd)?,
                BackingDescriptor::Named { name } => (crate::os::open_named(name)?, name.clone()),
            };
            let size = file
                .metadata()
                .map_err(|source| OpenError::Os {
                    op: "fstat",
                    path: path.clone(),
                    source,
                })?
                .len();
            if size < HEADER_SIZE as u64 {
                return Err(OpenError::TooSmall {
                    path,
                    size,
                    header: HEADER_SIZE as u64,
                });
            }
            if size > (HEADER_SIZE + MAX_CAPACITY) as u64 {
                return Err(OpenError::BadHeader {
                    path,
                    reason: format!("segment size {size} exceeds the largest ring"),
                });
            }
            let seg = Segment::map(file, size as usize).map_err(|source| OpenError::Os {
                op: "mmap",
                path: path.clone(),
                source,
            })?;
            // SYNC: Acquire pairs with the Release store of the magic in `create_with`.
            let magic = seg.word(OFF_MAGIC).load(Ordering::Acquire);
            if magic != MAGIC {
                return Err(OpenError::BadMagic { path, found: magic });
            }
            let version = seg.word(OFF_VERSION).load(Ordering::Relaxed);
            if version != LAYOUT_VERSION {
                return Err(OpenError::VersionMismatch {
                    path,
                    found: version,
                    expected: LAYOUT_VERSION,
                });
            }
            let cap = seg.word(OFF_CAPACITY).load(Ordering::Relaxed);
            let data = size - HEADER_SIZE as u64;
            if cap != data || cap % RECORD_ALIGN as u64 != 0 || cap < MIN_CAPACITY as u64 {
                return Err(OpenError::BadHeader {
                    path,
                    reason: format!("capacity {cap} in header, segment has {data} data bytes"),
                });
            }
            if cap != desc.capacity {
                return Err(OpenError::BadHeader {
                    path,
                    reason: format!(
                        "capacity {cap} in header, descriptor says {}",
                        desc.capacity
                    ),
                });
            }
            let found = RingId(seg.word(OFF_RING_ID).load(Ordering::Relaxed));
            if found != desc.ring {
                return Err(OpenError::WrongRing {
                    path,
                    expected: desc.ring,
                    found,
                });
            }
            tracing::debug!(ring = %found, capacity = cap, %path, "opened ring");
            Ok(Ring {
                seg,
                id: found,
                cap: cap as usize,
                backing: desc.backing.clone(),
                owner: false,
                unlinked: std::sync::atomic::AtomicBool::new(false),
                token: random_u64(),
                writer: Mutex::new(false),
                kept: std::sync::atomic::AtomicUsize::new(0),
            })
        }
    }

    /// Everything another process needs to [`open`](Ring::open) this ring.
    pub fn descriptor(&self) -> RingDescriptor {
        RingDescriptor {
            ring: self.id,
            capacity: self.cap as u64,
            backing: self.backing.clone(),
        }
    }

    /// A new close-on-exec descriptor of the ring's memfd, to hand to a child process (which
    /// then opens it with [`BackingDescriptor::Inherited`]); `None` for a heap ring or once
    /// [`Ring::forget_fd`] was called.
    ///
    /// # Errors
    /// When the descriptor cannot be duplicated.
    pub fn dup_fd(&self) -> Option<std::io::Result<std::os::fd::OwnedFd>> {
        #[cfg(not(loom))]
        {
            self.seg.dup_fd()
        }
        #[cfg(loom)]
        {
            None
        }
    }

    /// Closes this process's descriptor of the ring's segment; the mapping stays valid. After
    /// it, no other process can open the ring through this process's `/proc/<pid>/fd`, and
    /// [`Ring::descriptor`] can no longer be opened elsewhere. Call it once every peer has
    /// attached.
    pub fn forget_fd(&self) {
        #[cfg(not(loom))]
        self.seg.forget_fd();
    }

    /// A descriptor for a child that inherited this ring's memfd as descriptor `fd`.
    pub fn inherited_descriptor(&self, fd: i32) -> RingDescriptor {
        RingDescriptor {
            ring: self.id,
            capacity: self.cap as u64,
            backing: BackingDescriptor::Inherited { fd },
        }
    }

    /// The ring's id.
    pub fn id(&self) -> RingId {
        self.id
    }

    /// Size of the data area in bytes (records, headers and padding included).
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// The largest payload a single record can hold: `capacity() - 64`.
    pub fn max_payload(&self) -> usize {
        self.cap - RECORD_HEADER
    }

    /// Bytes currently occupied by records not yet reclaimed (a snapshot).
    pub fn used(&self) -> usize {
        // SYNC: both Acquire loads pair with the writer's Release stores in `place`/`reclaim`.
        let tail = self.seg.word(OFF_TAIL).load(Ordering::Acquire);
        let head = self.seg.word(OFF_HEAD).load(Ordering::Acquire);
        head.saturating_sub(tail).min(self.cap as u64) as usize
    }

    /// Bytes of records written and not yet released (being written, committed, or being
    /// read), found by a scan from the tail to the head: unlike [`Ring::used`], records
    /// released but not yet reclaimed by the writer do not count. A snapshot; `None` if the
    /// records are inconsistent (a peer broke the header).
    pub fn held_bytes(&self) -> Option<usize> {
        let cap = self.cap as u64;
        // SYNC: both Acquire loads pair with the writer's Release stores in `place`/`reclaim`.
        let tail = self.seg.word(OFF_TAIL).load(Ordering::Acquire);
        let head = self.seg.word(OFF_HEAD).load(Ordering::Acquire);
        let align = RECORD_ALIGN as u64;
        if tail > head || head - tail > cap || tail % align != 0 || head % align != 0 {
            return None;
        }
        let (mut at, mut held) = (tail, 0u64);
        while at < head {
            let pos = at % cap;
            let rec = HEADER_SIZE + pos as usize;
            // SYNC: Acquire pairs with the Release stores of a record's state.
            let w = self.seg.word(rec + REC_STATE).load(Ordering::Acquire);
            let state = state_of(w);
            let size = if state == PADDING {
                cap - pos
            } else {
                let len = self.seg.word(rec + REC_LEN).load(Ordering::Relaxed);
                if len > cap - pos - RECORD_HEADER as u64 {
                    return None;
                }
                record_size(len as usize) as u64
            };
            if size == 0 || size > head - at {
                return None;
            }
            if !matches!(state, RELEASED | ABANDONED | PADDING) {
                held += size;
            }
            at += size;
        }
        Some(held as usize)
    }

    /// Bytes (headers and padding included, as [`Ring::held_bytes`] counts them) of the records
    /// that live [`HeldRecord`](crate::HeldRecord)s of this process hold: records a consumer
    /// keeps on purpose, which a leak check should not count. A snapshot.
    pub fn kept_bytes(&self) -> usize {
        self.kept.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Adds `bytes` to, or removes them from, the count of [`Ring::kept_bytes`].
    pub(crate) fn count_kept(&self, bytes: usize, add: bool) {
        let kept = &self.kept;
        if add {
            kept.fetch_add(bytes, std::sync::atomic::Ordering::AcqRel);
        } else {
            kept.fetch_sub(bytes, std::sync::atomic::Ordering::AcqRel);
        }
    }

    /// Whether this value created the ring.
    pub fn is_owner(&self) -> bool {
        self.owner
    }

    /// Removes the name of a [`Backing::Named`] ring so that nothing is left in `/dev/shm`
    /// even if every process is killed; call it once every peer has opened the ring. Mappings
    /// stay valid. Idempotent; a no-op for the other backings (they have no name).
    pub fn unlink(&self) -> std::io::Result<()> {
        #[cfg(not(loom))]
        if let BackingDescriptor::Named { name } = &self.backing {
            if !self
                .unlinked
                .swap(true, std::sync::atomic::Ordering::Relaxed)
            {
                return crate::os::unlink_named(name);
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------------ writer side

    /// Reserves `len` bytes if there is room now, or fails at once with
    /// [`ReserveError::Full`] (or [`ReserveError::TooLarge`] if it can never fit).
    pub fn try_reserve(&self, len: usize) -> Result<Reservation<'_>, ReserveError> {
        self.reserve_deadline(len, None)
    }

    /// Reserves `len` bytes, waiting up to `timeout` for older records to be released.
    pub fn reserve(&self, len: usize, timeout: Duration) -> Result<Reservation<'_>, ReserveError> {
        self.reserve_deadline(len, Some(timeout))
    }

    /// Copies `bytes` into a new record (waiting up to `timeout` for room) and commits it.
    pub fn write(&self, bytes: &[u8], timeout: Duration) -> Result<Handle, ReserveError> {
        let mut r = self.reserve(bytes.len(), timeout)?;
        r.copy_from_slice(bytes);
        Ok(r.commit())
    }

    fn reserve_deadline(
        &self,
        len: usize,
        timeout: Option<Duration>,
    ) -> Result<Reservation<'_>, ReserveError> {
        if len > self.max_payload() {
            return Err(ReserveError::TooLarge {
                ring: self.id,
                requested: len,
                max: self.max_payload(),
            });
        }
        let start = Instant::now();
        let mut attempt = 0u32;
        loop {
            let free = {
                let mut claimed = self
                    .writer
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                self.claim(&mut claimed)?;
                match self.place(len)? {
                    Ok(reservation) => return Ok(reservation),
                    Err(free) => free,
                }
            };
            match timeout {
                None => {
                    return Err(ReserveError::Full {
                        ring: self.id,
                        requested: len,
                        free,
                    })
                }
                Some(t) if start.elapsed() >= t => {
                    return Err(ReserveError::Timeout {
                        ring: self.id,
                        requested: len,
                        timeout: t,
                    })
                }
                Some(_) => backoff(&mut attempt),
            }
        }
    }

    /// Claims the shared writer word for this `Ring` value (once).
    fn claim(&self, claimed: &mut bool) -> Result<(), ReserveError> {
        if *claimed {
            return Ok(());
        }
        // SYNC: Acquire pairs with the Release store of 0 in the previous writer's `Drop`, so its
        // last `head`/`tail` stores and record headers are visible to us.
        match self.seg.word(OFF_WRITER).compare_exchange(
            0,
            self.token,
            Ordering::Acquire,
            Ordering::Relaxed,
        ) {
            Ok(_) => {
                *claimed = true;
                Ok(())
            }
            Err(_) => Err(ReserveError::WriterBusy { ring: self.id }),
        }
    }

    fn corrupt(&self, offset: u64, reason: &'static str) -> ReserveError {
        tracing::error!(ring = %self.id, offset, reason, "corrupt ring");
        ReserveError::Corrupt {
            ring: self.id,
            offset,
            reason,
        }
    }

    /// Advances `tail` over released, abandoned and padding records at the old end.
    /// Writer only (caller holds the writer mutex and the writer word).
    fn reclaim(&self) -> Result<(), ReserveError> {
        let cap = self.cap as u64;
        // Writer-owned words: only the writer stores them, so Relaxed reads see our own stores.
        let head = self.seg.word(OFF_HEAD).load(Ordering::Relaxed);
        let start = self.seg.word(OFF_TAIL).load(Ordering::Relaxed);
        let mut tail = start;
        while tail < head {
            let pos = tail % cap;
            let generation = tail / cap + 1;
            let rec = HEADER_SIZE + pos as usize;
            // SYNC: Acquire pairs with the Release CAS in `release` (and the Release stores in
            // `Reservation::drop`): every access a consumer made to the payload happens before
            // we hand its bytes to a new reservation.
            let w = self.seg.word(rec + REC_STATE).load(Ordering::Acquire);
            if !tag_matches(w, generation) {
                return Err(self.corrupt(pos, "record generation does not match its position"));
            }
            let size = match state_of(w) {
                PADDING => cap - pos,
                RELEASED | ABANDONED => {
                    let len = self.seg.word(rec + REC_LEN).load(Ordering::Relaxed);
                    if len > cap - pos - RECORD_HEADER as u64 {
                        return Err(self.corrupt(pos, "record length runs past the ring end"));
                    }
                    record_size(len as usize) as u64
                }
                _ => break,
            };
            if size > head - tail {
                return Err(self.corrupt(pos, "record runs past the head"));
            }
            tail += size;
        }
        if tail != start {
            // SYNC: Release pairs with the Acquire loads of `tail` in `release`/`read`/`used`.
            self.seg.word(OFF_TAIL).store(tail, Ordering::Release);
        }
        Ok(())
    }

    /// Places a record of `len` bytes if it fits now; `Ok(Err(free))` if it does not.
    /// Writer only (caller holds the writer mutex and the writer word).
    fn place(&self, len: usize) -> Result<Result<Reservation<'_>, usize>, ReserveError> {
        let cap = self.cap as u64;
        let size = record_size(len) as u64;
        self.reclaim()?;
        loop {
            let head = self.seg.word(OFF_HEAD).load(Ordering::Relaxed);
            let tail = self.seg.word(OFF_TAIL).load(Ordering::Relaxed);
            if tail > head || head - tail > cap {
                return Err(self.corrupt(head % cap, "head and tail are inconsistent"));
            }
            // A peer that wrote an unaligned head or tail into the header must get an error
            // here, not a misaligned record header further down.
            if head % RECORD_ALIGN as u64 != 0 || tail % RECORD_ALIGN as u64 != 0 {
                return Err(self.corrupt(head % cap, "head or tail is not record-aligned"));
            }
            let free = cap - (head - tail);
            let pos = head % cap;
            let generation = head / cap + 1;
            let rec = HEADER_SIZE + pos as usize;
            // A large record goes back to the start of the data area early when what is in
            // flight and the record fit in its first quarter: a reader that keeps up then keeps
            // the ring in its first pages, which stay mapped and cached (a fresh page of shared
            // memory costs a fault and a zeroing, slower than copying a page), and the rest is
            // used only when records pile up. Only for records of at least 1/16 of the ring,
            // where a lap holds few records anyway, so readers holding many small records do
            // not see the padding shrink the ring; and only past a quarter of the lap, so the
            // bytes skipped stay below three times those written (positions never run out).
            // `used + size <= cap / 4 <= pos` also means the padding and the record fit.
            let used = head - tail;
            let early =
                size >= cap / 16 && pos >= cap / 4 && used + size <= cap / 4 && pos + size <= cap;
            if pos + size > cap || early {
                // Records are contiguous: fill the rest of this lap with a padding record.
                let pad = cap - pos;
                if pad > free {
                    return Ok(Err(free as usize));
                }
                self.write_record_header(rec, pad - RECORD_HEADER as u64, generation, PADDING);
                // SYNC: Release pairs with the Acquire loads of `head` in `locate`/`used`.
                self.seg.word(OFF_HEAD).store(head + pad, Ordering::Release);
                // Padding is reclaimable at once.
                self.reclaim()?;
                continue;
            }
            if size > free {
                return Ok(Err(free as usize));
            }
            self.write_record_header(rec, len as u64, generation, WRITING);
            // SYNC: Release pairs with the Acquire loads of `head` in `locate`/`used`: a reader
            // that sees the new head sees the record header (state WRITING) written above.
            self.seg
                .word(OFF_HEAD)
                .store(head + size, Ordering::Release);
            return Ok(Ok(Reservation {
                ring: self,
                rec,
                len,
                generation,
                committed: false,
            }));
        }
    }

    fn write_record_header(&self, rec: usize, len: u64, generation: u64, state: u64) {
        self.seg.word(rec + REC_LEN).store(len, Ordering::Relaxed);
        self.seg
            .word(rec + REC_GENERATION)
            .store(generation, Ordering::Relaxed);
        // SYNC: Release pairs with the Acquire loads of the state word in `read`/`release`/
        // `reclaim`: whoever sees this state sees `len` and `generation` above.
        self.seg
            .word(rec + REC_STATE)
            .store(pack(generation, 0, state), Ordering::Release);
    }

    // ------------------------------------------------------------------ reader side

    /// Generation of the latest lap that has written over `offset` (for error messages).
    fn current_generation(&self, offset: u64) -> u64 {
        // SYNC: Acquire pairs with the writer's Release store of `head` in `place`.
        let head = self.seg.word(OFF_HEAD).load(Ordering::Acquire);
        if head > offset {
            (head - 1 - offset) / self.cap as u64 + 1
        } else {
            0
        }
    }

    /// Validates everything about `h` that does not need the record header.
    fn locate(&self, h: &Handle) -> Result<Located, HandleError> {
        let cap = self.cap as u64;
        if h.ring != self.id {
            return Err(HandleError::WrongRing {
                handle_ring: h.ring,
                ring: self.id,
            });
        }
        if h.offset % RECORD_ALIGN as u64 != 0 {
            return Err(HandleError::Misaligned {
                offset: h.offset,
                align: RECORD_ALIGN as u64,
            });
        }
        // `offset` is aligned and below `cap`, so `cap - offset >= RECORD_HEADER`.
        if h.offset >= cap || h.len > cap - h.offset - RECORD_HEADER as u64 {
            return Err(HandleError::OutOfBounds {
                offset: h.offset,
                len: h.len,
                capacity: cap,
            });
        }
        let never = HandleError::NeverWritten {
            offset: h.offset,
            generation: h.generation,
        };
        let abs = h
            .generation
            .checked_sub(1)
            .and_then(|lap| lap.checked_mul(cap))
            .and_then(|p| p.checked_add(h.offset))
            .ok_or_else(|| never.clone())?;
        // SYNC: Acquire pairs with the writer's Release store of `head` in `place`.
        let head = self.seg.word(OFF_HEAD).load(Ordering::Acquire);
        if abs >= head {
            return Err(never);
        }
        Ok(Located {
            rec: HEADER_SIZE + h.offset as usize,
            abs,
        })
    }

    /// Checks a state word against the handle; `Ok` if it is the committed record.
    fn check_word(&self, h: &Handle, loc: &Located, w: u64) -> Result<(), HandleError> {
        let (offset, generation) = (h.offset, h.generation);
        if !tag_matches(w, generation) {
            // Reclaimed (and maybe reused) after `locate` checked it: a stale handle. Otherwise the
            // offset is not a record boundary of that generation: a forged handle.
            if self.reclaimed(loc) {
                return Err(HandleError::Stale {
                    offset,
                    generation,
                    record_generation: self.current_generation(offset),
                });
            }
            return Err(HandleError::NotARecord { offset, generation });
        }
        match state_of(w) {
            COMMITTED => {}
            RELEASED => return Err(HandleError::Released { offset, generation }),
            WRITING => return Err(HandleError::NotCommitted { offset, generation }),
            _ => return Err(HandleError::NotARecord { offset, generation }),
        }
        let record_len = self.seg.word(loc.rec + REC_LEN).load(Ordering::Relaxed);
        if record_len != h.len {
            return Err(HandleError::LengthMismatch {
                offset,
                len: h.len,
                record_len,
            });
        }
        Ok(())
    }

    /// Whether the record at `loc` has been reclaimed already.
    fn reclaimed(&self, loc: &Located) -> bool {
        // SYNC: Acquire pairs with the writer's Release store of `tail` in `reclaim`.
        loc.abs < self.seg.word(OFF_TAIL).load(Ordering::Acquire)
    }

    /// Borrows the payload of a committed record in place, without copying.
    ///
    /// The record is pinned while the guard lives: [`release`](Ring::release) fails with
    /// [`HandleError::InUse`] and the writer cannot reuse the space.
    pub fn read(&self, handle: &Handle) -> Result<ReadGuard<'_>, HandleError> {
        let rec = self.pin(handle)?;
        Ok(ReadGuard {
            ring: self,
            rec,
            len: handle.len as usize,
            generation: handle.generation,
        })
    }

    /// Validates `handle` and adds a reader to its committed record; returns the offset of the
    /// record header from the segment start.
    pub(crate) fn pin(&self, handle: &Handle) -> Result<usize, HandleError> {
        let loc = self.locate(handle)?;
        if self.reclaimed(&loc) {
            return Err(HandleError::Stale {
                offset: handle.offset,
                generation: handle.generation,
                record_generation: self.current_generation(handle.offset),
            });
        }
        let state = self.seg.word(loc.rec + REC_STATE);
        // SYNC: Acquire pairs with the Release store of COMMITTED in `Reservation::commit`: the
        // payload bytes and the record header are visible once we see COMMITTED.
        let mut w = state.load(Ordering::Acquire);
        loop {
            self.check_word(handle, &loc, w)?;
            if readers_of(w) >= MAX_READERS {
                return Err(HandleError::TooManyReaders {
                    offset: handle.offset,
                });
            }
            // SYNC: Acquire (both orders) pairs with `Reservation::commit`'s Release store; the
            // increment pins the record against `release` (which requires zero readers).
            match state.compare_exchange_weak(
                w,
                w + READER_ONE,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(loc.rec),
                Err(now) => w = now,
            }
        }
    }

    /// Drops one reader of the record at `rec`; when it was the last one and `release` is set,
    /// releases the record in the same step, so no other reader can slip in between. Returns
    /// whether the record was released. A state word that no longer matches (a peer broke the
    /// protocol) is logged and left alone.
    pub(crate) fn unpin(&self, rec: usize, generation: u64, release: bool) -> bool {
        let mut released = false;
        // SYNC: Release pairs with the Acquire load in `reclaim` (and with the Acquire side of
        // the CAS in `release`): our reads of the payload happen before any reuse. Acquire pairs
        // with other readers' Release when they dropped their pins, so their reads happen
        // before our release too.
        let r =
            self.seg
                .word(rec + REC_STATE)
                .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |w| {
                    if !(tag_matches(w, generation)
                        && readers_of(w) > 0
                        && state_of(w) == COMMITTED)
                    {
                        return None;
                    }
                    released = release && readers_of(w) == 1;
                    Some(if released {
                        pack(generation, 0, RELEASED)
                    } else {
                        w - READER_ONE
                    })
                });
        if r.is_err() {
            tracing::error!(ring = %self.id, offset = rec - HEADER_SIZE,
                "record state changed under a pin (a peer broke the protocol)");
            return false;
        }
        released
    }

    /// Releases a committed record so that its space can be reused once every older record is
    /// released too. Each record is released exactly once, by whichever process consumed it.
    pub fn release(&self, handle: &Handle) -> Result<(), HandleError> {
        let loc = self.locate(handle)?;
        let (offset, generation) = (handle.offset, handle.generation);
        if self.reclaimed(&loc) {
            // Only released records are ever reclaimed.
            return Err(HandleError::DoubleRelease { offset, generation });
        }
        let state = self.seg.word(loc.rec + REC_STATE);
        // SYNC: Acquire pairs with `Reservation::commit`'s Release store (see `read`).
        let mut w = state.load(Ordering::Acquire);
        loop {
            match self.check_word(handle, &loc, w) {
                // Only released records are ever reclaimed, so a stale handle was released.
                Err(HandleError::Released { .. } | HandleError::Stale { .. }) => {
                    return Err(HandleError::DoubleRelease { offset, generation })
                }
                other => other?,
            }
            if readers_of(w) != 0 {
                return Err(HandleError::InUse {
                    offset,
                    readers: readers_of(w),
                });
            }
            // SYNC: Release pairs with the Acquire load in `reclaim` (our uses of the payload
            // happen before the writer reuses it); Acquire pairs with `ReadGuard::drop`'s Release,
            // so every guard's reads happen before the reuse as well.
            match state.compare_exchange(
                w,
                pack(generation, 0, RELEASED),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(now) => w = now,
            }
        }
    }

    /// Pointer to the `len` payload bytes of the record at `rec`; panics (a bug in this crate,
    /// as callers validated both) if they are not inside the segment.
    pub(crate) fn payload_ptr(&self, rec: usize, len: usize) -> *mut u8 {
        let start = rec + RECORD_HEADER;
        assert!(
            start
                .checked_add(len)
                .is_some_and(|end| end <= self.seg.len()),
            "payload {start}+{len} outside a segment of {} bytes",
            self.seg.len()
        );
        // SAFETY: `start + len <= len(segment)` (asserted), so the result is inside the region.
        unsafe { self.seg.base().add(start) }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        let claimed = *self
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if claimed {
            // SYNC: Release pairs with the Acquire CAS in `claim` of the next writer.
            let _ = self.seg.word(OFF_WRITER).compare_exchange(
                self.token,
                0,
                Ordering::Release,
                Ordering::Relaxed,
            );
        }
        if self.owner {
            if let Err(e) = self.unlink() {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(ring = %self.id, error = %e, "cannot unlink ring segment");
                }
            }
        }
    }
}

/// Waits a little longer at each attempt: spin, then yield, then sleep up to 1 ms.
fn backoff(attempt: &mut u32) {
    *attempt = attempt.saturating_add(1);
    if cfg!(loom) || *attempt < 64 {
        if cfg!(loom) || *attempt > 16 {
            crate::sync::yield_now();
        } else {
            std::hint::spin_loop();
        }
    } else {
        let micros = 1u64 << (*attempt - 64).min(10);
        std::thread::sleep(Duration::from_micros(micros));
    }
}

/// Exclusive, uncopied access to a reserved record's payload: fill it, then [`commit`].
///
/// Dereferences to exactly `len` bytes (initially whatever the space held before). Dropping it
/// without committing marks the record abandoned, so its space is reclaimed like a released one.
///
/// [`commit`]: Reservation::commit
#[must_use = "a reservation is abandoned unless committed"]
pub struct Reservation<'a> {
    ring: &'a Ring,
    rec: usize,
    len: usize,
    generation: u64,
    committed: bool,
}

impl fmt::Debug for Reservation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reservation")
            .field("ring", &self.ring.id)
            .field("offset", &(self.rec - HEADER_SIZE))
            .field("len", &self.len)
            .field("generation", &self.generation)
            .finish()
    }
}

impl Reservation<'_> {
    /// The handle this reservation will have once committed.
    pub fn handle(&self) -> Handle {
        Handle {
            ring: self.ring.id,
            offset: (self.rec - HEADER_SIZE) as u64,
            len: self.len as u64,
            generation: self.generation,
        }
    }

    /// Publishes the record and returns its handle.
    pub fn commit(mut self) -> Handle {
        self.committed = true;
        // SYNC: Release pairs with the Acquire loads/CAS of the state word in `read` and
        // `release`: the payload written through this reservation is visible to them.
        self.ring
            .seg
            .word(self.rec + REC_STATE)
            .store(pack(self.generation, 0, COMMITTED), Ordering::Release);
        self.handle()
    }
}

impl std::ops::Deref for Reservation<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `place` checked `rec - HEADER_SIZE + record_size(len) <= capacity`, so the
        // payload is inside the segment, which outlives `'a`. The record is in state WRITING,
        // which no reader accepts and the writer does not reclaim, so no one else accesses
        // these bytes until `commit`/drop.
        unsafe { std::slice::from_raw_parts(self.ring.payload_ptr(self.rec, self.len), self.len) }
    }
}

impl std::ops::DerefMut for Reservation<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`; `&mut self` makes this the only borrow of the payload.
        unsafe {
            std::slice::from_raw_parts_mut(self.ring.payload_ptr(self.rec, self.len), self.len)
        }
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.committed {
            // SYNC: Release pairs with the Acquire load in `reclaim`.
            self.ring
                .seg
                .word(self.rec + REC_STATE)
                .store(pack(self.generation, 0, ABANDONED), Ordering::Release);
        }
    }
}

/// A pinned, uncopied view of a committed record's payload; see [`Ring::read`].
pub struct ReadGuard<'a> {
    ring: &'a Ring,
    rec: usize,
    len: usize,
    generation: u64,
}

impl fmt::Debug for ReadGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadGuard")
            .field("ring", &self.ring.id)
            .field("offset", &(self.rec - HEADER_SIZE))
            .field("len", &self.len)
            .field("generation", &self.generation)
            .finish()
    }
}

impl std::ops::Deref for ReadGuard<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `locate` checked `offset + RECORD_HEADER + len <= capacity` against our own
        // validated capacity, so the slice is inside the segment, which outlives `'a`. The guard
        // holds a reader count on a COMMITTED record, so `release` fails and the writer does not
        // reuse the bytes; the writer stopped writing them before its Release commit, which our
        // Acquire CAS observed. (A peer that ignores the protocol could still write them; see the
        // crate docs, "Trust".)
        unsafe { std::slice::from_raw_parts(self.ring.payload_ptr(self.rec, self.len), self.len) }
    }
}

impl Drop for ReadGuard<'_> {
    fn drop(&mut self) {
        self.ring.unpin(self.rec, self.generation, false);
    }
}
