//! Serial mode: loops that run on the thread that started them, driven by
//! that thread's loop, in a fixed order. Deterministic, for tests and
//! debugging.
//!
//! A serial [`EventLoopThread`](crate::EventLoopThread) or
//! `EventLoopProcess` does not get a thread or a
//! process: `start()` hands its loop to the calling thread, where every
//! iteration of the loop that runs there (its `exec` or `process_events`)
//! also runs one iteration of each guest, in the order they were started.

use std::cell::RefCell;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::status::ExitStatus;

/// Where a guest's exit status lands when it ends.
pub(crate) type GuestResult = Arc<Mutex<Option<ExitStatus>>>;

/// The outcome of one iteration of a loop.
pub(crate) enum Step {
    Ended(ExitStatus),
    Worked,
    Idle,
}

/// A loop that a thread's own loop can run as its guest: the event loop,
/// seen from here without importing it.
pub(crate) trait GuestLoop {
    /// Runs one iteration, without waiting for work.
    fn step_now(&mut self) -> Step;
    /// Whether messages wait for it.
    fn has_work(&self) -> bool;
    /// When its next timer is due.
    fn next_deadline(&self) -> Option<Instant>;
}

struct Guest {
    event_loop: Box<dyn GuestLoop>,
    result: GuestResult,
}

thread_local! {
    static GUESTS: RefCell<Vec<Guest>> = const { RefCell::new(Vec::new()) };
}

/// Forgets the guests this thread inherited through `fork`: they belong to
/// the parent, and neither run nor drop in the child.
pub(crate) fn forget_inherited_guests() {
    GUESTS.with(|guests| std::mem::forget(std::mem::take(&mut *guests.borrow_mut())));
}

/// Makes `event_loop` a guest of the calling thread.
pub(crate) fn add_guest(event_loop: impl GuestLoop + 'static) -> GuestResult {
    let result = GuestResult::default();
    GUESTS.with(|guests| {
        guests.borrow_mut().push(Guest {
            event_loop: Box::new(event_loop),
            result: result.clone(),
        });
    });
    result
}

/// Runs one iteration of every guest of this thread. Returns true if any
/// did something.
pub(crate) fn drive_guests() -> bool {
    // Taken out, so that a guest's slot can start further guests.
    let mut guests = GUESTS.with(|guests| std::mem::take(&mut *guests.borrow_mut()));
    if guests.is_empty() {
        return false;
    }
    let mut worked = false;
    guests.retain_mut(|guest| match guest.event_loop.step_now() {
        Step::Ended(status) => {
            *guest.result.lock().unwrap_or_else(PoisonError::into_inner) = Some(status);
            worked = true;
            false
        }
        Step::Worked => {
            worked = true;
            true
        }
        Step::Idle => true,
    });
    GUESTS.with(|slot| {
        let mut slot = slot.borrow_mut();
        guests.append(&mut slot);
        *slot = guests;
    });
    worked
}

/// When a guest of this thread next needs to run: now if one has messages
/// waiting, else its next timer.
pub(crate) fn guests_deadline() -> Option<Instant> {
    GUESTS.with(|guests| {
        guests
            .borrow()
            .iter()
            .filter_map(|guest| {
                if guest.event_loop.has_work() {
                    Some(Instant::now())
                } else {
                    guest.event_loop.next_deadline()
                }
            })
            .min()
    })
}

/// A serial `join`: on the thread that started the serial loop (`host`),
/// drives its guests until `result` is set, or `deadline`.
///
/// # Errors
///
/// [`Error::Refused`](crate::Error::Refused) on any other thread: the loop
/// runs on its host's.
pub(crate) fn join(
    host: std::thread::ThreadId,
    result: &GuestResult,
    deadline: Option<Instant>,
) -> Result<Option<ExitStatus>, crate::Error> {
    if host != std::thread::current().id() {
        return Err(crate::Error::Refused(
            "a serial loop (or process) is joined on the thread that started it: it runs there",
        ));
    }
    Ok(run_until(result, deadline))
}

/// Drives this thread's guests until `result` is set (a serial `join`).
/// Gives up at `deadline`.
fn run_until(result: &GuestResult, deadline: Option<Instant>) -> Option<ExitStatus> {
    loop {
        if let Some(status) = result
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            return Some(status);
        }
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return None;
        }
        if !drive_guests() {
            // Nothing to do until a timer is due, or a message comes from
            // another thread (which serial mode does not expect).
            let wake = Instant::now() + Duration::from_millis(1);
            let wake = guests_deadline().map_or(wake, |due| due.min(wake));
            let wake = deadline.map_or(wake, |deadline| deadline.min(wake));
            std::thread::sleep(wake.saturating_duration_since(Instant::now()));
        }
    }
}
