//! Starting a child by `fork`: the parent's side, and the child's, from the
//! fork to its exit.
//!
//! Between the fork and its loop the child resets what it inherited: loops
//! of other processes are reached through rings of its own, its own loop
//! becomes local again, and locks are fresh (the parent holds them across
//! the fork). Nothing that runs in the child after the fork may unwind out
//! of it: above it on the stack are the parent's frames (its `main`), which
//! must never run in the child.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use ipc_channel::ipc::IpcSender;

use crate::error::Error;
use crate::event_loop::EventLoop;
use crate::platform::{self, Forked};
use crate::status::ExitStatus;
use crate::transport::registry::{Registry, registry};
use crate::transport::routes::{self, PendingChild};
use crate::transport::{LoopPeer, Route};
use crate::util::panic_message;

use super::{Init, InitFn, Launch, drop_init};

/// Forks the process. In the parent, returns the child's pid; the child
/// never returns.
pub(super) fn fork(launch: Launch<'_>) -> Result<u32, Error> {
    let Launch {
        name,
        event_loop,
        carried,
        init,
        channels,
        report,
        // A fork runs nothing: `start` refuses a program with this method.
        program: _,
    } = launch;
    let Some((peer, inbox)) = event_loop
        .as_ref()
        .map(|event_loop| (event_loop.peer().clone(), event_loop.inbox_sender()))
    else {
        return Err(Error::AlreadyStarted(name.to_string()));
    };
    // Zenoh's runtime threads would not exist in the child; and no join
    // starts them until the child exists. Taken first: a join takes other
    // locks of the library while it holds this one.
    #[cfg(feature = "zenoh")]
    let Some(network) = crate::network::hold_for_fork() else {
        return Err(Error::Refused(
            "the fork start method is refused once this process joined a network (Zenoh's \
             runtime threads would not exist in the child): use StartMethod::Spawn",
        ));
    };
    #[cfg(not(feature = "zenoh"))]
    let network = ();
    prepare();
    // Every lock of the library that the child may take, held across the
    // fork (in this order everywhere), so that none is inherited locked by
    // a thread that does not exist there; and the library's own threads
    // kept between tasks.
    let gate = platform::quiesce();
    let writers = crate::connection::writers();
    let calls = crate::call::lock_for_fork();
    let mut registry = registry();
    let pools = crate::pool::lock_for_fork();
    let hooks = crate::interrupt::hold();
    let arrivals = crate::event_loop::carried::hold();
    if registry.processes.is_child() {
        return Err(Error::Refused(
            "a process cannot be started from inside a child process: start it from the \
             root process (a child may run loops on threads of its own)",
        ));
    }
    let Some(pending) = registry.processes.take_pending(name) else {
        return Err(Error::AlreadyStarted(name.to_string()));
    };
    // From here on this process reaches the loop through its ring; what
    // was queued before stays in the queue the child inherits.
    let local = peer.set_route(routes::remote_route(&peer));
    // And the loops carried with it.
    let carried_local: Vec<Arc<Route>> = carried
        .iter()
        .map(|carried| {
            carried
                .peer()
                .set_route(routes::remote_route(carried.peer()))
        })
        .collect();
    // A thread that took the old route just before the switch may still be
    // queueing into the loop's queue: wait until it is done, so that the
    // child inherits whole messages and none lands here after the fork.
    // (Swapping the route turned every reader's hold on it into a reference
    // count.)
    for local in std::iter::once(&local).chain(&carried_local) {
        while Arc::strong_count(local) > 1 {
            std::thread::yield_now();
        }
    }
    // The child inherits every shared buffer this process holds: it holds
    // them too, from the start.
    let handed = pools.hand_to_child(channels.process);
    // The standard streams, held across the fork too: a thread writing a
    // log line at that instant would leave them locked in the child, whose
    // first line of its own would wait forever. Taken last: a writer holds
    // no lock of the library while it writes.
    let streams = (std::io::stdout().lock(), std::io::stderr().lock());
    match platform::fork() {
        Err(source) => {
            crate::pool::forget_handed(channels.process, handed);
            drop(peer.set_route(Route::Local(inbox)));
            for carried in carried.iter() {
                drop(
                    carried
                        .peer()
                        .set_route(Route::Local(carried.inbox_sender())),
                );
            }
            registry.processes.restore_pending(name.clone(), pending);
            drop((
                streams, arrivals, hooks, pools, registry, writers, gate, calls, network,
            ));
            drop((local, carried_local));
            Err(Error::io(format!("process `{name}`: cannot fork"), source))
        }
        Ok(Forked::Child) => {
            // Whatever the old route held may belong to threads that do not
            // exist here.
            std::mem::forget(local);
            std::mem::forget(carried_local);
            let mut hooks = hooks;
            hooks.forget_loops();
            crate::call::forget_in_child(calls);
            let Some(event_loop) = event_loop.take() else {
                unreachable!("checked above")
            };
            child_main(ChildStart {
                event_loop: *event_loop,
                carried: std::mem::take(carried),
                arrivals,
                peer,
                agent: pending,
                process: channels.process,
                registry,
                locks: Box::new((streams, hooks, pools, writers, gate, network)),
                init: init.take().map(Init::into_closure),
                report: report.clone(),
            })
        }
        Ok(Forked::Parent { pid }) => {
            // Close this process's copy of the child's agent channel, so
            // that the child alone holds it.
            drop(pending);
            drop((streams, arrivals));
            routes::child_started(&mut registry, channels);
            drop((hooks, pools, registry, writers, gate, calls, network));
            drop((local, carried_local));
            // The loops, their objects and the init function live in the
            // child now; this process's copies go (their `Drop` runs here).
            if let Some(event_loop) = event_loop.take() {
                event_loop.release_after_move(Vec::new());
            }
            for carried in carried.drain(..) {
                Box::new(carried).release_after_move(Vec::new());
            }
            drop_init(name, init.take());
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
    carried: Vec<EventLoop>,
    /// Where the carried loops wait for their takers.
    arrivals: std::sync::MutexGuard<'a, Vec<EventLoop>>,
    peer: Arc<LoopPeer>,
    /// The channel of the child's agent.
    agent: PendingChild,
    process: routes::ProcessId,
    registry: std::sync::MutexGuard<'a, Registry>,
    /// The other locks held across the fork, released once the child has
    /// rebuilt its state.
    locks: Box<dyn HeldLocks + 'a>,
    init: Option<InitFn>,
    report: IpcSender<ExitStatus>,
}

/// The child's side of the fork: reset, run, report, exit. Whatever
/// happens, it ends here, with `exit`.
fn child_main(start: ChildStart<'_>) -> ! {
    let name = start.peer.name_arc().clone();
    let report = start.report.clone();
    let status = match catch_unwind(AssertUnwindSafe(move || run_child(start))) {
        Ok(status) => status,
        Err(panic) => {
            let message = panic_message(&*panic);
            tracing::error!(
                process = %name,
                "process `{name}` failed outside of any slot: {message}"
            );
            ExitStatus::InitFailed(format!("failed outside of any slot: {message}"))
        }
    };
    let _ = report.send(status.clone());
    std::process::exit(status.code())
}

fn run_child(start: ChildStart<'_>) -> ExitStatus {
    let ChildStart {
        mut event_loop,
        carried,
        mut arrivals,
        peer,
        agent,
        process,
        mut registry,
        locks,
        init,
        report: _,
    } = start;
    platform::die_with_parent();
    crate::serial::forget_inherited_guests();
    routes::become_child(&mut registry, process, &peer);
    // Leaked: the route the parent had may be held by its threads.
    std::mem::forget(peer.set_route(Route::Local(event_loop.inbox_sender())));
    // It runs here now.
    peer.bind_for_child(false);
    for mut carried in carried {
        std::mem::forget(
            carried
                .peer()
                .set_route(Route::Local(carried.inbox_sender())),
        );
        carried.peer().bind_for_child(false);
        carried.keep_order_after_move();
        arrivals.push(carried);
    }
    drop(arrivals);
    drop(registry);
    drop(locks);
    event_loop.keep_order_after_move();
    // The init function runs before the agent answers anyone: a lookup
    // or a connection to what it creates finds it.
    if let Some(init) = init {
        let handle = event_loop.handle();
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| init(&handle))) {
            let message = panic_message(&*panic);
            tracing::error!(
                process = peer.name(),
                "process `{}`: the init function panicked: {message}",
                peer.name()
            );
            return ExitStatus::InitFailed(message);
        }
    }
    let status = match super::agent::start(agent.agent) {
        Err(error) => {
            tracing::error!(%error, "process `{}`: cannot start its agent", peer.name());
            ExitStatus::InitFailed(format!("cannot start its agent: {error}"))
        }
        Ok(()) => event_loop.exec(),
    };
    tracing::debug!(process = peer.name(), %status, "the loop of process `{}` ended", peer.name());
    drop(event_loop);
    status
}
