//! Everything `unsafe` in the crate, fenced here: the rest of the crate
//! denies `unsafe_code`.
//!
//! - [`platform`]: `fork`, `waitpid`, `kill` and the parent-death signal,
//!   through libc (Unix only).
//! - [`shm`]: regions of memory shared with other processes (the inboxes
//!   of loops), reached through raw pointers.
//! - [`futex`]: waiting on a shared word until another process changes it.
//! - [`ring`]: rings of records in shared memory, from one process to a
//!   loop of another; its protocol (in `ring::core`, with no `unsafe`) is
//!   checked by `loom`.
//! - [`pool`]: buffers in shared memory, counted per process, written in
//!   place by their one holder and read by every process that receives
//!   them.
//! - [`inline`]: small argument tuples stored inline in a queued message
//!   instead of in a heap allocation, which the emitting thread would make
//!   and the receiving thread free (measured: 40% of the time of a one-way
//!   stream of small signals between two threads went to the allocator).
//!
//! Each `unsafe` block states the invariant it relies on; `cargo miri test`
//! runs the unit tests of `inline`.

/// A large byte vector (a payload from another process), copied from
/// `bytes` into memory of its own: for several MiB, huge pages are asked
/// for first, which makes the copy several times faster on a fresh
/// allocation (measured on a virtual machine: 64 MiB in 10 ms instead of
/// 40, most of which was faulting in 16,384 small pages).
pub(crate) fn vec_from_large(bytes: &[u8]) -> Vec<u8> {
    const LARGE: usize = 4 << 20;
    if bytes.len() < LARGE {
        return bytes.to_vec();
    }
    let mut vec = Vec::with_capacity(bytes.len());
    platform::advise_huge_pages(vec.spare_capacity_mut());
    vec.extend_from_slice(bytes);
    vec
}

pub(crate) mod futex;
pub(crate) mod inline;
pub(crate) mod platform;
pub(crate) mod pool;
pub(crate) mod ring;
pub(crate) mod shm;
