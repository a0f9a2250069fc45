//! The shared-memory ring's protocol (`signal-slot/src/sys/ring/core.rs`)
//! under loom, in a crate of its own: the protocol needs only `std`, so
//! that `--cfg loom` rebuilds loom and this file, not every dependency of
//! the library. Its models are the file's own tests:
//!
//! ```text
//! LOOM_MAX_PREEMPTIONS=3 RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test -p signal-slot-loom
//! ```
//!
//! (`RUSTFLAGS="--cfg loom" cargo test -p signal-slot --lib sys::ring::core`
//! runs the same models inside the library.)

// The protocol's users are in the library; here only its tests use it.
#![allow(dead_code)]

#[path = "../../signal-slot/src/sys/ring/core.rs"]
mod ring;
