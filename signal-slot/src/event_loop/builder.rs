//! Options of a new loop.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::error::{Error, check_name};
use crate::object::{Handle, Home, ObjectCell, ObjectHandle, ObjectShared, TypedHandle};
use crate::status::{IdleWait, PanicPolicy};
use crate::transport::registry::registry;
use serde::{Deserialize, Serialize};

use crate::transport::bell::Bell;
use crate::transport::{LoopPeer, Route, inbox, routes};
use crate::{DEFAULT_INBOX_BYTES, DEFAULT_INBOX_CAPACITY, DEFAULT_LARGE_INBOX_BYTES};

use super::handle::{LoopHandle, LoopObject};
use super::{EventLoop, LoopState, Phase, Resident};

/// Options of a new loop; see [`EventLoop::builder`].
///
/// ```
/// use signal_slot::{EventLoop, PanicPolicy};
///
/// let main = EventLoop::builder("builder_example")
///     .capacity(1_000)
///     .inbox_bytes(1 << 20)
///     .panic_policy(PanicPolicy::KeepGoing)
///     .catch_interrupt(false)
///     .build()?;
/// assert_eq!(main.name(), "builder_example");
/// # Ok::<(), signal_slot::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct EventLoopBuilder {
    options: LoopOptions,
    /// Whether the loop gets an address of this process (not the loop of
    /// an `EventLoopProcess`, which gets its process's).
    reachable_here: bool,
    /// The doorbell of a loop that moved here from another process.
    bell: Option<Bell>,
    /// The instance of the loop object of a loop that moved here.
    loop_instance: Option<u64>,
}

/// What a loop is built with: what travels with it to a process started
/// by spawn.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LoopOptions {
    pub(crate) name: String,
    pub(crate) capacity: usize,
    pub(crate) inbox_bytes: usize,
    pub(crate) large_inbox_bytes: usize,
    pub(crate) panic_policy: PanicPolicy,
    pub(crate) idle_wait: IdleWait,
    pub(crate) catch_interrupt: bool,
    pub(crate) slow_slot: std::time::Duration,
    pub(crate) stuck_after: std::time::Duration,
}

impl EventLoopBuilder {
    pub(crate) fn new(name: String) -> Self {
        Self::with_options(LoopOptions {
            name,
            capacity: DEFAULT_INBOX_CAPACITY,
            inbox_bytes: DEFAULT_INBOX_BYTES,
            large_inbox_bytes: DEFAULT_LARGE_INBOX_BYTES,
            panic_policy: PanicPolicy::default(),
            idle_wait: IdleWait::default(),
            catch_interrupt: true,
            slow_slot: crate::stats::DEFAULT_SLOW_SLOT,
            stuck_after: crate::stats::DEFAULT_STUCK_AFTER,
        })
    }

    pub(crate) fn with_options(options: LoopOptions) -> Self {
        EventLoopBuilder {
            options,
            reachable_here: true,
            bell: None,
            loop_instance: None,
        }
    }

    /// For a loop that moved to this process: its doorbell (which other
    /// processes already ring) and its loop object's instance (which their
    /// handles name).
    pub(crate) fn moved_here(mut self, bell: Bell, loop_instance: u64) -> Self {
        self.bell = Some(bell);
        self.loop_instance = Some(loop_instance);
        self
    }

    /// The name the loop will have.
    pub fn name(&self) -> &str {
        &self.options.name
    }

