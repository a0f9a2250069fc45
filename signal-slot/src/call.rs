//! Request and reply: a call of a slot that returns a value, and the way
//! back to its caller, wherever the two run.
//!
//! A call is a direct invocation of the slot that names its *reply route*:
//! the caller's process and a number there. The caller's process keeps a
//! table of the calls it waits for; the callee's loop, having run the slot,
//! sends the value (or why there is none) along the route: straight into
//! the table in the same process, through the caller's process's agent
//! otherwise. Whatever happens to the request (the slot panics, its object
//! or loop or process is gone, the request is dropped unread), the caller
//! gets an error: from the callee's side when it can tell, from the table
//! when the loop or process it called ends, and at worst at the call's
//! deadline, which a thread of the table watches.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub(crate) use crate::protocol::ReplyRoute;
use crate::protocol::own_process;

/// Why a call got no value back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum CallError {
    /// No reply came in time.
    #[error("no reply from `{callee}` within {timeout:?}")]
    Timeout {
        /// The slot called, as `object.slot`.
        callee: String,
        /// How long the caller waited.
        timeout: Duration,
    },
    /// The callee's object, loop or process is gone, or its loop ended
    /// before it ran the call.
    #[error("the call of `{callee}` was not handled: {why}")]
    Gone {
        /// The slot called, as `object.slot`.
        callee: String,
        /// What happened to it.
        why: String,
    },
    /// The slot panicked.
    #[error("the slot `{callee}` panicked: {message}")]
    Panicked {
        /// The slot called, as `object.slot`.
        callee: String,
        /// The panic's message.
        message: String,
    },
    /// The call or its reply could not be delivered: the arguments or the
    /// value could not be encoded or decoded, or the slot returned an
    /// error.
    #[error("the call of `{callee}` failed: {why}")]
    Failed {
        /// The slot called, as `object.slot`.
        callee: String,
        /// What went wrong.
        why: String,
    },
}

/// What a slot may give back to its caller: a value that can travel, as
/// a signal's arguments do.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a slot's value for its callers",
    label = "this type is not `Clone + Send + Serialize + DeserializeOwned + 'static`",
    note = "a slot that returns a value gives it to its callers, in this process or another: \
            it needs `Clone`, `Send`, `Serialize` and `Deserialize`; a slot that only reports \
            errors returns `Result<(), E>`"
)]
pub trait SlotReply: crate::SignalArg {}

impl<T: crate::SignalArg> SlotReply for T {}

/// What comes back for a call.
pub(crate) enum Reply {
    /// The slot's value, from this process.
    Value(Box<dyn Any + Send>),
    /// The slot's value as MessagePack, from another process.
    Encoded(Vec<u8>),
}

/// What the callee's side tells a caller whose call did not give a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Failure {
    Gone(String),
    Panicked(String),
    Failed(String),
}

type Complete = Box<dyn FnOnce(Result<Reply, CallError>) + Send>;

/// A call waiting for its reply.
pub(crate) struct Pending {
    /// The slot called, for messages.
    callee: String,
    /// The loop it lives on: the call fails when that loop ends.
    target_loop: Arc<str>,
    deadline: Instant,
    timeout: Duration,
    complete: Complete,
}

struct Calls {
    table: Mutex<Table>,
    /// Wakes the watcher when a call with an earlier deadline comes.
    changed: Condvar,
    next: AtomicU64,
    /// The process whose watcher runs (a forked child starts its own).
    watcher: AtomicU32,
}

/// The calls waiting for a reply, and when the watcher wakes next.
#[derive(Default)]
pub(crate) struct Table {
    calls: HashMap<u64, Pending>,
    /// The deadline the watcher sleeps until (`None`: until told).
    wakes_at: Option<Instant>,
}

static CALLS: LazyLock<Calls> = LazyLock::new(|| Calls {
    table: Mutex::new(Table::default()),
    changed: Condvar::new(),
    next: AtomicU64::new(1),
    watcher: AtomicU32::new(0),
});

fn table() -> MutexGuard<'static, Table> {
    CALLS.table.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Registers a call of `callee` (on `target_loop`) that `complete` finishes,
/// with `timeout`; returns its route.
pub(crate) fn register(
    callee: String,
    target_loop: Arc<str>,
    timeout: Duration,
    complete: Complete,
) -> ReplyRoute {
    start_watcher();
    let call = CALLS.next.fetch_add(1, Ordering::Relaxed);
    let deadline = Instant::now()
        .checked_add(timeout)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365));
    let wake = {
        let mut table = table();
        table.calls.insert(
            call,
            Pending {
                callee,
                target_loop,
                deadline,
                timeout,
                complete,
            },
        );
        // The watcher is told only of a deadline before the one it sleeps
        // until: not once per call.
        table.wakes_at.is_none_or(|wakes_at| deadline < wakes_at)
    };
    if wake {
        CALLS.changed.notify_all();
    }
    ReplyRoute {
        process: own_process(),
        call,
    }
}

