//! Counters shared by a parent and its children: memory mapped before the
//! first `fork`, so every process sees the same atomics.

use std::sync::atomic::AtomicU64;

/// A fixed array of atomic counters shared with child processes.
pub(crate) struct SharedCounters {
    counters: &'static [AtomicU64],
}

impl SharedCounters {
    /// Maps `len` zeroed counters. They live as long as the process (they
    /// are meant to be created once, before any `fork`).
    pub(crate) fn new(len: usize) -> std::io::Result<Self> {
        Ok(SharedCounters {
            counters: map_shared(len)?,
        })
    }

    /// Counter `index`, if there is one.
    pub(crate) fn get(&self, index: usize) -> Option<&AtomicU64> {
        self.counters.get(index)
    }
}

#[cfg(unix)]
fn map_shared(len: usize) -> std::io::Result<&'static [AtomicU64]> {
    let bytes = len
        .checked_mul(size_of::<AtomicU64>())
        .ok_or_else(|| std::io::Error::other("too many shared counters"))?;
    // SAFETY: an anonymous shared mapping with no address hint: it aliases
    // no existing memory. The result is checked before use.
    let address = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if address == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the mapping is `bytes` long, page-aligned (so aligned for
    // `AtomicU64`), zero-filled (a valid `AtomicU64` is any bit pattern),
    // and never unmapped, so it lives for `'static`. Shared with children
    // only through `fork`; every access is atomic.
    Ok(unsafe { std::slice::from_raw_parts(address.cast::<AtomicU64>(), len) })
}

#[cfg(not(unix))]
fn map_shared(len: usize) -> std::io::Result<&'static [AtomicU64]> {
    // No child processes here: ordinary memory does.
    Ok(Vec::from_iter((0..len).map(|_| AtomicU64::new(0))).leak())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    // Miri does not model shared mappings.
    #[cfg_attr(miri, ignore)]
    fn counters_start_at_zero_and_count() {
        let counters = SharedCounters::new(8).unwrap();
        assert!(counters.get(8).is_none());
        let counter = counters.get(7).unwrap();
        assert_eq!(counter.load(Ordering::Relaxed), 0);
        counter.fetch_add(3, Ordering::Relaxed);
        assert_eq!(counters.get(7).unwrap().load(Ordering::Relaxed), 3);
    }
}
