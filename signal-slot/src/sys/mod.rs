//! Everything `unsafe` in the crate, fenced here: the rest of the crate
//! denies `unsafe_code`.
//!
//! - [`platform`]: `fork`, `waitpid`, `kill` and the parent-death signal,
//!   through libc (Unix only).
//! - [`shared`]: atomic counters in memory shared with child processes,
//!   for the exact accounting of what a killed process had received.
//! - [`inline`]: small argument tuples stored inline in a queued message
//!   instead of in a heap allocation, which the emitting thread would make
//!   and the receiving thread free (measured: 40% of the time of a one-way
//!   stream of small signals between two threads went to the allocator).
//!
//! Each `unsafe` block states the invariant it relies on; `cargo miri test`
//! runs the unit tests of `inline`.

pub(crate) mod inline;
pub(crate) mod platform;
pub(crate) mod shared;