/// Forgets a call that will not be waited for (the request could not be
/// sent, or a blocking caller gave up); true if it was still pending.
pub(crate) fn cancel(call: u64) -> bool {
    table().calls.remove(&call).is_some()
}

/// Finishes call `call` of this process with `reply`, if it still waits.
pub(crate) fn complete(call: u64, reply: Result<Reply, Failure>) {
    let Some(pending) = table().calls.remove(&call) else {
        return;
    };
    let callee = pending.callee;
    let reply = reply.map_err(|failure| match failure {
        Failure::Gone(why) => CallError::Gone { callee, why },
        Failure::Panicked(message) => CallError::Panicked { callee, message },
        Failure::Failed(why) => CallError::Failed { callee, why },
    });
    (pending.complete)(reply);
}

/// Fails every call to the loop `name` (it ended) with `why`.
pub(crate) fn loop_ended(name: &str, why: &str) {
    let ended: Vec<Pending> = {
        let mut table = table();
        let calls: Vec<u64> = table
            .calls
            .iter()
            .filter(|(_, pending)| &*pending.target_loop == name)
            .map(|(call, _)| *call)
            .collect();
        calls
            .into_iter()
            .filter_map(|call| table.calls.remove(&call))
            .collect()
    };
    for pending in ended {
        let error = CallError::Gone {
            callee: pending.callee,
            why: why.to_owned(),
        };
        (pending.complete)(Err(error));
    }
}

/// Sends the value of a call back along `route`.
pub(crate) fn reply_value<R: Serialize + Send + 'static>(route: ReplyRoute, value: R) {
    if is_here(route) {
        complete(route.call, Ok(Reply::Value(Box::new(value))));
        return;
    }
    let reply = crate::codec::value_to_vec(&value)
        .map_err(|why| Failure::Failed(format!("the reply cannot be encoded: {why}")));
    send_remote(route, reply);
}

/// Tells the caller along `route` that there is no value, and why.
pub(crate) fn reply_failure(route: ReplyRoute, failure: Failure) {
    if is_here(route) {
        complete(route.call, Err(failure));
    } else {
        send_remote(route, Err(failure));
    }
}

fn is_here(route: ReplyRoute) -> bool {
    route.process == own_process()
}

/// How a reply reaches a caller in another process: its process's agent,
/// which the process tree sets as the tree is made or joined (before any
/// call of another process can arrive). A seam: the tree is a service
/// above this module.
pub(crate) type SendReply = fn(ReplyRoute, Result<Vec<u8>, Failure>) -> bool;

static SEND_REPLY: OnceLock<SendReply> = OnceLock::new();

/// Sets how replies reach other processes (once; later calls change
/// nothing).
pub(crate) fn set_send_reply(send: SendReply) {
    let _ = SEND_REPLY.set(send);
}

/// A reply for a call of another process, through its agent.
fn send_remote(route: ReplyRoute, reply: Result<Vec<u8>, Failure>) {
    let sent = SEND_REPLY.get().is_some_and(|send| send(route, reply));
    if !sent {
        tracing::debug!(
            process = route.process,
            call = route.call,
            "the reply to a call cannot reach its caller's process (it ended?)"
        );
    }
}

/// A reply from another process, for a call of this one.
pub(crate) fn replied(call: u64, reply: Result<Vec<u8>, Failure>) {
    complete(call, reply.map(Reply::Encoded));
}

