//! Error types. Every message names the loop, object, signal or process
//! involved.

use std::fmt;

/// An error from an operation on loops, objects, connections or processes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An object id is already taken on that loop.
    #[error("an object with id `{id}` already lives on event loop `{loop_name}`")]
    DuplicateObjectId {
        /// The loop.
        loop_name: String,
        /// The id that is taken.
        id: String,
    },
    /// A loop name is already taken in this process.
    #[error("an event loop named `{0}` already exists in this process")]
    DuplicateLoopName(String),
    /// An id or name is empty or otherwise unusable.
    #[error("invalid {what} `{value}`: {why}")]
    InvalidName {
        /// "object id", "loop name" or "process name".
        what: &'static str,
        /// The rejected value.
        value: String,
        /// Why it was rejected.
        why: &'static str,
    },
    /// No loop of that name is known in this process's tree.
    #[error("no event loop `{0}` is known in this process tree")]
    LoopNotFound(String),
    /// The loop has ended: nothing can be attached to it any more.
    #[error("event loop `{0}` has ended")]
    LoopEnded(String),
    /// The loop's inbox from this process is full, even the room kept for
    /// commands: its process does not read it (stopped, or stuck in a slot).
    #[error(
        "the inbox of event loop `{0}` is full, even the room kept for commands: its process \
         does not read it"
    )]
    InboxFull(String),
    /// The object is not (or no longer) attached to its loop.
    #[error("object `{id}` is not attached to event loop `{loop_name}`")]
    ObjectNotFound {
        /// The loop.
        loop_name: String,
        /// The object id.
        id: String,
    },
    /// The object is not of the type asked for.
    #[error("object `{id}` on event loop `{loop_name}` is a `{found}`, not a `{expected}`")]
    ObjectType {
        /// The loop.
        loop_name: String,
        /// The object id.
        id: String,
        /// The type asked for.
        expected: &'static str,
        /// The object's type.
        found: String,
    },
    /// The object cannot move to that loop.
    #[error("object `{id}` cannot move: {message}")]
    Move {
        /// The object id.
        id: String,
        /// Why not.
        message: String,
    },
    /// A closure cannot run on a loop of another process (or one that is
    /// to run in a child): it cannot travel there.
    #[error(
        "a closure cannot run on event loop `{loop_name}`: the loop runs (or is to run) in \
         another process, where a closure cannot go; connect a slot of an object there instead"
    )]
    ClosureElsewhere {
        /// The loop.
        loop_name: String,
    },
    /// Objects cannot be moved into a process that already runs.
    #[error(
        "cannot attach `{id}` to event loop `{loop_name}`: the loop runs in another process; \
         create the object there, in the process's init function or in a slot"
    )]
    RemoteLoop {
        /// The loop.
        loop_name: String,
        /// The object id.
        id: String,
    },
    /// Across the network: a signal or slot takes other types in the
    /// program that runs it than in this one (the two were built from
    /// different versions of its argument types).
    #[error(
        "`{what}` takes {here} in this program but {there} in the program of event loop \
         `{loop_name}`: their argument types differ (build both from the same version of them)"
    )]
    Signature {
        /// The signal or slot, as `object.name`.
        what: String,
        /// The loop of the other program.
        loop_name: String,
        /// Its argument types, as this program sees them.
        here: String,
        /// Its argument types, as the other program sees them.
        there: String,
    },
    /// The network could not be joined or used (see `network`, with the
    /// `zenoh` feature).
    #[error("network: {0}")]
    Network(String),
    /// A connection of an emitter of another process could not be changed.
    #[error("cannot change the connections of `{emitter}` on event loop `{loop_name}`: {message}")]
    Connection {
        /// The emitter's id.
        emitter: String,
        /// The emitter's loop.
        loop_name: String,
        /// What went wrong.
        message: String,
    },
    /// An object reached by name has no signal or slot of that name (see
    /// [`ForeignObject`](crate::ForeignObject)).
    #[error("`{id}` (a `{type_name}`) has no {what} `{name}`")]
    NoMember {
        /// The object's id.
        id: String,
        /// Its type's name.
        type_name: &'static str,
        /// "signal" or "slot".
        what: &'static str,
        /// The name asked for.
        name: String,
    },
    /// A slot was passed to an object it does not belong to.
    #[error("the slot `{slot}` belongs to object `{owner}`, not to `{object}`")]
    ForeignSlot {
        /// The slot's name.
        slot: &'static str,
        /// The object that owns the slot.
        owner: String,
        /// The object that was asked to use it.
        object: String,
    },
    /// An object asked for with [`LoopHandle::keep`](crate::LoopHandle::keep)
    /// was not handed back.
    #[error("object `{id}` of event loop `{loop_name}` was not handed back: {why}")]
    NotHandedBack {
        /// The loop.
        loop_name: String,
        /// The object id.
        id: String,
        /// Why not.
        why: String,
    },
    /// The thread or process was already started.
    #[error("`{0}` was already started")]
    AlreadyStarted(String),
    /// The thread or process was never started.
    #[error("`{0}` was not started")]
    NotStarted(String),
    /// The operation is not available on this platform.
    #[error("{0} is not supported on this platform")]
    Unsupported(&'static str),
    /// The operation is refused in this state of the program (the message
    /// says why, and what to do instead).
    #[error("{0}")]
    Refused(&'static str),
    /// A child process could not be started or controlled.
    #[error("process `{process}`: {message}")]
    Process {
        /// The process's name.
        process: String,
        /// What went wrong.
        message: String,
    },
    /// An operating system error.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// Checks a user-given name: non-empty, printable, of a sane length.
pub(crate) fn check_name(what: &'static str, value: &str) -> Result<(), Error> {
    let why = if value.is_empty() {
        "it is empty"
    } else if value.len() > 256 {
        "it is longer than 256 bytes"
    } else if value.chars().any(char::is_control) {
        "it contains control characters"
    } else {
        return Ok(());
    };
    Err(Error::InvalidName {
        what,
        value: value.to_owned(),
        why,
    })
}

/// Why a slot call failed.
///
/// Reported through `tracing` with the loop, object, slot and emitter named,
/// and, for a panic, recorded in the loop's [`ExitStatus`](crate::ExitStatus).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlotError {
    /// The payload does not have the slot's argument types.
    PayloadMismatch {
        /// The slot's argument types.
        expected: &'static str,
        /// What the signal carried.
        found: &'static str,
    },
    /// The payload came from another process and could not be decoded.
    Decode(String),
    /// The message names a slot index the object does not have.
    NoSuchSlot {
        /// The object's type.
        object_type: &'static str,
        /// The index.
        slot: u16,
    },
    /// The slot returned an error.
    Returned(String),
}

impl fmt::Display for SlotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SlotError::PayloadMismatch { expected, found } => {
                write!(
                    f,
                    "the slot takes `{expected}` but the signal carried `{found}`"
                )
            }
            SlotError::Decode(message) => write!(f, "cannot decode the payload: {message}"),
            SlotError::NoSuchSlot { object_type, slot } => {
                write!(f, "`{object_type}` has no slot #{slot}")
            }
            SlotError::Returned(message) => write!(f, "the slot returned an error: {message}"),
        }
    }
}

impl std::error::Error for SlotError {}

/// A payload could not be encoded for another process.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode the payload: {0}")]
pub struct EncodeError(pub(crate) String);

/// A payload or frame from another process could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub(crate) String);

impl From<DecodeError> for SlotError {
    fn from(error: DecodeError) -> Self {
        SlotError::Decode(error.0)
    }
}
