//! The memory a ring lives in: an anonymous memfd, a named POSIX segment, or the process heap.
//!
//! [`Segment`] is a raw, fixed-size byte region. It hands out `&AtomicU64` for header and record
//! header words and a raw pointer for payload bytes; it never hands out `&[u8]` on its own, so
//! the borrowing rules of the ring live in one place (`ring.rs`).
//!
//! Under `cfg(loom)` only the heap backing exists and the 8-byte words are loom atomics kept in
//! a side table indexed by offset (loom atomics cannot be overlaid on raw memory); the payload
//! bytes stay in a plain heap buffer.

use std::alloc::Layout;
use std::ptr::NonNull;

use crate::sync::AtomicU64;

/// A mapped region of `len` bytes, 4096-byte aligned.
pub(crate) struct Segment {
    base: NonNull<u8>,
    len: usize,
    keep: Keep,
    #[cfg(loom)]
    words: Box<[AtomicU64]>,
}

/// What keeps the region alive.
enum Keep {
    /// A shared file mapping (memfd or POSIX shm). Unmapped and closed on drop.
    #[cfg(not(loom))]
    Map {
        _map: memmap2::MmapRaw,
        /// The segment's file while it may still be shared; `None` once forgotten.
        file: std::sync::Mutex<Option<std::fs::File>>,
    },
    /// A zeroed heap allocation, freed on drop.
    Heap { layout: Layout },
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("base", &self.base)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

// SAFETY: the region is plain memory owned by this value (or a shared mapping that lives as
// long as it). All shared-state access goes through atomics; payload bytes are only touched
// through `Reservation` (exclusive by protocol) and `ReadGuard` (pinned by protocol), see
// `ring.rs`. Nothing in the segment is tied to the creating thread.
unsafe impl Send for Segment {}
// SAFETY: as for `Send`; `&Segment` only exposes atomics and a raw pointer.
unsafe impl Sync for Segment {}

impl Segment {
    /// A zeroed heap region of `len` bytes (a multiple of 8).
    pub(crate) fn heap(len: usize) -> Segment {
        let layout = Layout::from_size_align(len, 4096).expect("segment layout");
        assert!(layout.size() > 0 && len % 8 == 0);
        // SAFETY: the layout has a non-zero size (asserted above).
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        let base = NonNull::new(ptr).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        Segment {
            base,
            len,
            keep: Keep::Heap { layout },
            #[cfg(loom)]
            words: (0..len / 8).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Maps all of `file` (`len` bytes) shared, read-write.
    #[cfg(not(loom))]
    pub(crate) fn map(file: std::fs::File, len: usize) -> std::io::Result<Segment> {
        let map = memmap2::MmapOptions::new().len(len).map_raw(&file)?;
        let base = NonNull::new(map.as_mut_ptr())
            .ok_or_else(|| std::io::Error::other("mmap returned a null pointer"))?;
        Ok(Segment {
            base,
            len,
            keep: Keep::Map {
                _map: map,
                file: std::sync::Mutex::new(Some(file)),
            },
        })
    }

    /// A duplicate of the segment's file descriptor (close-on-exec), while it is kept.
    #[cfg(not(loom))]
    pub(crate) fn dup_fd(&self) -> Option<std::io::Result<std::os::fd::OwnedFd>> {
        match &self.keep {
            Keep::Map { file, .. } => file
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
                .map(|f| std::os::fd::AsFd::as_fd(f).try_clone_to_owned()),
            Keep::Heap { .. } => None,
        }
    }

    /// Closes the segment's file descriptor; the mapping stays valid.
    #[cfg(not(loom))]
    pub(crate) fn forget_fd(&self) {
        if let Keep::Map { file, .. } = &self.keep {
            file.lock().unwrap_or_else(|e| e.into_inner()).take();
        }
    }

    /// Length of the region in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Raw pointer to the first byte.
    pub(crate) fn base(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    /// The 8-byte word at byte offset `off`, as an atomic.
    ///
    /// Panics if `off` is misaligned or out of bounds; callers compute offsets from validated
    /// values, so a panic here is a bug in this crate, never a peer's doing.
    #[cfg(not(loom))]
    pub(crate) fn word(&self, off: usize) -> &AtomicU64 {
        assert!(
            off % 8 == 0 && off.checked_add(8).is_some_and(|end| end <= self.len),
            "segment word offset {off} out of bounds for {} bytes",
            self.len
        );
        // SAFETY: `off` is 8-aligned and `off + 8 <= len` (asserted), and the base is 4096-aligned,
        // so the pointer is in bounds and aligned for `AtomicU64`. The memory stays mapped for the
        // lifetime of `&self`. `AtomicU64` has the same size and layout as `u64`, and every
        // process accesses these words only atomically.
        unsafe { &*self.base.as_ptr().add(off).cast::<AtomicU64>() }
    }

    /// The 8-byte word at byte offset `off`, as an atomic (loom side table).
    #[cfg(loom)]
    pub(crate) fn word(&self, off: usize) -> &AtomicU64 {
        assert!(off % 8 == 0 && off + 8 <= self.len);
        &self.words[off / 8]
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        match &self.keep {
            // `MmapRaw` unmaps and `File` closes by their own `Drop`.
            #[cfg(not(loom))]
            Keep::Map { .. } => {}
            Keep::Heap { layout } => {
                // SAFETY: `base` was returned by `alloc_zeroed(layout)` in `heap` and is freed
                // only here, once.
                unsafe { std::alloc::dealloc(self.base.as_ptr(), *layout) };
            }
        }
    }
}
