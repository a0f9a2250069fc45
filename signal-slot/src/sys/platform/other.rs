//! Platforms without `fork`: child processes are not available.

use std::io;

use super::{RawExit, Signal};

#[allow(dead_code)] // fork always fails here
pub(crate) enum Forked {
    Parent { pid: u32 },
    Child,
}

fn unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "child processes need fork, which this platform lacks",
    )
}

pub(crate) fn fork() -> io::Result<Forked> {
    Err(unsupported())
}

pub(crate) fn wait(_pid: u32) -> io::Result<RawExit> {
    Err(unsupported())
}

pub(crate) fn send_signal(_pid: u32, _signal: Signal) -> io::Result<()> {
    Err(unsupported())
}

pub(crate) fn signal_name(_signal: i32) -> &'static str {
    "a signal"
}

pub(crate) fn reap(_pid: u32) -> io::Result<()> {
    Err(unsupported())
}

pub(crate) fn prepare_lifeline() {}

pub(crate) fn die_with_parent() {}

/// False: no child processes here.
pub(crate) const PROCESSES: bool = false;

/// False: no `fork` here.
pub(crate) const FORK: bool = false;

/// Huge pages are not asked for here.
pub(crate) fn advise_huge_pages(_memory: &mut [std::mem::MaybeUninit<u8>]) {}
