//! Ctrl-C: loops that run end with [`ExitStatus::Interrupted`](crate::ExitStatus).
//!
//! The SIGINT hooks are installed once, when the first loop that catches
//! interrupts starts, and stay: while such a loop runs, SIGINT sets a flag
//! that every such loop polls, and a second SIGINT while the flag is still
//! set exits the process (so a stuck program can always be interrupted);
//! while none runs, SIGINT does what it does by default. The hooks only touch
//! atomics, so they are safe across `fork`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;

/// How often a blocked loop looks at the flag.
pub(crate) const POLL: Duration = Duration::from_millis(50);

/// Set by SIGINT while loops run.
static INTERRUPTED: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(false)));

/// True while no loop catches interrupts: SIGINT then acts as by default.
static IDLE: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(true)));

struct Hooks {
    installed: bool,
    loops: usize,
}

static HOOKS: Mutex<Hooks> = Mutex::new(Hooks {
    installed: false,
    loops: 0,
});

/// The hooks' lock, held across `fork` so that a child never inherits it
/// held by a thread that is not there.
pub(crate) struct HooksLock(std::sync::MutexGuard<'static, Hooks>);

pub(crate) fn hold() -> HooksLock {
    HooksLock(HOOKS.lock().unwrap_or_else(PoisonError::into_inner))
}

impl HooksLock {
    /// In a freshly forked child: the parent's running loops do not run
    /// here, so they no longer keep SIGINT from its default action.
    pub(crate) fn forget_loops(&mut self) {
        self.0.loops = 0;
        IDLE.store(true, Ordering::SeqCst);
    }
}

/// Makes SIGINT interrupt loops while alive.
pub(crate) struct Guard(());

/// Marks one more loop as catching interrupts.
pub(crate) fn arm() -> Guard {
    let mut hooks = HOOKS.lock().unwrap_or_else(PoisonError::into_inner);
    if !hooks.installed {
        hooks.installed = true;
        install();
    }
    if hooks.loops == 0 {
        INTERRUPTED.store(false, Ordering::SeqCst);
        IDLE.store(false, Ordering::SeqCst);
    }
    hooks.loops += 1;
    Guard(())
}

fn install() {
    let sigint = signal_hook::consts::SIGINT;
    // Order matters: each hook looks at the flags before the next sets them.
    let results = [
        signal_hook::flag::register_conditional_default(sigint, IDLE.clone()),
        signal_hook::flag::register_conditional_shutdown(sigint, 130, INTERRUPTED.clone()),
        signal_hook::flag::register(sigint, INTERRUPTED.clone()),
    ];
    for result in results {
        if let Err(error) = result {
            tracing::warn!(%error, "cannot install the Ctrl-C handler; loops will not stop on Ctrl-C");
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let mut hooks = HOOKS.lock().unwrap_or_else(PoisonError::into_inner);
        hooks.loops -= 1;
        if hooks.loops == 0 {
            IDLE.store(true, Ordering::SeqCst);
        }
    }
}

/// Initializes this module's lazy globals (see
/// `transport::initialize_globals`).
pub(crate) fn initialize_globals() {
    LazyLock::force(&INTERRUPTED);
    LazyLock::force(&IDLE);
}

/// True once Ctrl-C was pressed while loops run.
pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}
