//! Platforms without `fork`: child processes are not available.

use std::io;

use super::{RawExit, Signal};

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

pub(crate) fn die_with_parent(_parent: u32) {}

/// False: no child processes here.
pub(crate) const PROCESSES: bool = false;
