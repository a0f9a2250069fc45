//! Unix: `fork`, `waitpid`, `kill`, and the parent-death watch.
//!
//! This is the crate's only `unsafe` code: calls into libc, each with the
//! invariant it relies on.

use std::io;
use std::time::Duration;

use super::{RawExit, Signal};

/// Which side of a `fork` this is.
pub(crate) enum Forked {
    Parent { pid: u32 },
    Child,
}

/// Forks the process.
///
/// The caller must hold every lock that the child will take (the child has
/// only the calling thread: a lock held by another thread at the time of the
/// fork would never be released there).
pub(crate) fn fork() -> io::Result<Forked> {
    // SAFETY: `fork` has no memory-safety preconditions of its own. The child
    // runs only code that takes locks the caller holds across the call (see
    // above), the allocator (glibc's malloc is fork-safe through its atfork
    // handlers), and fresh threads it spawns itself.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent {
            pid: u32::try_from(pid).map_err(io::Error::other)?,
        }),
    }
}

/// Waits for the child `pid` to end and reaps it.
pub(crate) fn wait(pid: u32) -> io::Result<RawExit> {
    let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: `status` is a valid, writable `c_int` for the duration of
        // the call; `pid` names a child of this process.
        let result = unsafe { libc::waitpid(pid, &mut status, 0) };
        if result == pid {
            break;
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
    if libc::WIFEXITED(status) {
        Ok(RawExit::Code(libc::WEXITSTATUS(status)))
    } else if libc::WIFSIGNALED(status) {
        Ok(RawExit::Signal(libc::WTERMSIG(status)))
    } else {
        Err(io::Error::other(format!("unexpected wait status {status}")))
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

/// This process's parent.
fn parent_pid() -> u32 {
    std::os::unix::process::parent_id()
}

/// Makes the calling (child) process end when its parent does, so that a
/// parent that crashes or is killed leaves no orphans. `parent` is the pid
/// the child was forked from.
pub(crate) fn die_with_parent(parent: u32) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // SAFETY: `prctl(PR_SET_PDEATHSIG, sig)` takes plain integers.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        // No parent-death signal: watch for re-parenting instead.
        let _ = std::thread::Builder::new()
            .name("parent-watch".to_owned())
            .spawn(move || {
                while parent_pid() == parent {
                    std::thread::sleep(Duration::from_millis(100));
                }
                std::process::exit(137);
            });
    }
    // The parent may have died between the fork and the line above.
    if parent_pid() != parent {
        std::process::exit(137);
    }
    let _ = Duration::ZERO;
}

/// True: child processes are available here.
pub(crate) const PROCESSES: bool = true;
