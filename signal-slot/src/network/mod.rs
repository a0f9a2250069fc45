//! Across machines: loops of programs started separately, on one host or
//! many, reached over [Zenoh](https://zenoh.io) with the same typed handles
//! as loops of this process tree. Behind the `zenoh` feature.
//!
//! A program [joins](Network::join) a *system* (a name that programs of one
//! application share) over a Zenoh session, [exports](Network::export) the
//! loops that other programs may reach, and [finds](Network::find_loop)
//! theirs by name. From then on a remote loop is a [`LoopHandle`] like any
//! other: `object::<T>(id)` gives a typed handle to an object on it, and
//! its signals and slots connect with the same calls, checked by the
//! compiler in this program and by [signatures](crate::Error::Signature)
//! against the other program when the connection is made.
//!
//! ```no_run
//! # #[cfg(feature = "zenoh")] {
//! use std::time::Duration;
//! use signal_slot::network::{Network, zenoh};
//! use signal_slot::{EventLoop, event_loop_object};
//!
//! #[event_loop_object]
//! struct Worker;
//!
//! #[event_loop_object]
//! impl Worker {
//!     #[signal]
//!     fn trajectory(steps: Vec<f32>);
//! }
//!
//! #[event_loop_object]
//! struct Learner;
//!
//! #[event_loop_object]
//! impl Learner {
//!     #[slot]
//!     fn on_trajectory(&mut self, steps: Vec<f32>) {}
//! }
//!
//! let mut config = zenoh::Config::default();
//! config.insert_json5("connect/endpoints", r#"["tcp/learner-host:7447"]"#).unwrap();
//! let network = Network::join("rl", config)?;
//! let main = EventLoop::new("worker-1")?;
//! let worker = main.add_with_id("worker", Worker)?;
//! network.export(&main.handle())?;
//! let learner = network.find_loop("learner", Duration::from_secs(30))?;
//! let learner = learner.object::<Learner>("learner")?;
//! worker.trajectory().connect(learner.on_trajectory())?;
//! # }
//! # Ok::<(), signal_slot::Error>(())
//! ```
//!
//! # What is the same, and what differs
//!
//! Fan-out, order per emitter, broadcast and subscriptions, batches
//! (`emit_many`), connecting and disconnecting at any time, drops counted:
//! as between processes. Emitting never blocks: Zenoh's congestion control
//! is set to drop, and a record that Zenoh dropped is counted by the
//! receiving loop (each record says how many signals its sender sent
//! before it, so a gap is exact). Large records, and those right behind
//! one, wait for room instead (see the guide's chapter on the network).
//! Across the network an object is named by
//! its loop and id (not by instance), so that a program restarted with the
//! same objects gets what was connected to them.
//!
//! Not across the network: calls with a reply (`Slot::call`), keeping an
//! object (`LoopHandle::keep`), moving objects, closures as slots, and
//! shared buffers (a `SharedBuffer` argument is refused by the receiving
//! loop and counted). Each is an error that says so.
//!
//! # Liveness
//!
//! Each exported loop holds a Zenoh liveliness token. When a program ends
//! or cannot be reached, its tokens go: its loops are reported by
//! the `loop_gone` signal of [`Network::events`], what is emitted to them is dropped and
//! counted, and when a program exports a loop of that name again,
//! its `loop_back` signal is emitted and the connections this program
//! asked of its emitters are made again, without user code.
//!
//! # Untrusted input
//!
//! Everything that arrives from the network is decoded with limits: every
//! length is checked against what arrived, nothing is allocated from a
//! length read off the wire, records larger than half the receiving
//! loop's `inbox_bytes` wait against its `large_inbox_bytes` (past it they
//! are dropped and counted; Zenoh reassembles a message of at most
//! `transport/link/rx/max_message_size`, 1 GiB by default), shared buffers are never
//! looked up from it, and what cannot be decoded is reported with the
//! sending program's id while the loop goes on. Who may connect at all is
//! Zenoh's to decide: use its TLS transport with mutual authentication (see
//! the guide's network chapter, [`crate::guide::network`]).

