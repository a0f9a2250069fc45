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

pub(crate) mod futex;
pub(crate) mod inline;
pub(crate) mod platform;
pub(crate) mod pool;
pub(crate) mod ring;
pub(crate) mod shm;
