//! Where entries' text lives: blocks mapped from the kernel, outside the allocator's heap.
//!
//! Entries written one after the other into a block, the oldest block given back (or used
//! again) once its entries are gone. Kept in glibc's heap, 10,000 entries of a few KiB
//! were 10,000 live blocks among which every other allocation of the server searched for
//! room: `/info` lost 2–3 % of its rate to `_int_malloc` and `unlink_chunk` alone
//! (BENCHMARKS.md, "Request journal").

use std::ptr::NonNull;
use std::sync::Arc;

/// A block of memory of its own mapping. Its bytes are only reached through a
/// [`Reservation`] (written once, by one writer) and then through the entry that range
/// became (read only).
pub struct Segment {
    start: NonNull<u8>,
    len: usize,
}

// SAFETY: a segment is plain memory; who may write which range of it is decided under
// the journal's lock (a range is reserved for one writer, and a segment is used again
// only when nothing else holds it), and a written range is only read after its entry
// was published under that lock, which orders the writes before the reads.
unsafe impl Send for Segment {}
unsafe impl Sync for Segment {}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment").field("len", &self.len).finish()
    }
}

const PAGE: usize = 4096;

impl Segment {
    /// A new segment of at least `len` bytes (whole pages); `None` when the kernel has
    /// no memory to map.
    pub fn map(len: usize) -> Option<Self> {
        let len = len.max(1).next_multiple_of(PAGE);
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing
        // touches no existing memory; the result is checked before use.
        let at = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if at == libc::MAP_FAILED {
            return None;
        }
        NonNull::new(at.cast::<u8>()).map(|start| Self { start, len })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The bytes `start..start + len`, written before the entry that holds them was
    /// published.
    pub fn read(&self, start: usize, len: usize) -> &[u8] {
        assert!(start.checked_add(len).is_some_and(|end| end <= self.len));
        // SAFETY: in bounds (checked above); see `Send`/`Sync` for why no one writes
        // these bytes while they are read.
        unsafe { std::slice::from_raw_parts(self.start.as_ptr().add(start), len) }
    }
}

impl Segment {
    /// Asks the CPU to bring `start..start + len` (from the line `start` is in, cut to
    /// the segment) into its cache:
    /// the next entries are written there, and a text written into lines fetched from
    /// memory on the way waits for each of them.
    pub fn prefetch(&self, start: usize, len: usize) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            let end = start.saturating_add(len).min(self.len);
            for at in (start & !63..end).step_by(64) {
                // SAFETY: in the mapping (`at < self.len`); a prefetch reads nothing a
                // program can see and never faults. SSE is part of x86_64.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(self.start.as_ptr().add(at).cast()) };
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (start, len);
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, of this length, unmapped once; no reference
        // into it outlives the segment (every one borrows it or holds its `Arc`).
        unsafe { libc::munmap(self.start.as_ptr().cast(), self.len) };
    }
}

/// A range of a segment only its holder writes, once, before it becomes an entry's text.
pub struct Reservation {
    segment: Arc<Segment>,
    /// The journal's name for the segment.
    id: u64,
    start: usize,
    len: usize,
}

impl Reservation {
    /// `segment`'s bytes `start..start + len`, which no one else writes or reads until the
    /// reservation is made an entry. The journal's lock is what makes that so.
    pub(super) fn new(segment: Arc<Segment>, id: u64, start: usize, len: usize) -> Self {
        assert!(
            start
                .checked_add(len)
                .is_some_and(|end| end <= segment.len())
        );
        Self {
            segment,
            id,
            start,
            len,
        }
    }

    /// A segment of its own, for an entry made outside any journal (tests).
    pub fn standalone(len: usize) -> Option<Self> {
        Segment::map(len).map(|s| Self::new(Arc::new(s), u64::MAX, 0, len))
    }

    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: in bounds (checked in `new`); the range is this reservation's alone,
        // and `&mut self` makes this the only reference to it.
        unsafe {
            std::slice::from_raw_parts_mut(self.segment.start.as_ptr().add(self.start), self.len)
        }
    }

    /// The segment, its id and where the range starts.
    pub fn into_parts(self) -> (Arc<Segment>, u64, usize) {
        (self.segment, self.id, self.start)
    }
}
