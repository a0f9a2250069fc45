//! Starting a child by `fork`: the parent's side, and the child's, from the
//! fork to its exit.
//!
//! Between the fork and its loop the child resets what it inherited: loops
//! of other processes become outboxes of its own, its own loop becomes local
//! again, and locks are fresh (the parent holds them across the fork).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipc_channel::ipc::IpcSender;

use crate::error::Error;
use crate::event_loop::{EventLoop, panic_message};
use crate::platform::{self, Forked};
use crate::registry::{Registry, registry};
use crate::status::ExitStatus;
use crate::transport::{LoopPeer, Outbox, Route, RouteUpdate, accounting, routes, spawn_reader};

use super::InitFn;

/// How long a child gives its outboxes to send what they hold when it ends.
const EXIT_FLUSH: Duration = Duration::from_secs(5);

/// What the parent hands to `fork`: the loop and its init function move to
/// the child (and stay here if the fork fails).
pub(super) struct Launch<'a> {
    pub(super) name: &'a Arc<str>,
    pub(super) event_loop: &'a mut Option<Box<EventLoop>>,
    pub(super) init: &'a mut Option<InitFn>,
    pub(super) number: u16,
    pub(super) report: &'a IpcSender<ExitStatus>,
    /// Route updates for the child, once it runs.
    pub(super) control: &'a IpcSender<RouteUpdate>,
}

/// Forks the process. In the parent, returns the child's pid; the child
/// never returns.
pub(super) fn fork(launch: Launch<'_>) -> Result<u32, Error> {
    let Launch {
        name,
        event_loop,
        init,
        number,
        report,
        control,
    } = launch;
    let Some(peer) = event_loop
        .as_ref()
        .map(|event_loop| event_loop.peer().clone())
    else {
        return Err(Error::AlreadyStarted(name.to_string()));
    };
    let Some(address) = peer.address().cloned() else {
        return Err(Error::Process {
            process: name.to_string(),
            message: "its channels were not created".to_owned(),
        });
    };
    prepare();
    // Every lock of the library that the child may take, held across the
    // fork (in this order everywhere), so that none is inherited locked by
    // a thread that does not exist there; and the library's own threads
    // kept between tasks.
    let gate = platform::quiesce();
    let writers = crate::connection::writers();
    let mut registry = registry();
    let hooks = crate::interrupt::hold();
    if registry.processes.is_child() {
        return Err(Error::Unsupported(
            "starting a process from inside a child process",
        ));
    }
    let Some(pending) = registry.processes.take_pending(name) else {
        return Err(Error::AlreadyStarted(name.to_string()));
    };
    let (inbox, capacity) = match event_loop.as_ref() {
        Some(event_loop) => (event_loop.inbox_sender(), event_loop.inbox_capacity()),
        None => unreachable!("checked above"),
    };
    // From here on this process reaches the loop through its channel; what
    // was queued before stays in the queue the child inherits.
    let local = peer.set_route(Route::Remote(Outbox::new(address, capacity)));
    // A thread that took the old route just before the switch may still be
    // queueing into the loop's queue: wait until it is done, so that the
    // child inherits whole messages and none lands here after the fork.
    // (Swapping the route turned every reader's hold on it into a reference
    // count.)
    while Arc::strong_count(&local) > 1 {
        std::thread::yield_now();
    }
    match platform::fork() {
        Err(source) => {
            drop(peer.set_route(Route::Local(inbox)));
            registry.processes.restore_pending(name.clone(), pending);
            drop((hooks, registry, writers, gate));
            drop(local);
            Err(Error::io(format!("process `{name}`: cannot fork"), source))
        }
        Ok(Forked::Child) => {
            // Whatever the old route held may belong to threads that do not
            // exist here.
            std::mem::forget(local);
            accounting::set_own_process(number);
            let mut hooks = hooks;
            hooks.forget_loops();
            let Some(event_loop) = event_loop.take() else {
                unreachable!("checked above")
            };
            child_main(ChildStart {
                event_loop: *event_loop,
                peer,
                pending,
                registry,
                locks: Box::new((hooks, writers, gate)),
                init: init.take(),
                report: report.clone(),
            })
        }
        Ok(Forked::Parent { pid }) => {
            // Close this process's copies of the child's receiving ends.
            drop(pending);
            registry.processes.add_child(name.clone(), control.clone());
            drop((hooks, registry, writers, gate));
            drop(local);
            // The loop, its objects and the init function live in the child
            // now: the parent's copies are neither run nor dropped.
            std::mem::forget(event_loop.take());
            std::mem::forget(init.take());
            Ok(pid)
        }
    }
}

/// Initializes the lazy globals the child will use, so that none is half
/// initialized (and locked forever) in the child.
pub(super) fn prepare() {
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(|| {
        crate::interrupt::initialize_globals();
        platform::prepare_lifeline();
        if let Err(error) = crate::transport::prepare_for_processes() {
            tracing::warn!(%error, "cannot prepare the transport for child processes");
        }
    });
}

/// Lock guards of any type, held until dropped.
trait HeldLocks {}

impl<T> HeldLocks for T {}

struct ChildStart<'a> {
    event_loop: EventLoop,
    peer: Arc<LoopPeer>,
    pending: routes::PendingChannels,
    registry: std::sync::MutexGuard<'a, Registry>,
    /// The other locks held across the fork, released once the child has
    /// rebuilt its state.
    locks: Box<dyn HeldLocks + 'a>,
    init: Option<InitFn>,
    report: IpcSender<ExitStatus>,
}

/// The child's side of the fork: reset, run, report, exit.
fn child_main(start: ChildStart<'_>) -> ! {
    let ChildStart {
        mut event_loop,
        peer,
        pending,
        mut registry,
        locks,
        init,
        report,
    } = start;
    platform::die_with_parent();
    crate::serial::forget_inherited_guests();
    routes::become_child(&mut registry, &peer, event_loop.inbox_sender());
    drop(registry);
    drop(locks);
    let reader = spawn_reader(
        &peer,
        event_loop.inbox_sender(),
        pending.data,
        Some(pending.control),
    );
    let status = match (reader, init) {
        (Err(error), _) => {
            tracing::error!(%error, "process `{}`: cannot start the reader of its inbox", peer.name());
            ExitStatus::InitFailed(format!("cannot start the reader of its inbox: {error}"))
        }
        (Ok(()), Some(init)) => {
            let handle = event_loop.handle();
            match catch_unwind(AssertUnwindSafe(|| init(&handle))) {
                Ok(()) => event_loop.exec(),
                Err(panic) => {
                    let message = panic_message(&*panic);
                    tracing::error!(
                        process = peer.name(),
                        "process `{}`: the init function panicked: {message}",
                        peer.name()
                    );
                    ExitStatus::InitFailed(message)
                }
            }
        }
        (Ok(()), None) => event_loop.exec(),
    };
    drop(event_loop);
    routes::flush_outboxes(Instant::now() + EXIT_FLUSH);
    let _ = report.send(status.clone());
    std::process::exit(status.code())
}
