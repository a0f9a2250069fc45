//! Memory shared with other processes: a region mapped from an
//! [`IpcSharedMemory`], reached through raw pointers, with atomics at fixed
//! offsets.
//!
//! The region is created zeroed (a valid value for every atomic), and is
//! handed to another process by sending [`SharedRegion::share`] over an
//! ipc channel. Both processes then see the same bytes. What lives in a
//! region, and who may write where, is the business of the code above
//! (`sys::ring`, `transport::bell`); this module only hands out
//! atomics (always sound to share) and byte ranges (sound only under that
//! code's protocol, hence `unsafe`).

use std::io;
use std::sync::atomic::{AtomicU32, AtomicU64};

use ipc_channel::ipc::IpcSharedMemory;

/// A region of memory shared with other processes.
pub(crate) struct SharedRegion {
    /// Keeps the mapping (and, on Unix, its descriptor) alive.
    memory: IpcSharedMemory,
    base: *mut u8,
    len: usize,
}

// SAFETY: the region is plain memory that other processes access too;
// this process accesses it only through atomics (thread-safe) and through
// the byte ranges of `bytes`/`bytes_mut`, whose callers promise the
// exclusive (or read-only) access the protocol above gives them.
unsafe impl Send for SharedRegion {}
// SAFETY: as for `Send`: `&SharedRegion` hands out only atomics and the
// `unsafe` range accessors.
unsafe impl Sync for SharedRegion {}

/// The alignment of every offset handed to the atomic accessors.
const WORD: usize = 8;

impl SharedRegion {
    /// A new zeroed region of `len` bytes (a multiple of the page size is
    /// best). On Linux, pages past the first are given back to the system
    /// at once and come back, zeroed, when first written: a large region
    /// costs memory only as far as it is used.
    pub(crate) fn create(len: usize) -> io::Result<SharedRegion> {
        if len < WORD {
            return Err(io::Error::other("a shared region of less than a word"));
        }
        let region = Self::open(IpcSharedMemory::from_byte(0, len))?;
        #[cfg(any(target_os = "linux", target_os = "android"))]
        region.release_pages(4096);
        Ok(region)
    }

    /// Maps a region another process shared with this one.
    pub(crate) fn open(mut memory: IpcSharedMemory) -> io::Result<SharedRegion> {
        // SAFETY: `memory` is owned here and not cloned: nothing else in
        // this process refers to its mapping. The pointer taken from the
        // unique reference is the only way the region is reached from now
        // on, so no reference to the bytes outlives this line.
        let bytes = unsafe { memory.deref_mut() };
        let (base, len) = (bytes.as_mut_ptr(), bytes.len());
        if len < WORD || base.align_offset(WORD) != 0 {
            return Err(io::Error::other("a shared region that is not word-aligned"));
        }
        Ok(SharedRegion { memory, base, len })
    }

    /// A copy of the region's handle, to send to another process.
    pub(crate) fn share(&self) -> IpcSharedMemory {
        self.memory.clone()
    }

    /// The region's size in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn check(&self, offset: usize, size: usize) {
        assert!(
            offset.is_multiple_of(size)
                && offset.checked_add(size).is_some_and(|end| end <= self.len),
            "atomic at {offset} out of a region of {} bytes",
            self.len
        );
    }

    /// The 64-bit atomic at `offset` (a multiple of 8 within the region).
    ///
    /// # Panics
    ///
    /// If `offset` is misaligned or out of the region: a bug of the caller,
    /// whose offsets are constants.
    pub(crate) fn atomic_u64(&self, offset: usize) -> &AtomicU64 {
        self.check(offset, 8);
        // SAFETY: in bounds and aligned (checked above); the bytes were
        // zeroed at creation, a valid `AtomicU64`, and are only ever
        // accessed atomically (by every process, by the protocol above);
        // the reference lives no longer than the mapping (`&self`).
        unsafe { &*self.base.add(offset).cast::<AtomicU64>() }
    }

    /// The 32-bit atomic at `offset` (a multiple of 4 within the region).
    ///
    /// # Panics
    ///
    /// As for [`atomic_u64`](Self::atomic_u64).
    pub(crate) fn atomic_u32(&self, offset: usize) -> &AtomicU32 {
        self.check(offset, 4);
        // SAFETY: as for `atomic_u64`, with a 4-byte atomic.
        unsafe { &*self.base.add(offset).cast::<AtomicU32>() }
    }

    /// The bytes `[offset, offset + len)`, to read.
    ///
    /// # Safety
    ///
    /// No process writes these bytes while the slice lives (the caller owns
    /// them by the protocol above: a ring's consumer, for a published
    /// record it has not released).
    ///
    /// # Panics
    ///
    /// If the range is not within the region.
    pub(crate) unsafe fn bytes(&self, offset: usize, len: usize) -> &[u8] {
        assert!(offset.checked_add(len).is_some_and(|end| end <= self.len));
        // SAFETY: in bounds (checked); the caller guarantees that nobody
        // writes the range while it is borrowed.
        unsafe { std::slice::from_raw_parts(self.base.add(offset), len) }
    }

    /// The bytes `[offset, offset + len)`, to write.
    ///
    /// # Safety
    ///
    /// No process reads or writes these bytes while the slice lives, and
    /// no other slice of them exists (the caller owns them by the protocol
    /// above: a ring's producer, for free space it has not published).
    ///
    /// # Panics
    ///
    /// If the range is not within the region.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn bytes_mut(&self, offset: usize, len: usize) -> &mut [u8] {
        assert!(offset.checked_add(len).is_some_and(|end| end <= self.len));
        // SAFETY: in bounds (checked); the caller guarantees exclusive
        // access to the range while it is borrowed.
        unsafe { std::slice::from_raw_parts_mut(self.base.add(offset), len) }
    }

    /// Gives the pages from `from` (rounded up to a page) to the end back
    /// to the system; they read as zeros and are allocated again when
    /// written.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn release_pages(&self, from: usize) {
        const PAGE: usize = 4096;
        let start = from.next_multiple_of(PAGE);
        if start >= self.len || self.base.align_offset(PAGE) != 0 {
            return;
        }
        // SAFETY: the range is within the mapping (checked above) and
        // page-aligned (the mapping is; `start` is a page multiple). The
        // region was just created and is not shared yet: nothing reads the
        // pages, which read as zeros afterwards, as they were.
        let result = unsafe {
            libc::madvise(
                self.base.add(start).cast(),
                self.len - start,
                libc::MADV_REMOVE,
            )
        };
        if result != 0 {
            tracing::debug!(
                error = %io::Error::last_os_error(),
                "cannot release the pages of a new shared region"
            );
        }
    }
}

