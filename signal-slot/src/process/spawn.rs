//! Starting a child by spawn: a fresh run of the current executable, which
//! takes its role in [`init_process`] before its `main` does anything else.
//!
//! Nothing is inherited, so everything the child needs travels, over
//! ipc-channel (which passes descriptors and shared memory on every
//! platform it supports): the parent creates a one-shot server and names it
//! in the child's environment; the child connects and receives a
//! [`Bootstrap`]: its number in the tree, its agent's channel, the routes
//! of every loop, its loop packed with its objects, connections and queue
//! (see `event_loop::moving`), its init function by registered name, and a
//! lifeline whose end tells it that the parent is gone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ipc_channel::ipc::{self, IpcOneShotServer, IpcReceiver, IpcSender};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::event_loop::{EventLoop, PackedLoop};
use crate::status::ExitStatus;
use crate::transport::registry::registry;
use crate::transport::routes::{self, AddressMessage, ProcessId};
use crate::transport::{Envelope, Route};
use crate::travel::{self, SPAWNED_CHILD};
use crate::util::panic_message;

use super::{Init, Launch, drop_init};

/// How long a spawned child may take to reach its parent.
const START_LIMIT: Duration = Duration::from_secs(60);

/// Everything a child started by spawn receives.
#[derive(Serialize, Deserialize)]
struct Bootstrap {
    process: ProcessId,
    /// The root's agent.
    root: IpcSender<AgentChannel>,
    /// The child's agent: where others reach it, and what it reads.
    agent: IpcSender<AgentChannel>,
    agent_receiver: IpcReceiver<AgentChannel>,
    /// The doorbell of its loop, which others already ring.
    bell: ipc::IpcSharedMemory,
    routes: Vec<AddressMessage>,
    event_loop: PackedLoop,
    /// The loops carried with it, each with its doorbell.
    carried: Vec<(ipc::IpcSharedMemory, PackedLoop)>,
    /// Its init function's registered name and arguments.
    init: Option<(String, serde_bytes::ByteBuf)>,
    report: IpcSender<ExitStatus>,
    /// Disconnected when the parent ends: the child ends with it.
    lifeline: IpcReceiver<()>,
}

type AgentChannel = crate::transport::AgentMessage;

/// What the child sends the one-shot server: where it wants its
/// bootstrap (`None` from the parent itself, to stop waiting).
type Hello = Option<IpcSender<Bootstrap>>;

/// A child started by spawn, as the parent keeps it.
pub(super) struct Spawned {
    pub(super) pid: u32,
    /// The parent's end of the lifeline: held until the child has ended.
    pub(super) _lifeline: IpcSender<()>,
    pub(super) _child: std::process::Child,
}

fn failed(name: &str, message: impl Into<String>) -> Error {
    Error::Process {
        process: name.to_owned(),
        message: message.into(),
    }
}