mod control;
mod link;
mod liveness;
mod loops;
mod names;
mod record;

use control::NetControl;

pub use zenoh;

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use zenoh::Wait;
use zenoh::sample::SampleKind;

use crate::command::Command;
use crate::error::Error;
use crate::event_loop::LoopHandle;
use crate::object::{Handle, Home, ObjectHandle, TypedHandle};
use crate::protocol::Change;
use crate::transport::control::{Answer, Question};
use crate::transport::registry::registry;
use crate::transport::{Control, LoopPeer, RemoteLoop, Route};
use link::{LinkState, NetLink};

/// How long a question to another program may take.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a restored connection waits for its emitter to be back on its
/// loop (a program may export a loop before it adds its objects).
const RESTORE_PATIENCE: Duration = Duration::from_secs(10);

/// Reports of the network: loops of other programs that went, or came
/// back. Connect its signals like any other's (see
/// [`Network::events`]).
#[crate::event_loop_object]
pub struct NetworkEvents;

#[crate::event_loop_object]
impl NetworkEvents {
    /// A loop of another program is gone: its program ended, left the
    /// network, or cannot be reached. What is emitted to it is dropped and
    /// counted until it is back.
    #[signal]
    fn loop_gone(event_loop: String);

    /// A loop of another program that was gone is back (its program was
    /// restarted, or can be reached again); the connections this program
    /// asked of its emitters are made again.
    #[signal]
    fn loop_back(event_loop: String);
}

/// This program's membership of a system of programs over Zenoh. Leaving
/// it (dropping every clone) closes the session: exported loops are no
/// longer reachable, loops of others no longer reached.
#[derive(Clone)]
pub struct Network {
    shared: Arc<Shared>,
}

struct Shared {
    /// The process that joined: a forked child inherits the session's
    /// memory but none of its threads, and must not touch it.
    pid: u32,
    /// `signal-slot/<system>`: every key of the system starts with it.
    prefix: String,
    /// This program's id in the system, fresh at each start.
    program: Arc<str>,
    /// The same, as a number, for the records it sends.
    number: u64,
    session: zenoh::Session,
    state: Mutex<State>,
    /// Signalled when a loop of another program appears.
    appeared: Condvar,
    events: Handle<NetworkEvents>,
    work: crossbeam_channel::Sender<Work>,
}

#[derive(Default)]
struct State {
    /// The loops of this program that others may reach.
    exported: HashMap<Arc<str>, Exported>,
    /// Which program runs each loop of others, as liveliness says.
    owners: HashMap<Arc<str>, Arc<str>>,
    /// The loops of others this program reaches.
    known: HashMap<Arc<str>, Known>,
    /// Connections asked of emitters of other programs, to ask again when
    /// their loop comes back: by emitter loop, the connect commands.
    asked: Vec<(Arc<str>, Command)>,
}

struct Exported {
    _subscriber: zenoh::pubsub::Subscriber<()>,
    _token: zenoh::liveliness::LivelinessToken,
}

struct Known {
    peer: Arc<LoopPeer>,
    link: Arc<LinkState>,
}

/// What the network's agent thread does, in order.
enum Work {
    /// A question from another program.
    Query(zenoh::query::Query),
    /// A loop of another program appeared (`alive`) or went.
    Live {
        program: Arc<str>,
        loop_name: Arc<str>,
        alive: bool,
    },
}

