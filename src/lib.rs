//! Examples and behaviour tests of the signal-slot workspace. The README is
//! included here so that its code is compiled by `cargo test`.
#![doc = include_str!("../README.md")]
