//! Windows: child processes start by spawn only (there is no `fork`);
//! they are waited for and ended through process handles.

use std::io;

use windows::Win32::Foundation::{CloseHandle, HANDLE, WAIT_OBJECT_0};
use windows::Win32::System::Threading::{
    GetExitCodeProcess, INFINITE, OpenProcess, PROCESS_ACCESS_RIGHTS,
    PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_SYNCHRONIZE, PROCESS_TERMINATE, TerminateProcess,
    WaitForSingleObject,
};

use super::{RawExit, Signal};

#[allow(dead_code)] // fork always fails here
pub(crate) enum Forked {
    Parent { pid: u32 },
    Child,
}

pub(crate) fn fork() -> io::Result<Forked> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "Windows has no fork: start processes by spawn",
    ))
}

/// A handle to a process, closed when dropped.
struct Process(HANDLE);

impl Process {
    fn open(pid: u32, access: PROCESS_ACCESS_RIGHTS) -> io::Result<Process> {
        // SAFETY: `OpenProcess` only reads its arguments; the handle it
        // returns is owned by the `Process`, which closes it once.
        unsafe { OpenProcess(access, false, pid) }
            .map(Process)
            .map_err(io::Error::other)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // SAFETY: the handle was opened by `Process::open` and is closed
        // only here.
        let _ = unsafe { CloseHandle(self.0) };
    }
}

/// Waits for the child `pid` to end. The parent keeps the child's own
/// handle until it has recorded the exit, so the pid is not reused before.
pub(crate) fn wait(pid: u32) -> io::Result<RawExit> {
    let process = Process::open(pid, PROCESS_SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION)?;
    // SAFETY: `process.0` is a valid handle with the SYNCHRONIZE right.
    let waited = unsafe { WaitForSingleObject(process.0, INFINITE) };
    if waited != WAIT_OBJECT_0 {
        return Err(io::Error::last_os_error());
    }
    let mut code = 0u32;
    // SAFETY: `process.0` is a valid handle with the query right; `code` is
    // a valid place for the exit code.
    unsafe { GetExitCodeProcess(process.0, &mut code) }.map_err(io::Error::other)?;
    Ok(RawExit::Code(code as i32))
}

/// Nothing to reap on Windows.
pub(crate) fn reap(_pid: u32) -> io::Result<()> {
    Ok(())
}

/// Ends the child (`Terminate` and `Kill` alike: Windows has no signals);
/// it cannot be suspended.
pub(crate) fn send_signal(pid: u32, signal: Signal) -> io::Result<()> {
    match signal {
        Signal::Terminate | Signal::Kill => {
            let process = Process::open(pid, PROCESS_TERMINATE)?;
            // SAFETY: `process.0` is a valid handle with the TERMINATE
            // right.
            unsafe { TerminateProcess(process.0, 1) }.map_err(io::Error::other)
        }
        Signal::Stop | Signal::Continue => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "processes cannot be suspended on Windows",
        )),
    }
}

pub(crate) fn signal_name(_signal: i32) -> &'static str {
    "a signal"
}

/// Spawned children watch their parent through an ipc-channel lifeline.
pub(crate) fn prepare_lifeline() {}

pub(crate) fn die_with_parent() {}

/// True: child processes (by spawn) are available here.
pub(crate) const PROCESSES: bool = true;

/// False: no `fork` here.
pub(crate) const FORK: bool = false;

/// Huge pages are not asked for here.
pub(crate) fn advise_huge_pages(_memory: &mut [std::mem::MaybeUninit<u8>]) {}
