//! Ctrl-C: loops that run end with [`ExitStatus::Interrupted`](crate::ExitStatus).
//!
//! While at least one loop that catches interrupts runs, SIGINT sets a flag
//! that every such loop polls; a second SIGINT while the flag is still set
//! ends the process, so that a stuck program can always be interrupted. The
//! handler only stores an atomic, so it is safe across `fork`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;

/// How often a blocked loop looks at the flag.
pub(crate) const POLL: Duration = Duration::from_millis(50);

static FLAG: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(false)));

struct Armed {
    loops: usize,
    hooks: Vec<signal_hook::SigId>,
}

static ARMED: Mutex<Armed> = Mutex::new(Armed {
    loops: 0,
    hooks: Vec::new(),
});

/// Keeps the SIGINT handler installed while alive.
pub(crate) struct Guard(());

/// Installs the handler if no loop has yet.
pub(crate) fn arm() -> Guard {
    let mut armed = ARMED.lock().unwrap_or_else(PoisonError::into_inner);
    if armed.loops == 0 {
        FLAG.store(false, Ordering::SeqCst);
        let sigint = signal_hook::consts::SIGINT;
        // Order matters: the conditional shutdown looks at the flag before
        // the second hook sets it.
        let hooks = [
            signal_hook::flag::register_conditional_shutdown(sigint, 130, FLAG.clone()),
            signal_hook::flag::register(sigint, FLAG.clone()),
        ];
        for hook in hooks {
            match hook {
                Ok(id) => armed.hooks.push(id),
                Err(error) => {
                    tracing::warn!(%error, "cannot install the Ctrl-C handler; loops will not stop on Ctrl-C");
                }
            }
        }
    }
    armed.loops += 1;
    Guard(())
}

impl Drop for Guard {
    fn drop(&mut self) {
        let mut armed = ARMED.lock().unwrap_or_else(PoisonError::into_inner);
        armed.loops -= 1;
        if armed.loops == 0 {
            for id in armed.hooks.drain(..) {
                signal_hook::low_level::unregister(id);
            }
        }
    }
}

/// True once Ctrl-C was pressed while loops run.
pub(crate) fn interrupted() -> bool {
    FLAG.load(Ordering::Relaxed)
}