/// Starts the child, hands it its loop, and returns once it has it.
pub(super) fn spawn(launch: Launch<'_>) -> Result<Spawned, Error> {
    let Launch {
        name,
        event_loop: slot,
        carried,
        init,
        channels,
        report,
        program,
    } = launch;
    let init_key = match init.as_ref() {
        None => None,
        Some(Init::Registered { key, args, .. }) => {
            let args = args.clone().map_err(|error| {
                failed(
                    name,
                    format!("the arguments of its init function cannot be encoded: {error}"),
                )
            })?;
            Some((key.to_string(), serde_bytes::ByteBuf::from(args)))
        }
        Some(Init::Closure(_)) => {
            return Err(failed(
                name,
                "its init function is a closure, which cannot travel to a process started by \
                 spawn: make it a function with `#[signal_slot::init]` and pass it to `init_with`",
            ));
        }
    };
    let Some(event_loop) = slot.as_mut() else {
        return Err(Error::AlreadyStarted(name.to_string()));
    };
    super::fork::prepare();
    let peer = event_loop.peer().clone();
    let (pending, local, root_and_routes) = {
        let _writers = crate::connection::writers();
        let mut registry = registry();
        if registry.processes.is_child() {
            return Err(Error::Refused(
                "a process cannot be started from inside a child process: start it from the \
                 root process (a child may run loops on threads of its own)",
            ));
        }
        let Some(pending) = registry.processes.take_pending(name) else {
            return Err(Error::AlreadyStarted(name.to_string()));
        };
        let root_and_routes = routes::for_spawned_child(&registry, &peer);
        // From now on the child hears of routes that change (its channel
        // keeps them until it reads them), and this process reaches its
        // loop through its ring.
        routes::child_started(&mut registry, channels);
        let local: Vec<Arc<Route>> = std::iter::once(&**event_loop)
            .chain(carried.iter())
            .map(|event_loop| {
                let peer = event_loop.peer();
                peer.set_route(routes::remote_route(peer))
            })
            .collect();
        (pending, local, root_and_routes)
    };
    // A thread that took the old route just before the switch may still be
    // queueing: wait until it is done, so that the pack holds it.
    for local in local {
        while Arc::strong_count(&local) > 1 {
            std::thread::yield_now();
        }
    }
    let undo = |event_loop: &mut EventLoop,
                carried: &mut Vec<EventLoop>,
                pending: Option<routes::PendingChild>,
                queued: Vec<Vec<_>>,
                error: Error| {
        let mut queued = queued.into_iter();
        for event_loop in std::iter::once(event_loop).chain(carried.iter_mut()) {
            let peer = event_loop.peer().clone();
            let ring = peer.set_route(Route::Local(event_loop.inbox_sender()));
            if let Route::Remote(remote) = &*ring {
                // What this process sent meanwhile went to a ring nobody reads.
                remote.end(&peer);
            }
            event_loop.requeue(queued.next().unwrap_or_default());
        }
        let mut registry = registry();
        routes::child_not_started(&mut registry, channels.process);
        if let Some(pending) = pending {
            registry.processes.restore_pending(name.clone(), pending);
        }
        Err(error)
    };
    let Some((root, routes)) = root_and_routes else {
        let error = failed(name, "the process tree was not started");
        return undo(event_loop, carried, Some(pending), Vec::new(), error);
    };
    let mut leases = crate::pool::Leases::to(channels.process);
    let loops = std::iter::once(&mut **event_loop)
        .chain(carried.iter_mut())
        .collect();
    let (mut packs, queued) = match pack_all(name, loops, &mut leases) {
        Ok(packed) => packed,
        Err((error, queued)) => return undo(event_loop, carried, Some(pending), queued, error),
    };
    let (bell, packed) = packs.remove(0);
    let (lifeline, lifeline_receiver) = match ipc::channel() {
        Ok(channel) => channel,
        Err(error) => {
            let error = Error::io(
                format!("process `{name}`: cannot create its lifeline"),
                error,
            );
            return undo(event_loop, carried, Some(pending), queued, error);
        }
    };
    let bootstrap = Bootstrap {
        process: channels.process,
        root,
        agent: channels.agent.clone(),
        agent_receiver: pending.agent,
        bell,
        routes,
        event_loop: packed,
        carried: packs,
        init: init_key,
        report: report.clone(),
        lifeline: lifeline_receiver,
    };
    match launch_child(name, program, bootstrap) {
        Ok((pid, child)) => {
            leases.sent();
            let mut queued = queued.into_iter();
            if let Some(event_loop) = slot.take() {
                event_loop.release_after_move(queued.next().unwrap_or_default());
            }
            for carried in carried.drain(..) {
                Box::new(carried).release_after_move(queued.next().unwrap_or_default());
            }
            drop_init(name, init.take());
            Ok(Spawned {
                pid,
                _lifeline: lifeline,
                _child: child,
            })
        }
        Err((error, agent)) => {
            let pending = agent.map(|agent| routes::PendingChild { agent });
            undo(event_loop, carried, pending, queued, error)
        }
    }
}

/// What [`pack_all`] packed: each loop with its doorbell, and the queues
/// it took (to put back if the child does not start).
type Packed = (Vec<(ipc::IpcSharedMemory, PackedLoop)>, Vec<Vec<Envelope>>);

/// Packs a child's loop and the loops carried with it, in that order. On
/// failure, the error and the queues taken so far (the failing loop's is
/// back in place).
fn pack_all(
    name: &str,
    loops: Vec<&mut EventLoop>,
    leases: &mut crate::pool::Leases,
) -> Result<Packed, (Error, Vec<Vec<Envelope>>)> {
    let mut packs = Vec::with_capacity(loops.len());
    let mut queued = Vec::with_capacity(loops.len());
    for event_loop in loops {
        let (packed, taken) = match event_loop.pack(leases) {
            Ok(packed) => packed,
            Err(error) => return Err((error, queued)),
        };
        let Some(bell) = event_loop
            .peer()
            .address()
            .map(|address| address.bell.share())
        else {
            event_loop.requeue(taken);
            let why = format!("event loop `{}` has no address", event_loop.name());
            return Err((failed(name, why), queued));
        };
        packs.push((bell, packed));
        queued.push(taken);
    }
    Ok((packs, queued))
}

/// Why a child did not start, and the agent's channel the bootstrap held
/// (`None` if it went with a bootstrap that could not be sent).
type NotLaunched = (Error, Option<IpcReceiver<AgentChannel>>);