/// A Zenoh configuration for a peer that listens on the endpoints `listen`
/// and connects to `connect` (such as `tcp/127.0.0.1:7447`), with
/// multicast scouting off: programs find each other through the endpoints
/// given, and through the peers those tell them of. Each link queues up to
/// 1 MiB of data before Zenoh drops (counted by the receiving loop). Add TLS, a router or
/// access control to it with `insert_json5` (see [`crate::guide::network`]).
///
/// ```
/// # #[cfg(feature = "zenoh")] {
/// let config = signal_slot::network::peer_config(&["tcp/127.0.0.1:0"], &[])?;
/// # }
/// # Ok::<(), signal_slot::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::Network`] if an endpoint is not a valid one.
pub fn peer_config(listen: &[&str], connect: &[&str]) -> Result<zenoh::Config, Error> {
    let mut config = zenoh::Config::default();
    let set = |config: &mut zenoh::Config, key: &str, value: String| {
        config
            .insert_json5(key, &value)
            .map_err(|error| Error::Network(format!("`{key}`: {error}")))
    };
    let list = |endpoints: &[&str]| serde_json::to_string(endpoints).unwrap_or_default();
    set(&mut config, "mode", "\"peer\"".to_owned())?;
    set(
        &mut config,
        "scouting/multicast/enabled",
        "false".to_owned(),
    )?;
    set(&mut config, "listen/endpoints", list(listen))?;
    set(&mut config, "connect/endpoints", list(connect))?;
    // Zenoh's most batches queued per link for data (16 of 64 KiB, up
    // from 2): a burst of emissions is queued rather than dropped.
    set(
        &mut config,
        "transport/link/tx/queue/size/data",
        "16".to_owned(),
    )?;
    Ok(config)
}

/// Set once this process has opened a Zenoh session: Zenoh's runtime
/// threads run from then on, and a forked child would have none of them.
static STARTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The network this process joined, if any. Held by a join for as long as
/// it opens its session, and by a fork across the fork.
static JOINED: Mutex<Option<Weak<Shared>>> = Mutex::new(None);

/// Held across a fork: no join starts Zenoh's threads meanwhile, and the
/// child inherits the network's lock free (no thread of the parent held it
/// at the fork).
pub(crate) struct ForkHold {
    _joined: std::sync::MutexGuard<'static, Option<Weak<Shared>>>,
}

/// Holds off joins until the hold drops, for a fork; `None` once this
/// process joined a network (even if it left it): a fork is refused then
/// (Zenoh's runtime threads would not exist in the child).
pub(crate) fn hold_for_fork() -> Option<ForkHold> {
    let joined = JOINED.lock().unwrap_or_else(PoisonError::into_inner);
    (!STARTED.load(std::sync::atomic::Ordering::Relaxed)).then_some(ForkHold { _joined: joined })
}

fn joined() -> Option<Arc<Shared>> {
    JOINED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .and_then(Weak::upgrade)
}