    /// The inbox's capacity in signals (default 100,000): from this
    /// process, and from each other process. Signals beyond it are dropped
    /// and counted, never blocking the emitter.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.options.capacity = capacity.max(1);
        self
    }

    /// The size in bytes of the inbox from each other process (default
    /// 8 MiB): the shared memory its signals are written into, encoded.
    /// Signals that do not fit are dropped and counted, never blocking the
    /// emitter; one signal (or `emit_many` batch) may take at most half of
    /// it. On Linux the memory is committed only as far as it is used.
    pub fn inbox_bytes(mut self, bytes: usize) -> Self {
        self.options.inbox_bytes = bytes.clamp(4096, u32::MAX as usize);
        self
    }

    /// The most bytes of large signals that may wait for the loop from
    /// each other process (default 1 GiB). A signal (or batch) whose
    /// encoding is larger than half of `inbox_bytes` travels in a
    /// shared-memory segment of its own, in order with the other signals of
    /// its emitter; while such signals of one sending process, not yet taken
    /// by the loop, would pass this budget, further ones are dropped and
    /// counted, never blocking the emitter. One always goes when none waits,
    /// whatever its size: there is no size limit but memory.
    ///
    /// ```
    /// use signal_slot::EventLoop;
    ///
    /// // A loop that takes weights of up to 256 MiB, one at a time.
    /// let learner = EventLoop::builder("large_inbox_example")
    ///     .large_inbox_bytes(256 << 20)
    ///     .build()?;
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    pub fn large_inbox_bytes(mut self, bytes: usize) -> Self {
        self.options.large_inbox_bytes = bytes;
        self
    }

    /// What to do when a slot panics (default: end the loop).
    pub fn panic_policy(mut self, policy: PanicPolicy) -> Self {
        self.options.panic_policy = policy;
        self
    }

    /// How the loop waits when it has nothing to do (default:
    /// [`IdleWait::Adaptive`], which spins only while spinning pays).
    pub fn idle_wait(mut self, wait: IdleWait) -> Self {
        self.options.idle_wait = wait;
        self
    }

    /// Whether Ctrl-C ends `exec` with
    /// [`ExitStatus::Interrupted`](crate::ExitStatus::Interrupted)
    /// (default: yes).
    pub fn catch_interrupt(mut self, catch: bool) -> Self {
        self.options.catch_interrupt = catch;
        self
    }

    /// After how long a slot that still runs is reported as slow (default:
    /// [`DEFAULT_SLOW_SLOT`](crate::DEFAULT_SLOW_SLOT), one second): once
    /// while it runs, with the loop, object, slot and time so far, and
    /// once when it returns, with its sender too. Runs over it are counted
    /// in [`LoopStats::slow_runs`](crate::LoopStats::slow_runs).
    ///
    /// ```
    /// use std::time::Duration;
    /// use signal_slot::EventLoop;
    ///
    /// // A control loop whose slots must return within 5 ms.
    /// let control = EventLoop::builder("slow_slot_example")
    ///     .slow_slot(Duration::from_millis(5))
    ///     .build()?;
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    pub fn slow_slot(mut self, after: std::time::Duration) -> Self {
        self.options.slow_slot = after;
        self
    }

    /// After how long a running loop with signals waiting that has taken
    /// none is reported as stuck (default:
    /// [`DEFAULT_STUCK_AFTER`](crate::DEFAULT_STUCK_AFTER), five seconds).
    pub fn stuck_after(mut self, after: std::time::Duration) -> Self {
        self.options.stuck_after = after;
        self
    }

    /// For the loop of a child process: reached through the channel the
    /// process creates, never through one in this process.
    pub(crate) fn for_child_process(mut self) -> Self {
        self.reachable_here = false;
        self
    }

    /// Creates the loop.
    ///
    /// # Errors
    ///
    /// [`Error::DuplicateLoopName`] if a loop of that name exists in this
    /// process, [`Error::InvalidName`] if the name is empty.
    pub fn build(self) -> Result<EventLoop, Error> {
        crate::travel::refuse_without_role()?;
        let options = self.options;
        check_name("loop name", &options.name)?;
        let name: Arc<str> = options.name.as_str().into();
        let inbox = inbox(
            options.capacity,
            options.inbox_bytes,
            options.large_inbox_bytes,
            self.bell,
        );
        let (sender, receiver) = inbox.map_err(|source| {
            Error::io(
                format!("event loop `{name}`: cannot create its inbox"),
                source,
            )
        })?;
        let peer = LoopPeer::new(name.clone(), Route::Local(sender.clone()));
        peer.activity()
            .set_thresholds(options.slow_slot, options.stuck_after);
        let raw = match self.loop_instance {
            Some(instance) => ObjectHandle::by_name::<LoopObject>(
                name.clone(),
                Home::Loop(peer.clone()),
                instance,
            ),
            None => ObjectHandle::for_type::<LoopObject>(name.clone(), Home::Loop(peer.clone())),
        };
        let announcement = {
            let mut registry = registry();
            registry.add_loop(peer.clone())?;
            registry.attach(&raw)?;
            if self.reachable_here {
                routes::give_address(&registry, &peer)
            } else {
                None
            }
        };
        if let Some(route) = announcement {
            routes::announce(route);
        }
        let own: std::sync::Weak<ObjectShared> = Arc::downgrade(&raw.shared);
        let _ = peer.loop_object.set(own);
        let object: Handle<LoopObject> = TypedHandle::from_object_handle(raw);
        let handle = LoopHandle::new(peer, object.clone());
        let mut objects: FxHashMap<Arc<str>, Resident> = FxHashMap::default();
        objects.insert(
            name,
            Resident::new(Box::new(ObjectCell {
                object: LoopObject,
                handle: object,
            })),
        );
        Ok(EventLoop {
            state: LoopState::new(handle.clone(), options.panic_policy),
            handle,
            objects,
            detached: Default::default(),
            arriving: Default::default(),
            moved_out: Default::default(),
            inbox: receiver,
            sender,
            backlog: 0,
            catch_interrupt: options.catch_interrupt,
            newest: Default::default(),
            waiter: super::idle::Waiter::new(options.idle_wait),
            phase: Phase::NotStarted,
            options,
        })
    }
}
