//! Unix: `fork`, `waitid`/`waitpid`, `kill`, and the parent-death watch:
//! calls into libc, each with the invariant it relies on.

use std::io;
use std::sync::OnceLock;

use super::{RawExit, Signal};

/// Which side of a `fork` this is.
pub(crate) enum Forked {
    Parent { pid: u32 },
    Child,
}

/// Forks the process.
///
/// The child has only the calling thread: a lock held by another thread at
/// the time of the fork is never released there. The caller holds the
/// library's locks across the call and keeps the library's threads between
/// tasks; locks of other code (the user's threads) are the user's to keep
/// quiet (see `EventLoopProcess`).
pub(crate) fn fork() -> io::Result<Forked> {
    // SAFETY: `fork` has no memory-safety preconditions of its own; what
    // the child may then find locked is a liveness matter, handled above.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent {
            pid: u32::try_from(pid).map_err(io::Error::other)?,
        }),
    }
}

/// Waits for the child `pid` to end, without reaping it: until [`reap`],
/// its pid cannot be reused, so it can still be signalled safely.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn wait(pid: u32) -> io::Result<RawExit> {
    let id = libc::id_t::try_from(pid).map_err(io::Error::other)?;
    loop {
        // SAFETY: an all-zero `siginfo_t` is a valid value to overwrite.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is valid and writable for the duration of the call.
        let result =
            unsafe { libc::waitid(libc::P_PID, id, &mut info, libc::WEXITED | libc::WNOWAIT) };
        if result != 0 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(error);
        }
        // SAFETY: `waitid` succeeded for a child that exited, so the
        // status field of `info` is set.
        let status = unsafe { info.si_status() };
        return match info.si_code {
            libc::CLD_EXITED => Ok(RawExit::Code(status)),
            libc::CLD_KILLED | libc::CLD_DUMPED => Ok(RawExit::Signal(status)),
            other => Err(io::Error::other(format!("unexpected wait code {other}"))),
        };
    }
}

/// Waits for the child `pid` to end (elsewhere than Linux, reaping it).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn wait(pid: u32) -> io::Result<RawExit> {
    let status = waitpid(pid)?;
    if libc::WIFEXITED(status) {
        Ok(RawExit::Code(libc::WEXITSTATUS(status)))
    } else if libc::WIFSIGNALED(status) {
        Ok(RawExit::Signal(libc::WTERMSIG(status)))
    } else {
        Err(io::Error::other(format!("unexpected wait status {status}")))
    }
}

/// Reaps the child `pid` after [`wait`] (which on Linux leaves it unreaped).
pub(crate) fn reap(pid: u32) -> io::Result<()> {
    if cfg!(any(target_os = "linux", target_os = "android")) {
        waitpid(pid).map(|_| ())
    } else {
        Ok(())
    }
}

fn waitpid(pid: u32) -> io::Result<libc::c_int> {
    let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: `status` is a valid, writable `c_int` for the duration of
        // the call; `pid` names a child of this process.
        let result = unsafe { libc::waitpid(pid, &mut status, 0) };
        if result == pid {
            return Ok(status);
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// Sends `signal` to the process `pid`.
pub(crate) fn send_signal(pid: u32, signal: Signal) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
    let signal = match signal {
        Signal::Terminate => libc::SIGTERM,
        Signal::Kill => libc::SIGKILL,
        Signal::Stop => libc::SIGSTOP,
        Signal::Continue => libc::SIGCONT,
    };
    // SAFETY: `kill` takes plain integers and has no memory effects here.
    if unsafe { libc::kill(pid, signal) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The name of a signal number, for messages.
pub(crate) fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

/// A pipe whose write end only the first process of the tree keeps open:
/// when that process ends, however it ends, every child reading the other
/// end sees end-of-file. (The parent-death signal of Linux would fire when
/// the forking *thread* ends, not the process.)
static LIFELINE: OnceLock<Option<[libc::c_int; 2]>> = OnceLock::new();

/// Creates the lifeline; called before the first fork.
pub(crate) fn prepare_lifeline() {
    LIFELINE.get_or_init(|| {
        let mut ends = [0 as libc::c_int; 2];
        // SAFETY: `ends` is a valid, writable array of two `c_int`s.
        let result = unsafe { libc::pipe(ends.as_mut_ptr()) };
        if result != 0 {
            return None;
        }
        for end in ends {
            // SAFETY: `end` is a descriptor `pipe` just returned; setting
            // close-on-exec keeps it out of programs this process executes.
            unsafe { libc::fcntl(end, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
        Some(ends)
    });
}

/// Makes this (child) process end when the first process of its tree does,
/// so that a parent that crashes or is killed leaves no orphans.
pub(crate) fn die_with_parent() {
    let Some(Some([read_end, write_end])) = LIFELINE.get().copied() else {
        return;
    };
    // SAFETY: `write_end` is this process's inherited copy of the pipe's
    // write end, owned by nothing else here; closing it leaves the parent's
    // copy as the only one that keeps the pipe open.
    unsafe { libc::close(write_end) };
    let watch = move || {
        let mut byte = 0u8;
        loop {
            // SAFETY: `byte` is a valid one-byte buffer; `read_end` stays
            // open for the life of the process.
            let read = unsafe { libc::read(read_end, (&raw mut byte).cast(), 1) };
            if read < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            // End of file (or an error): the parent is gone.
            std::process::exit(137);
        }
    };
    let _ = std::thread::Builder::new()
        .name("parent-watch".to_owned())
        .spawn(watch);
}

/// True: child processes are available here.
pub(crate) const PROCESSES: bool = true;

/// True: processes can be started by `fork` here.
pub(crate) const FORK: bool = true;

/// Asks for huge pages (where the system gives them when asked: Linux's
/// transparent huge pages in `madvise` mode) for the 2 MiB blocks that lie
/// wholly within `memory`: one page fault a block when it is first
/// written, instead of 512. A hint only: failures are ignored.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn advise_huge_pages(memory: &mut [std::mem::MaybeUninit<u8>]) {
    const HUGE: usize = 2 << 20;
    let start = memory.as_mut_ptr() as usize;
    let first = start.next_multiple_of(HUGE);
    let end = (start + memory.len()) / HUGE * HUGE;
    if end <= first {
        return;
    }
    // SAFETY: `[first, end)` lies within `memory`, which this process owns
    // (a `&mut` borrow); MADV_HUGEPAGE changes how its pages are backed,
    // never what they hold.
    unsafe {
        libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
    }
}

/// Huge pages are Linux's to give: elsewhere, nothing to ask.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn advise_huge_pages(_memory: &mut [std::mem::MaybeUninit<u8>]) {}
