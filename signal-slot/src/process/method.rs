//! How a child process starts: by fork or by spawn, the default for those
//! that do not choose, and the program a child started by spawn runs.

#[cfg(doc)]
use super::{EventLoopProcess, init_process};

/// How a child process starts.
///
/// - [`Fork`](Self::Fork): a copy of the parent (Unix only). Fast, and
///   everything set up before `start` is there as it was, closures and
///   all; but a copy of a process whose other threads held locks (of a GPU
///   driver, a logger, an allocator) may find them locked forever. Start
///   forked processes before other threads, or while they are quiet.
/// - [`Spawn`](Self::Spawn): a fresh run of the current executable (or of
///   the program [`EventLoopProcess::spawn_program`] names), which takes
///   its role in [`init_process`] before its `main` does anything else. Safe whatever the parent's threads do, and available on every
///   platform; objects travel as their serialized state (their type must
///   implement `Serialize` and `Deserialize`) and init functions by
///   registered name (`#[signal_slot::init]`).
///
/// The default is [`platform_default`](Self::platform_default), unless
/// [`set_start_method`] or the `SIGNAL_SLOT_START_METHOD` environment
/// variable (`fork` or `spawn`) says otherwise;
/// [`EventLoopProcess::start_method`] chooses for one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StartMethod {
    /// A copy of the parent, by `fork`.
    Fork,
    /// A fresh run of the current executable.
    Spawn,
}

impl StartMethod {
    /// Fork on Linux (as Python there, and as fast as it gets), spawn on
    /// macOS (whose system libraries are not safe to use after a fork,
    /// as Python there) and wherever fork does not exist.
    pub const fn platform_default() -> StartMethod {
        if cfg!(target_os = "linux") || cfg!(target_os = "android") {
            StartMethod::Fork
        } else {
            StartMethod::Spawn
        }
    }
}

/// The start method of processes that do not choose one: 0 unset, 1 fork,
/// 2 spawn.
static DEFAULT_START_METHOD: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Sets how processes that do not choose start (see [`StartMethod`]).
pub fn set_start_method(method: StartMethod) {
    let code = match method {
        StartMethod::Fork => 1,
        StartMethod::Spawn => 2,
    };
    DEFAULT_START_METHOD.store(code, std::sync::atomic::Ordering::Relaxed);
}

/// How processes that do not choose start.
pub fn start_method() -> StartMethod {
    match DEFAULT_START_METHOD.load(std::sync::atomic::Ordering::Relaxed) {
        1 => StartMethod::Fork,
        2 => StartMethod::Spawn,
        _ => match std::env::var("SIGNAL_SLOT_START_METHOD").as_deref() {
            Ok("fork") => StartMethod::Fork,
            Ok("spawn") => StartMethod::Spawn,
            _ => StartMethod::platform_default(),
        },
    }
}

/// The program a child started by spawn runs, and its arguments (see
/// [`EventLoopProcess::spawn_program`]).
#[derive(Debug, Clone)]
pub(super) struct SpawnProgram {
    pub(super) program: std::path::PathBuf,
    pub(super) args: Vec<std::ffi::OsString>,
}
