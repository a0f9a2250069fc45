//! The process's watch: a thread that looks at every running loop of the
//! process a few times a second, and reports a slot that has run past its
//! loop's `slow_slot` (while it still runs) and a loop that has signals
//! waiting but has taken none for its `stuck_after`. It reads the counters
//! the loops' threads keep (`crate::stats`), never the loops themselves, and
//! is on no data path: a loop pays two stores a slot run for it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::context::Sender;
use crate::stats::Running;
use crate::transport::LoopPeer;
use crate::transport::registry::registry;
use crate::util::RateLimit;

use super::LoopHandle;

/// The process whose watch runs (a forked child starts its own).
static WATCHING: AtomicU32 = AtomicU32::new(0);

/// The watch's shortest and longest look between two looks.
const LOOK_MIN: Duration = Duration::from_millis(5);
const LOOK_MAX: Duration = Duration::from_millis(250);

/// The watch's thread, woken when a loop ends (taken with `try_lock` only:
/// a forked child may inherit it locked, and a missed wake-up costs at
/// most one look's wait).
static WATCH_THREAD: Mutex<Option<std::thread::Thread>> = Mutex::new(None);

/// Starts the process's watch, unless it runs. Called when a loop starts.
pub(crate) fn watch() {
    let pid = std::process::id();
    if WATCHING.swap(pid, Ordering::AcqRel) == pid {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("signal-slot-watch".to_owned())
        .spawn(run);
    match spawned {
        Ok(thread) => {
            if let Ok(mut watch) = WATCH_THREAD.try_lock() {
                *watch = Some(thread.thread().clone());
            }
        }
        Err(error) => {
            WATCHING.store(0, Ordering::Release);
            tracing::warn!("cannot start the watch of slow slots and stuck loops: {error}");
        }
    }
}

/// A loop of this process ended: the watch looks at once, and ends if it
/// was the last, so that the process keeps no thread of the library and
/// nothing of the loop once its loops have ended.
pub(crate) fn loop_ended() {
    if WATCHING.load(Ordering::Acquire) != std::process::id() {
        return;
    }
    if let Ok(watch) = WATCH_THREAD.try_lock()
        && let Some(thread) = watch.as_ref()
    {
        thread.unpark();
    }
}

/// What the watch knows of one loop between looks.
struct Seen {
    /// The loop (held weakly: its memory stays, so that a loop made later
    /// at the same address is another entry, but what it holds goes when
    /// it ends).
    peer: Weak<LoopPeer>,
    /// The run (its start) last reported as slow.
    slow_reported: u64,
    /// Slot runs at the last look, and since when that count holds.
    handled: u64,
    since: Option<Instant>,
    stuck_reported: bool,
}

/// The loops of this process that have not ended.
fn live_loops() -> Vec<Arc<LoopPeer>> {
    registry()
        .loops
        .values()
        .filter(|peer| peer.local_inbox().is_some() && !peer.is_gone())
        .cloned()
        .collect()
}

/// Looks at every loop until none is left (the process keeps no thread of
/// the library once its loops have ended; the next loop to start starts
/// the watch again).
fn run() {
    let pid = std::process::id();
    let mut seen: HashMap<usize, Seen> = HashMap::new();
    loop {
        let mut loops = live_loops();
        if loops.is_empty() {
            // Let the next loop to start know it must start a watch, then
            // make sure none started meanwhile (or that its starter saw
            // this watch still running, and so it keeps running).
            if WATCHING
                .compare_exchange(pid, 0, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                return;
            }
            loops = live_loops();
            if loops.is_empty()
                || WATCHING
                    .compare_exchange(0, pid, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
            {
                return;
            }
        }
        seen.retain(|_, seen| {
            loops
                .iter()
                .any(|peer| std::ptr::eq(Arc::as_ptr(peer), seen.peer.as_ptr()))
        });
        let mut look = LOOK_MAX;
        let now = Instant::now();
        for peer in &loops {
            let activity = peer.activity();
            look = look
                .min(activity.slow_after() / 4)
                .min(activity.stuck_after() / 4);
            let seen = seen
                .entry(Arc::as_ptr(peer) as usize)
                .or_insert_with(|| Seen {
                    peer: Arc::downgrade(peer),
                    slow_reported: 0,
                    handled: 0,
                    since: None,
                    stuck_reported: false,
                });
            look_at(peer, seen, now);
        }
        // Nothing of a loop is held between looks; a loop that ends wakes
        // the watch.
        drop(loops);
        std::thread::park_timeout(look.max(LOOK_MIN));
    }
}

fn look_at(peer: &LoopPeer, seen: &mut Seen, now: Instant) {
    let activity = peer.activity();
    let running = activity.running();
    if let Some(running) = running
        && running.elapsed > activity.slow_after()
        && seen.slow_reported != running.since
    {
        seen.slow_reported = running.since;
        // Its end is timed, whatever its slot's runs usually take.
        activity.flag(running.since);
        report_slow(peer, running, activity.slow_after());
    }
    let handled = activity.handled();
    if handled != seen.handled || seen.since.is_none() {
        seen.handled = handled;
        seen.since = Some(now);
        seen.stuck_reported = false;
        return;
    }
    let waiting = peer.local_inbox().map_or(0, |inbox| inbox.signals());
    let idle_for = seen.since.map_or(Duration::ZERO, |since| now - since);
    if activity.has_started()
        && running.is_none()
        && waiting > 0
        && idle_for > activity.stuck_after()
        && !seen.stuck_reported
    {
        seen.stuck_reported = true;
        tracing::warn!(
            event_loop = peer.name(),
            waiting,
            idle_for = ?idle_for,
            "event loop `{}` is stuck: {waiting} signals wait for it and it has taken none for \
             {idle_for:?} (is its thread blocked outside a slot, or no longer running it?)",
            peer.name(),
        );
    }
}

fn report_slow(peer: &LoopPeer, running: Running, threshold: Duration) {
    let (object, slot) = registry()
        .attached_objects()
        .into_iter()
        .find(|(loop_name, object)| {
            **loop_name == *peer.name() && object.instance == running.instance
        })
        .map_or_else(
            || ("<an object>".to_owned(), "<a slot>"),
            |(_, object)| {
                let slot = object
                    .slot_names
                    .get(usize::from(running.slot))
                    .copied()
                    .unwrap_or("<a relay>");
                (object.id.to_string(), slot)
            },
        );
    tracing::warn!(
        event_loop = peer.name(),
        object = %object,
        slot,
        elapsed = ?running.elapsed,
        "slot `{object}.{slot}` on event loop `{}` has run for {:?} and still runs (the loop's \
         slow_slot is {threshold:?}): nothing else runs on the loop meanwhile",
        peer.name(),
        running.elapsed,
    );
}

thread_local! {
    /// Reports of slow runs from this thread (a loop's), at most one a
    /// second.
    static SLOW_REPORTS: RateLimit = RateLimit::new(Duration::from_secs(1));
}

/// A slot ran past its loop's `slow_slot`: said once it returned, with
/// what sent the signal. Called on the loop's thread.
pub(super) fn slow_run(
    handle: &LoopHandle,
    object: &str,
    slot: &str,
    signal: &str,
    sender: Option<Sender<'_>>,
    took: u64,
) {
    let Some(suppressed) = SLOW_REPORTS.with(|limit| {
        let allowed = limit.allow();
        if allowed.is_none() {
            limit.suppress();
        }
        allowed
    }) else {
        return;
    };
    let took = Duration::from_nanos(took);
    let threshold = handle.peer().activity().slow_after();
    tracing::warn!(
        event_loop = handle.name(),
        object,
        slot,
        signal,
        emitter = sender.map(|sender| sender.id),
        took = ?took,
        "slot `{object}.{slot}` on event loop `{}` ran for {took:?} (its slow_slot is \
         {threshold:?}), for the signal `{signal}` from `{}` ({suppressed} more slow runs not \
         reported since the last report)",
        handle.name(),
        sender.map_or("a direct invocation", |sender| sender.id),
    );
}