impl Network {
    /// Joins the system `system` over a Zenoh session opened with `config`
    /// (its mode, endpoints to listen on and connect to, scouting, TLS).
    /// Programs of a system find each other's exported loops by name,
    /// whatever order they start in. One network per process.
    ///
    /// ```
    /// use std::time::Duration;
    /// use signal_slot::EventLoop;
    /// use signal_slot::network::{Network, zenoh};
    ///
    /// // On this host only: listen on a free loopback port, no scouting.
    /// let mut config = zenoh::Config::default();
    /// config.insert_json5("listen/endpoints", r#"["tcp/127.0.0.1:0"]"#).unwrap();
    /// config.insert_json5("scouting/multicast/enabled", "false").unwrap();
    /// let network = Network::join("join_example", config)?;
    /// // Other programs of the system find this loop by its name.
    /// let main = EventLoop::new("join_example_loop")?;
    /// network.export(&main.handle())?;
    /// // None exports `learner` here: not found, once the wait is over.
    /// assert!(network.find_loop("learner", Duration::from_millis(50)).is_err());
    /// // One network per process, and a system's name is a plain name.
    /// assert!(Network::join("join_example", zenoh::Config::default()).is_err());
    /// assert!(Network::join("not a name", zenoh::Config::default()).is_err());
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Network`] if `system` is not a plain name (letters, digits,
    /// `_`, `-`, `.`), the process joined a network already, or the
    /// session cannot be opened (an endpoint taken, a certificate
    /// unreadable).
    pub fn join(system: &str, config: zenoh::Config) -> Result<Network, Error> {
        if !names::is_plain(system) {
            return Err(Error::Network(format!(
                "the system name `{system}` must be letters, digits, `_`, `-` or `.`"
            )));
        }
        let mut slot = JOINED.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.as_ref().and_then(Weak::upgrade).is_some() {
            return Err(Error::Network(
                "this process joined a network already".to_owned(),
            ));
        }
        // Under the lock a fork holds: no fork is under way, and none
        // starts from here on.
        STARTED.store(true, std::sync::atomic::Ordering::Relaxed);
        crate::transport::routes::reach_beyond(&Programs);
        let session = zenoh::open(config)
            .wait()
            .map_err(|error| Error::Network(format!("cannot open a Zenoh session: {error}")))?;
        let number = RandomState::new().hash_one(std::process::id());
        let program: Arc<str> = format!("{number:016x}").into();
        let prefix = format!("signal-slot/{system}");
        let (work, jobs) = crossbeam_channel::unbounded();
        let events = ObjectHandle::for_type::<NetworkEvents>(
            format!("network:{system}").into(),
            Home::NoLoop,
        );
        let shared = Arc::new(Shared {
            pid: std::process::id(),
            prefix,
            program,
            number,
            session,
            state: Mutex::default(),
            appeared: Condvar::new(),
            events: TypedHandle::from_object_handle(events),
            work,
        });
        shared.listen()?;
        let agent = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name("signal-slot-net".to_owned())
            .spawn(move || run(&agent, &jobs))
            .map_err(|error| Error::Network(format!("cannot start its thread: {error}")))?;
        *slot = Some(Arc::downgrade(&shared));
        tracing::debug!(system, program = %shared.program, "joined the network");
        Ok(Network { shared })
    }

    /// This program's id in the system (fresh at each start), as other
    /// programs report it.
    pub fn program_id(&self) -> &str {
        &self.shared.program
    }

    /// Reports of loops of other programs that went or came back: connect
    /// its signals to slots of yours.
    pub fn events(&self) -> &Handle<NetworkEvents> {
        &self.shared.events
    }

    /// Lets other programs of the system reach `event_loop`, a loop of this
    /// process, by its name.
    ///
    /// # Errors
    ///
    /// [`Error::Network`] if the loop does not run in this process (or is
    /// to run in a child), has ended, is exported already, or another
    /// program exports a loop of that name.
    pub fn export(&self, event_loop: &LoopHandle) -> Result<(), Error> {
        self.shared.export(event_loop.peer())
    }

    /// The loop `name` of another program of the system, waiting up to
    /// `timeout` for it to appear (programs may start in any order).
    /// A loop of this process tree of that name (exported by a child that
    /// joined the system too) is reached through the tree.
    ///
    /// # Errors
    ///
    /// [`Error::LoopNotFound`] if no program exports it within `timeout`.
    pub fn find_loop(&self, name: &str, timeout: Duration) -> Result<LoopHandle, Error> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            if state.owners.contains_key(name) {
                drop(state);
                return self
                    .shared
                    .peer_for(name)
                    .map(LoopHandle::from_peer)
                    .ok_or_else(|| Error::LoopNotFound(name.to_owned()));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::LoopNotFound(name.to_owned()));
            }
            state = self
                .shared
                .appeared
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl Shared {
    /// Tells each loop of others this program sent records that congestion
    /// may have dropped how many signals it sent.
    fn tally(&self) {
        let links: Vec<Arc<LinkState>> = self
            .lock()
            .known
            .values()
            .map(|known| known.link.clone())
            .collect();
        for link in links {
            link.tally();
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn key(&self, parts: std::fmt::Arguments<'_>) -> String {
        format!("{}/{parts}", self.prefix)
    }

    /// Declares what every program of the system does: answer questions,
    /// and watch which loops come and go.
    fn listen(self: &Arc<Self>) -> Result<(), Error> {
        let failed = |error: zenoh::Error| Error::Network(error.to_string());
        let work = self.work.clone();
        self.session
            .declare_queryable(self.key(format_args!("program/{}", self.program)))
            .callback(move |query| {
                let _ = work.send(Work::Query(query));
            })
            .background()
            .wait()
            .map_err(failed)?;
        let work = self.work.clone();
        let prefix = format!("{}/live/", self.prefix);
        self.session
            .liveliness()
            .declare_subscriber(self.key(format_args!("live/**")))
            .history(true)
            .callback(move |sample| {
                let Some((program, loop_name)) = sample
                    .key_expr()
                    .as_str()
                    .strip_prefix(&prefix)
                    .and_then(|rest| rest.split_once('/'))
                    .and_then(|(program, name)| Some((program, names::unescape(name)?)))
                else {
                    return;
                };
                let _ = work.send(Work::Live {
                    program: program.into(),
                    loop_name: loop_name.into(),
                    alive: sample.kind() == SampleKind::Put,
                });
            })
            .background()
            .wait()
            .map_err(failed)?;
        Ok(())
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let state = std::mem::take(self.state.get_mut().unwrap_or_else(PoisonError::into_inner));
        if self.pid != std::process::id() {
            // Not reached: the library forks no process that joined (see
            // `hold_for_fork`). Were it reached (a fork by other code), its
            // subscribers and tokens would be the parent's, left alone.
            std::mem::forget(state);
            return;
        }
        for known in state.known.values() {
            known.link.set_up(false);
            known.peer.set_gone();
        }
        drop(state);
        if let Err(error) = self.session.close().wait() {
            tracing::debug!(%error, "the Zenoh session did not close cleanly");
        }
    }
}

/// Which broadcast a connection change turns on or off: emitter, signal,
/// loop and topic (`None` for other changes).
type BroadcastKey = (Arc<str>, u16, Arc<str>, Option<Arc<str>>);

/// The network's agent: answers questions and applies liveliness, in
/// order, until the network is left.
/// How often the network's thread tells the loops of others how many
/// signals were sent to them, after records that congestion may have
/// dropped (see `LinkState::tally`): the longest a loss at the end of a
/// burst goes uncounted.
const TALLY_EVERY: Duration = Duration::from_millis(100);

fn run(shared: &Weak<Shared>, jobs: &crossbeam_channel::Receiver<Work>) {
    let mut tallied = Instant::now();
    loop {
        let work = match jobs.recv_timeout(TALLY_EVERY) {
            Ok(work) => Some(work),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
        };
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let done = catch_unwind(AssertUnwindSafe(|| {
            match work {
                Some(Work::Query(query)) => shared.answer(&query),
                Some(Work::Live {
                    program,
                    loop_name,
                    alive,
                }) => shared.live(program, loop_name, alive),
                None => {}
            }
            if tallied.elapsed() >= TALLY_EVERY {
                tallied = Instant::now();
                shared.tally();
            }
        }));
        if let Err(panic) = done {
            tracing::error!(
                "the network's agent failed: {}",
                crate::util::panic_message(&*panic)
            );
        }
    }
}

/// The loop `name` of another program, if this process joined a network
/// and a program of it exports that loop, as liveliness told this one so
/// far. Never waits: it is asked on loops' threads (a handle decoded, a
/// connection applied), and a question from another program comes after
/// what liveliness said of that program's loops.
/// The loops of other programs, as the process tree's routes see them.
struct Programs;

impl crate::transport::routes::Beyond for Programs {
    fn find(&self, name: &str) -> Option<Arc<LoopPeer>> {
        find(name)
    }

    fn loop_ended_here(&self, name: &str) {
        loop_ended_here(name);
    }
}

pub(crate) fn find(name: &str) -> Option<Arc<LoopPeer>> {
    let shared = joined()?;
    if !shared.lock().owners.contains_key(name) {
        return None;
    }
    shared.peer_for(name)
}

/// A loop of this process ended: other programs no longer reach it.
pub(crate) fn loop_ended_here(name: &str) {
    if let Some(shared) = joined() {
        let exported = shared.lock().exported.remove(name);
        drop(exported);
    }
}