/// A region that holds one large record at a time: written by the process
/// that creates it, then read by the one loop it is handed to, which lets
/// go of it before it says it has (see `ring::large`); only then may its
/// writer write it again. Its memory goes when the last process that maps
/// it lets it go (or ends): nothing is named in the file system, so
/// nothing outlives the processes.
pub(crate) struct Segment {
    region: SharedRegion,
}

impl Segment {
    /// A new segment of `len` bytes, to write.
    ///
    /// # Errors
    ///
    /// If the system has no memory (or descriptors) for it.
    pub(crate) fn create(len: usize) -> io::Result<Segment> {
        // `ipc-channel` asserts that the memory could be had: a failure is
        // an error here, not a panic of the emitting thread.
        let memory = std::panic::catch_unwind(|| IpcSharedMemory::from_byte(0, len.max(WORD)))
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::OutOfMemory,
                    format!("cannot make a shared region of {len} bytes"),
                )
            })?;
        Ok(Segment {
            region: SharedRegion::open(memory)?,
        })
    }

    /// Opens a segment another process wrote and handed to this one, to
    /// read it.
    pub(crate) fn open(memory: IpcSharedMemory) -> io::Result<Segment> {
        let segment = Segment {
            region: SharedRegion::open(memory)?,
        };
        #[cfg(any(target_os = "linux", target_os = "android"))]
        segment.region.populate_for_reading();
        Ok(segment)
    }

    /// Its bytes, to write.
    ///
    /// # Safety
    ///
    /// No process reads them meanwhile: the segment is new, or the loop it
    /// was handed to has let go of it and will never read it again.
    pub(crate) unsafe fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: the caller guarantees that nobody else reads or writes
        // the bytes; `&mut self` keeps this slice the only one here.
        unsafe { self.region.bytes_mut(0, self.region.len) }
    }

    /// A handle to send to the reader's process.
    pub(crate) fn handle(&self) -> IpcSharedMemory {
        self.region.share()
    }

    /// Its bytes, to read (the reader's side).
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: its writer wrote it in full before handing it over, and
        // writes it again only once the reader has let go of it (this
        // mapping, dropped first); no slice to write exists here (an
        // opened segment is never written).
        unsafe { self.region.bytes(0, self.region.len) }
    }

    /// Its size in bytes.
    pub(crate) fn len(&self) -> usize {
        self.region.len
    }
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("len", &self.region.len)
            .finish()
    }
}

impl SharedRegion {
    /// Maps every page of the region at once, for a reader about to read
    /// it whole: one system call instead of a page fault per page. A hint:
    /// older kernels refuse it, and the pages then come one by one.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn populate_for_reading(&self) {
        // MADV_POPULATE_READ, Linux 5.14 (not in every libc's constants).
        const POPULATE_READ: libc::c_int = 22;
        // SAFETY: the range is this mapping, whole; populating changes
        // which pages are mapped now, never what they hold.
        unsafe {
            libc::madvise(self.base.cast(), self.len, POPULATE_READ);
        }
    }
}

impl std::fmt::Debug for SharedRegion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedRegion")
            .field("len", &self.len)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    // Miri does not model shared mappings.
    #[cfg_attr(miri, ignore)]
    fn two_mappings_see_the_same_bytes() {
        let first = SharedRegion::create(3 * 4096).unwrap();
        let second = SharedRegion::open(first.share()).unwrap();
        first.atomic_u64(8).store(42, Ordering::Release);
        assert_eq!(second.atomic_u64(8).load(Ordering::Acquire), 42);
        // SAFETY: nothing else touches these bytes in this test.
        unsafe { first.bytes_mut(5000, 3) }.copy_from_slice(b"abc");
        // SAFETY: as above.
        assert_eq!(unsafe { second.bytes(5000, 3) }, b"abc");
        // Released pages read as zeros.
        // SAFETY: as above.
        assert!(unsafe { second.bytes(9000, 100) }.iter().all(|&b| b == 0));
        assert_eq!(second.len(), 3 * 4096);
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn a_segment_is_read_elsewhere_as_written() {
        let mut segment = Segment::create(10_000).unwrap();
        // SAFETY: the segment is new and not handed to anyone yet.
        let bytes = unsafe { segment.bytes_mut() };
        bytes[9_990..].copy_from_slice(b"0123456789");
        let read = Segment::open(segment.handle()).unwrap();
        assert_eq!(read.len(), 10_000);
        assert_eq!(&read.bytes()[9_990..], b"0123456789");
        assert!(read.bytes()[..9_990].iter().all(|&b| b == 0));
    }

    #[test]
    #[should_panic(expected = "out of a region")]
    #[cfg_attr(miri, ignore)]
    fn misaligned_atomics_are_refused() {
        let region = SharedRegion::create(4096).unwrap();
        let _ = region.atomic_u64(4);
    }
}