/// Runs the executable again (or `program`) as the child and hands it
/// `bootstrap`. On failure, gives back the agent's channel (which the
/// bootstrap held).
fn launch_child(
    name: &str,
    program: Option<&super::SpawnProgram>,
    bootstrap: Bootstrap,
) -> Result<(u32, std::process::Child), NotLaunched> {
    let give_back = |bootstrap: Bootstrap, error: Error| (error, Some(bootstrap.agent_receiver));
    let (server, server_name) = match IpcOneShotServer::<Hello>::new() {
        Ok(server) => server,
        Err(error) => {
            return Err(give_back(
                bootstrap,
                Error::io(
                    format!("process `{name}`: cannot create its bootstrap"),
                    error,
                ),
            ));
        }
    };
    let (executable, arguments) = match program {
        Some(program) => (program.program.clone(), program.args.clone()),
        None => match std::env::current_exe() {
            Ok(executable) => (executable, std::env::args_os().skip(1).collect()),
            Err(error) => {
                return Err(give_back(
                    bootstrap,
                    Error::io(
                        format!("process `{name}`: cannot find this executable"),
                        error,
                    ),
                ));
            }
        },
    };
    let mut child = match std::process::Command::new(&executable)
        .args(arguments)
        .env(SPAWNED_CHILD, &server_name)
        .spawn()
    {
        Ok(child) => child,
        Err(error) => {
            return Err(give_back(
                bootstrap,
                Error::io(
                    format!("process `{name}`: cannot run {}", executable.display()),
                    error,
                ),
            ));
        }
    };
    match accept(name, server, &server_name, &mut child) {
        Ok(sender) => match sender.send(bootstrap) {
            Ok(()) => Ok((child.id(), child)),
            Err(error) => {
                end(&mut child);
                // The bootstrap went, with the agent's channel: the process
                // cannot be started again.
                Err((
                    failed(name, format!("cannot hand the child its loop: {error}")),
                    None,
                ))
            }
        },
        Err(error) => {
            end(&mut child);
            Err(give_back(bootstrap, error))
        }
    }
}

fn end(child: &mut std::process::Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Waits for the child to reach the one-shot server: returns where it
/// wants its bootstrap, or why it never came.
fn accept(
    name: &str,
    server: IpcOneShotServer<Hello>,
    server_name: &str,
    child: &mut std::process::Child,
) -> Result<IpcSender<Bootstrap>, Error> {
    let (done, arrived) = crossbeam_channel::bounded(1);
    let waiter = std::thread::Builder::new()
        .name(format!("spawn:{name}"))
        .spawn(move || {
            let hello = server.accept().map(|(_, hello)| hello);
            let _ = done.send(hello);
        })
        .map_err(|error| Error::io(format!("process `{name}`: cannot wait for it"), error))?;
    let deadline = Instant::now() + START_LIMIT;
    let outcome = loop {
        match arrived.recv_timeout(Duration::from_millis(10)) {
            Ok(Ok(Some(sender))) => break Ok(sender),
            Ok(Ok(None)) => break Err(failed(name, "it did not start")),
            Ok(Err(error)) => break Err(failed(name, format!("its bootstrap failed: {error:?}"))),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                break Err(failed(name, "its bootstrap failed"));
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
        }
        let gone = match child.try_wait() {
            Ok(Some(status)) => Some(format!(
                "it ended ({status}) before taking its role: does the executable's `main` call \
                 `signal_slot::init_process()` first (or use `#[signal_slot::main]`)?"
            )),
            Ok(None) if Instant::now() >= deadline => Some(format!(
                "it did not take its role within {START_LIMIT:?}: does the executable's `main` \
                 call `signal_slot::init_process()` first (or use `#[signal_slot::main]`)?"
            )),
            Ok(None) => None,
            Err(error) => Some(format!("cannot watch it: {error}")),
        };
        if let Some(why) = gone {
            // Unblocks the waiter, which nobody else will reach now.
            if let Ok(sender) = IpcSender::<Hello>::connect(server_name.to_owned()) {
                let _ = sender.send(None);
            }
            break Err(failed(name, why));
        }
    };
    let _ = waiter.join();
    outcome
}

/// Takes this process's role if it was started by spawn to run a loop:
/// then it runs that loop and exits, and never returns. Otherwise returns
/// at once.
///
/// Call it first in `main` (or put `#[signal_slot::main]` on `main`),
/// before anything that should happen only once — parsing arguments
/// aside, that is everything: a process started by spawn is a fresh run of
/// the same executable (as with Python's `spawn`, whose children import
/// the main module, hence its `if __name__ == "__main__"` guard). A child
/// that goes past `main`'s first line without taking its role is refused
/// by every loop it tries to create, so that it cannot start processes of
/// its own.
///
/// ```
/// # #[allow(clippy::needless_doctest_main)]
/// fn main() {
///     signal_slot::init_process();
///     // The program, which only the first process runs.
/// }
/// ```
pub fn init_process() {
    let Some(server) = std::env::var_os(SPAWNED_CHILD) else {
        return;
    };
    travel::take_role();
    let server = server.to_string_lossy().into_owned();
    let status = match receive(&server) {
        Ok((bootstrap, name)) => child_main(bootstrap, &name),
        Err(error) => {
            tracing::error!("a process started by spawn cannot take its role: {error}");
            std::process::exit(ExitStatus::InitFailed(error).code())
        }
    };
    std::process::exit(status)
}

fn receive(server: &str) -> Result<(Bootstrap, String), String> {
    let hello = IpcSender::<Hello>::connect(server.to_owned())
        .map_err(|error| format!("cannot reach the parent: {error}"))?;
    let (sender, receiver) =
        ipc::channel::<Bootstrap>().map_err(|error| format!("cannot create a channel: {error}"))?;
    hello
        .send(Some(sender))
        .map_err(|error| format!("cannot reach the parent: {error}"))?;
    let bootstrap = receiver
        .recv()
        .map_err(|error| format!("no word from the parent: {error:?}"))?;
    let name = bootstrap.event_loop.name().to_owned();
    Ok((bootstrap, name))
}

/// The child's life: rebuild, run, report. Returns its exit code.
fn child_main(bootstrap: Bootstrap, name: &str) -> i32 {
    let report = bootstrap.report.clone();
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_child(bootstrap)));
    let status = match run {
        Ok(status) => status,
        Err(panic) => {
            let message = panic_message(&*panic);
            tracing::error!(process = %name, "process `{name}` failed outside of any slot: {message}");
            ExitStatus::InitFailed(format!("failed outside of any slot: {message}"))
        }
    };
    let _ = report.send(status.clone());
    status.code()
}