/// Starts the thread that fails calls at their deadline, once per process.
fn start_watcher() {
    let pid = std::process::id();
    if CALLS.watcher.swap(pid, Ordering::AcqRel) == pid {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("signal-slot-calls".to_owned())
        .spawn(watch);
    if let Err(error) = spawned {
        CALLS.watcher.store(0, Ordering::Release);
        tracing::error!(%error, "cannot start the thread that times calls out");
    }
}

/// Fails calls whose deadline passed, forever.
fn watch() {
    let mut table = table();
    loop {
        let now = Instant::now();
        let expired: Vec<u64> = table
            .calls
            .iter()
            .filter(|(_, pending)| pending.deadline <= now)
            .map(|(call, _)| *call)
            .collect();
        if !expired.is_empty() {
            let expired: Vec<Pending> = expired
                .into_iter()
                .filter_map(|call| table.calls.remove(&call))
                .collect();
            drop(table);
            // Completions queue into loops and log: not across a fork.
            let _working = crate::sys::platform::working();
            for pending in expired {
                let error = CallError::Timeout {
                    callee: pending.callee,
                    timeout: pending.timeout,
                };
                (pending.complete)(Err(error));
            }
            table = self::table();
            continue;
        }
        let next = table.calls.values().map(|pending| pending.deadline).min();
        table.wakes_at = next;
        table = match next {
            Some(deadline) => {
                CALLS
                    .changed
                    .wait_timeout(table, deadline.saturating_duration_since(now))
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
            None => CALLS
                .changed
                .wait(table)
                .unwrap_or_else(PoisonError::into_inner),
        };
    }
}

/// Held across a fork, so that the child does not inherit the table half
/// changed.
pub(crate) fn lock_for_fork() -> MutexGuard<'static, Table> {
    table()
}

/// In a forked child: the parent's calls are the parent's to finish.
pub(crate) fn forget_in_child(mut table: MutexGuard<'static, Table>) {
    // Their completions belong to threads and loops of the parent: leaked,
    // not run or dropped here. No watcher runs here yet.
    for (_, pending) in table.calls.drain() {
        std::mem::forget(pending);
    }
    table.wakes_at = None;
}

/// A request's claim to a reply, in the header of a request queued in this
/// process: dropped unhandled (the callee's loop stopped or ended first),
/// it fails the call, unless the request went on to another process.
#[derive(Debug)]
pub(crate) struct RequestGuard {
    pub(crate) route: ReplyRoute,
    forwarded: AtomicBool,
    /// The process that made it: a forked child inherits queued requests
    /// that are not its to fail.
    pid: u32,
}

impl RequestGuard {
    pub(crate) fn new(route: ReplyRoute) -> Self {
        RequestGuard {
            route,
            forwarded: AtomicBool::new(false),
            pid: std::process::id(),
        }
    }

    /// The request was written for another process, which answers it.
    pub(crate) fn forwarded(&self) -> ReplyRoute {
        self.forwarded.store(true, Ordering::Release);
        self.route
    }

    /// The request was written for another process that will not get it
    /// (a spawn that failed): it is this process's to fail again.
    pub(crate) fn rearm(&self) {
        self.forwarded.store(false, Ordering::Release);
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        if !self.forwarded.load(Ordering::Acquire) && self.pid == std::process::id() {
            complete(
                self.route.call,
                Err(Failure::Gone(
                    "its loop stopped or ended before it ran the call".to_owned(),
                )),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A call to a loop of `target`'s name (each test its own).
    fn call_with(
        target: &str,
        timeout: Duration,
    ) -> (u64, crossbeam_channel::Receiver<Result<Reply, CallError>>) {
        let (sender, receiver) = crossbeam_channel::bounded(1);
        let route = register(
            "test.slot".to_owned(),
            target.into(),
            timeout,
            Box::new(move |reply| {
                let _ = sender.send(reply);
            }),
        );
        (route.call, receiver)
    }

    #[test]
    fn a_nearer_deadline_wakes_the_watcher() {
        let (long, _long_reply) = call_with("nearer", Duration::from_secs(600));
        // Until the watcher sleeps for the far deadline.
        let deadline = Instant::now() + Duration::from_secs(10);
        while table()
            .wakes_at
            .is_none_or(|at| at < Instant::now() + Duration::from_secs(500))
        {
            assert!(Instant::now() < deadline, "the watcher never slept");
            std::thread::yield_now();
        }
        let started = Instant::now();
        let (_, short_reply) = call_with("nearer", Duration::from_millis(20));
        let outcome = short_reply.recv_timeout(Duration::from_secs(5));
        assert!(matches!(outcome, Ok(Err(CallError::Timeout { .. }))));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert!(cancel(long));
    }

    #[test]
    fn a_completed_call_completes_once() {
        let (call, reply) = call_with("once", Duration::from_secs(600));
        complete(call, Ok(Reply::Value(Box::new(5u32))));
        complete(call, Err(Failure::Gone("again".to_owned())));
        assert!(matches!(reply.try_recv(), Ok(Ok(Reply::Value(_)))));
        assert!(reply.try_recv().is_err());
        assert!(!cancel(call));
    }

    #[test]
    fn calls_to_a_loop_that_ends_fail_at_once() {
        let (_, reply) = call_with("ending", Duration::from_secs(600));
        loop_ended("ending", "it ended");
        match reply.try_recv() {
            Ok(Err(CallError::Gone { why, callee })) => {
                assert_eq!((why.as_str(), callee.as_str()), ("it ended", "test.slot"));
            }
            _ => panic!("not failed"),
        }
    }
}
