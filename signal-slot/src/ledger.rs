//! The delivery ledger: how many signals each process has taken off its
//! channel from each other process, in memory shared by the whole process
//! tree.
//!
//! A sender counts what it handed to the transport; when the receiving
//! process dies, the difference is what was in transit (in the socket, or
//! read but not yet handed to a slot) and is counted as dropped. A receiver
//! counts a signal as taken when it hands it to its slots, or when it drops
//! it itself (after its loop stopped, or a slot failed), counting the drop
//! there.
//! Processes are numbered in creation order (the first process is 0); the
//! ledger covers the first [`MAX_PROCESSES`] of them.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU16, Ordering};

use crate::sys::shared::SharedCounters;

/// How many processes of a tree the ledger covers.
pub(crate) const MAX_PROCESSES: u16 = 64;

static LEDGER: OnceLock<Option<SharedCounters>> = OnceLock::new();

/// This process's number.
static OWN: AtomicU16 = AtomicU16::new(0);

/// Creates the ledger; called in the first process before any fork.
pub(crate) fn create() {
    LEDGER.get_or_init(|| {
        let cells = usize::from(MAX_PROCESSES) * usize::from(MAX_PROCESSES);
        SharedCounters::new(cells)
            .map_err(|error| {
                tracing::warn!(%error, "no delivery ledger: losses of killed processes will not be counted");
            })
            .ok()
    });
}

/// This process's number.
pub(crate) fn own() -> u16 {
    OWN.load(Ordering::Relaxed)
}

/// Sets this process's number (in a child, right after the fork).
pub(crate) fn set_own(index: u16) {
    OWN.store(index, Ordering::Relaxed);
}

fn cell(receiver: u16, sender: u16) -> Option<&'static std::sync::atomic::AtomicU64> {
    if receiver >= MAX_PROCESSES || sender >= MAX_PROCESSES {
        return None;
    }
    let index = usize::from(receiver) * usize::from(MAX_PROCESSES) + usize::from(sender);
    LEDGER.get()?.as_ref()?.get(index)
}

/// Records that this process took `count` signals from process `sender`.
pub(crate) fn taken(sender: u16, count: u64) {
    if let Some(cell) = cell(own(), sender) {
        cell.fetch_add(count, Ordering::Relaxed);
    }
}

/// How many signals process `receiver` has taken from this process.
pub(crate) fn taken_by(receiver: u16) -> Option<u64> {
    cell(receiver, own()).map(|cell| cell.load(Ordering::Acquire))
}