fn run_child(bootstrap: Bootstrap) -> ExitStatus {
    let Bootstrap {
        process,
        root,
        agent,
        agent_receiver,
        bell,
        routes,
        event_loop,
        carried,
        init,
        report: _,
        lifeline,
    } = bootstrap;
    let name = event_loop.name().to_owned();
    watch_parent(lifeline);
    super::agent::install_seams();
    routes::become_spawned_child(process, root, agent);
    routes::add_routes(routes);
    let prepared = std::iter::once((bell, event_loop))
        .chain(carried)
        .map(|(bell, packed)| {
            crate::transport::bell::Bell::open(bell)
                .map(|bell| (packed, bell))
                .map_err(|error| format!("cannot open its doorbell: {error}"))
        })
        .collect::<Result<Vec<_>, _>>()
        .and_then(PackedLoop::unpack_all);
    let mut loops = match prepared {
        Ok(loops) => loops.into_iter(),
        Err(error) => {
            tracing::error!(process = %name, "process `{name}` cannot rebuild its loop: {error}");
            return ExitStatus::InitFailed(format!("cannot rebuild its loop: {error}"));
        }
    };
    let Some(mut event_loop) = loops.next() else {
        return ExitStatus::InitFailed("its loop did not arrive".to_owned());
    };
    routes::adopt_own_loop(event_loop.peer());
    // The loops carried with it wait for their takers.
    for carried in loops {
        routes::adopt_own_loop(carried.peer());
        crate::event_loop::carried::arrived(carried);
    }
    // The init function runs before the agent answers anyone: a lookup
    // or a connection to what it creates finds it.
    if let Some((key, args)) = init {
        let handle = event_loop.handle();
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            travel::run_registered_init(&key, &handle, &args)
        }));
        let failure = match ran {
            Ok(Ok(())) => None,
            Ok(Err(error)) => Some(error),
            Err(panic) => Some(panic_message(&*panic)),
        };
        if let Some(message) = failure {
            tracing::error!(process = %name, "process `{name}`: the init function failed: {message}");
            return ExitStatus::InitFailed(message);
        }
    }
    if let Err(error) = super::agent::start(agent_receiver) {
        tracing::error!(%error, "process `{name}`: cannot start its agent");
        return ExitStatus::InitFailed(format!("cannot start its agent: {error}"));
    }
    let status = event_loop.exec();
    tracing::debug!(process = %name, %status, "the loop of process `{name}` ended");
    drop(event_loop);
    status
}

/// Ends this process when its parent's end of the lifeline closes (the
/// parent ended, however it did).
fn watch_parent(lifeline: IpcReceiver<()>) {
    let watch = move || {
        loop {
            if lifeline.recv().is_err() {
                std::process::exit(137);
            }
        }
    };
    let _ = std::thread::Builder::new()
        .name("parent-watch".to_owned())
        .spawn(watch);
}
