//! The crate's `unsafe`, fenced here: the interpreter's own preparations
//! around a fork, and the memory of a shared buffer lent to Python to read
//! in place.
#![allow(unsafe_code)]

pub(crate) mod buffer;
pub(crate) mod fork;
