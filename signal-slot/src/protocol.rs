//! The vocabulary the processes of a tree speak, below everything that
//! speaks it: process numbers, the receivers a signal names, how a
//! connection delivers and how it changes, where a call's reply goes, and
//! why a signal was dropped. `command` and `wire` put these on the wire;
//! the object model above works with them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The number of a process in its tree: 0 for the root, then in order of
/// creation, never reused.
pub(crate) type ProcessId = u64;

/// This process's number: the one place it is kept.
static OWN_PROCESS: AtomicU64 = AtomicU64::new(0);

/// This process's number in its tree (0 in the root).
pub(crate) fn own_process() -> ProcessId {
    OWN_PROCESS.load(Ordering::Acquire)
}

/// Sets this process's number (in a child, as it starts); the shared
/// buffers it holds are held under it.
pub(crate) fn set_own_process(process: ProcessId) {
    OWN_PROCESS.store(process, Ordering::Release);
    crate::sys::pool::set_holder(process);
}

/// A slot of one object (instance) on the receiving loop.
#[derive(Debug, Clone)]
pub(crate) struct ReceiverRef {
    pub(crate) object: Arc<str>,
    pub(crate) slot: u16,
    /// The object's instance (see `ObjectShared::instance`); 0 for any
    /// object of that id.
    pub(crate) instance: u64,
    /// A closure's: it leaves its loop when the connection ends.
    pub(crate) lease: Option<Arc<dyn std::any::Any + Send + Sync>>,
}

impl PartialEq for ReceiverRef {
    fn eq(&self, other: &Self) -> bool {
        (&self.object, self.slot, self.instance) == (&other.object, other.slot, other.instance)
    }
}

impl Eq for ReceiverRef {}

impl std::hash::Hash for ReceiverRef {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (&self.object, self.slot, self.instance).hash(state);
    }
}

impl ReceiverRef {
    /// True if both name the same slot of the same object (an unknown
    /// instance matches any, and [`ANY_SLOT`] any slot).
    pub(crate) fn matches(&self, other: &ReceiverRef) -> bool {
        self.object == other.object
            && (self.slot == other.slot || self.slot == ANY_SLOT || other.slot == ANY_SLOT)
            && (self.instance == other.instance || self.instance == 0 || other.instance == 0)
    }
}

/// The slot index of a receiver that stands for every slot of its object
/// (and every signal it relays), in a disconnection.
pub(crate) const ANY_SLOT: u16 = u16::MAX;

/// The signal index of a change that applies to every signal of the
/// emitter.
pub(crate) const EVERY_SIGNAL: u16 = u16::MAX;

/// How a connection delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Delivery {
    /// Every emission reaches every fan-out receiver (the default).
    FanOut,
    /// Every emission reaches exactly one of the balanced receivers of the
    /// signal, in turn, skipping receivers whose inbox is full or gone: a
    /// work queue.
    Balanced,
    /// The receiver gets the newest emission: one that finds an older one
    /// still waiting for the receiver replaces it (the older one counts as
    /// dropped). For state where only the latest matters: weights, poses,
    /// progress.
    KeepLatest,
    /// The next emission reaches the receiver, once (whichever thread
    /// emits it first), and the connection ends.
    SingleShot,
}

/// A change to a signal's connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    Connect(ReceiverRef, Delivery),
    Disconnect(ReceiverRef),
    /// Ends the single-shot connection to the receiver (it fired).
    Fired(ReceiverRef),
    /// Ends every connection of the signal (broadcasts and publications
    /// stay).
    DisconnectAll,
    /// Broadcasts the signal under its own name (or stops).
    Broadcast(bool),
    /// Broadcasts the signal under a topic's name (or stops).
    Publish(Arc<str>, bool),
}

/// Where the reply to a call goes: the caller's process, and the call's
/// number there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReplyRoute {
    pub(crate) process: ProcessId,
    pub(crate) call: u64,
}

/// Why a signal was dropped: the reasons of
/// [`DropCounts`](crate::DropCounts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum DropReason {
    /// The receiving loop's inbox is full.
    Full,
    /// The receiving loop has ended, or its process is gone.
    Gone,
    /// The loop was stopping and the signal came after the stop.
    AfterStop,
    /// The arguments could not be encoded for another process.
    Encode,
    /// The encoded signal is larger than the receiving loop's inbox takes.
    TooLarge,
    /// It arrived from another process damaged (after a frame that cannot
    /// be decoded).
    Corrupt,
    /// A newer emission replaced it on a keep-latest connection.
    Replaced,
    /// Its receiver was detached at once, with what was queued to it.
    Removed,
    /// It was lost on the network (Zenoh dropped it under congestion).
    Lost,
}

impl DropReason {
    /// Every reason, in the order [`DropCounts`](crate::DropCounts) lists
    /// them.
    pub const ALL: [DropReason; 9] = [
        DropReason::Full,
        DropReason::Gone,
        DropReason::AfterStop,
        DropReason::Encode,
        DropReason::TooLarge,
        DropReason::Corrupt,
        DropReason::Replaced,
        DropReason::Removed,
        DropReason::Lost,
    ];

    /// Its name in metrics and reports: `full`, `gone`, `after_stop`,
    /// `encode`, `too_large`, `corrupt`, `replaced`, `removed`, `lost`.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::Full => "full",
            DropReason::Gone => "gone",
            DropReason::AfterStop => "after_stop",
            DropReason::Encode => "encode",
            DropReason::TooLarge => "too_large",
            DropReason::Corrupt => "corrupt",
            DropReason::Replaced => "replaced",
            DropReason::Removed => "removed",
            DropReason::Lost => "lost",
        }
    }

    /// What happened, in words: `its inbox is full`.
    pub fn describe(self) -> &'static str {
        match self {
            DropReason::Full => "its inbox is full",
            DropReason::Gone => "it has ended or its process is gone",
            DropReason::AfterStop => "it stopped before the signal was handled",
            DropReason::Encode => "the signal could not be encoded for its process",
            DropReason::TooLarge => "the signal is too large for its inbox",
            DropReason::Corrupt => "it arrived damaged from another process",
            DropReason::Replaced => "a newer one replaced it (a keep-latest connection)",
            DropReason::Removed => "its receiver was detached at once",
            DropReason::Lost => "it was lost on the network",
        }
    }
}

/// What a signal or slot takes: the fingerprint of its argument tuple, and
/// the tuple's type name for messages.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Signature {
    /// The hash of the arguments' Serde shape (or type name).
    pub fingerprint: u64,
    /// The argument tuple's Rust type, for messages.
    pub types: String,
}
