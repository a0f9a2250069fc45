//! The seam for control, as [`Link`](super::link::Link) is for data: the
//! questions this process puts to the process that runs a loop (which
//! object has an id, change an emitter's connections, ...), written once.
//!
//! A [`Question`] is asked through [`Control::ask`]: inside a process tree
//! of that process's agent, over its ipc-channel; across the network, of
//! the program's agent, over Zenoh. Either side answers with the same
//! function (`process::agent::answer_here`). The typed questions below are the
//! trait's own methods, so that no way of asking writes them again.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::command::Command;
use crate::protocol::Signature;
use crate::stats::Pulse;

/// How long a question may take, unless its asker says otherwise.
pub(crate) const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// A question about a loop, put to the process (or program) that runs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Question {
    /// Which object has the id `id` on the loop `loop_name`.
    Lookup { loop_name: String, id: String },
    /// Apply a connection change (a `Command::Connection`, as a command
    /// frame) to an emitter of the loop `emitter_loop`.
    Connection {
        emitter_loop: String,
        frame: Vec<u8>,
    },
    /// How many receivers signal `signal` (`u16::MAX`: every signal) of
    /// the object `emitter` of the loop `emitter_loop` has.
    Receivers {
        emitter_loop: String,
        emitter: String,
        signal: u16,
    },
    /// Detach the object `object` (that instance, or any if 0) of the loop
    /// `loop_name` at once: nothing more reaches it (its loop detaches it
    /// when the command comes).
    RemoveNow {
        loop_name: String,
        object: String,
        instance: u64,
    },
    /// What signal (`signal` true) or slot `index` of the object `id` of
    /// the loop `loop_name` takes.
    Signature {
        loop_name: String,
        id: String,
        signal: bool,
        index: u16,
    },
    /// How the loop `loop_name` does: what it handled, whether a slot runs,
    /// what waits.
    Pulse { loop_name: String },
    /// The type, instance, signals and slots of the object `id` of the loop
    /// `loop_name`, by name (for a program that does not have its type).
    Members { loop_name: String, id: String },
}

/// What an object is, as its own program names it: for a program that
/// reaches it without its type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct Members {
    pub(crate) type_name: String,
    pub(crate) instance: u64,
    /// Its signals' names, by index.
    pub(crate) signals: Vec<String>,
    /// Its slots' names, by index.
    pub(crate) slots: Vec<String>,
}

/// The answer to a [`Question`], of the same name.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Answer {
    /// The object's type name and instance, if there is one.
    Lookup(Option<(String, u64)>),
    /// Whether the change changed anything, or why it could not be made.
    Connection(Result<bool, String>),
    /// The count (`None`: no such object).
    Receivers(Option<u64>),
    /// Whether there was such an object.
    RemoveNow(bool),
    /// The signature, or why there is none.
    Signature(Result<Signature, String>),
    /// The pulse (`None`: no such loop runs there).
    Pulse(Option<Pulse>),
    /// What the object is, if there is one.
    Members(Option<Members>),
}

/// The way to the process (or program) that runs a loop, for control.
pub(crate) trait Control: Send + Sync {
    /// Puts `question` to the process that runs the loop and waits up to
    /// `timeout` (or the way's own limit) for its answer.
    fn ask(&self, question: Question, timeout: Duration) -> Result<Answer, String>;

    /// True where signatures are compared before a connection (programs
    /// that may run other builds); processes of one tree run one build.
    fn compares_signatures(&self) -> bool {
        false
    }

    /// Told of a connection change once it was applied (across the
    /// network it is remembered, to be asked again of a program that takes
    /// the loop over).
    fn applied(&self, command: &Command) {
        let _ = command;
    }

    /// Which object has the id `id` on the loop `loop_name`: its type's
    /// name and its instance.
    fn lookup(&self, loop_name: &str, id: &str) -> Result<Option<(String, u64)>, String> {
        let question = Question::Lookup {
            loop_name: loop_name.to_owned(),
            id: id.to_owned(),
        };
        match self.ask(question, ANSWER_TIMEOUT)? {
            Answer::Lookup(found) => Ok(found),
            other => Err(mismatched(&other)),
        }
    }

    /// What the object `id` of the loop `loop_name` is, by name.
    fn members(&self, loop_name: &str, id: &str) -> Result<Option<Members>, String> {
        let question = Question::Members {
            loop_name: loop_name.to_owned(),
            id: id.to_owned(),
        };
        match self.ask(question, ANSWER_TIMEOUT)? {
            Answer::Members(found) => Ok(found),
            other => Err(mismatched(&other)),
        }
    }

    /// Applies a connection change (a `Command::Connection`) to an emitter
    /// of the loop `emitter_loop`; says whether it changed anything.
    fn connection(
        &self,
        emitter_loop: &str,
        command: Command,
        timeout: Duration,
    ) -> Result<bool, String> {
        let question = Question::Connection {
            emitter_loop: emitter_loop.to_owned(),
            frame: crate::wire::command_packet(command.clone()),
        };
        match self.ask(question, timeout)? {
            Answer::Connection(changed) => {
                let changed = changed?;
                self.applied(&command);
                Ok(changed)
            }
            other => Err(mismatched(&other)),
        }
    }

    /// How many receivers signal `signal` of `emitter` has.
    fn receivers(&self, emitter_loop: &str, emitter: &str, signal: u16) -> Result<usize, String> {
        let question = Question::Receivers {
            emitter_loop: emitter_loop.to_owned(),
            emitter: emitter.to_owned(),
            signal,
        };
        match self.ask(question, ANSWER_TIMEOUT)? {
            Answer::Receivers(Some(count)) => Ok(usize::try_from(count).unwrap_or(usize::MAX)),
            Answer::Receivers(None) => Err(format!(
                "no object `{emitter}` on event loop `{emitter_loop}`"
            )),
            other => Err(mismatched(&other)),
        }
    }

    /// Marks the object removed at once (see `LoopPeer::remove_now`).
    fn remove_now(&self, loop_name: &str, object: &str, instance: u64) -> Result<bool, String> {
        let question = Question::RemoveNow {
            loop_name: loop_name.to_owned(),
            object: object.to_owned(),
            instance,
        };
        match self.ask(question, ANSWER_TIMEOUT)? {
            Answer::RemoveNow(found) => Ok(found),
            other => Err(mismatched(&other)),
        }
    }

    /// What signal (`signal` true) or slot `index` of the object `id` takes,
    /// as its program sees it. `None` where signatures are not compared.
    fn signature(
        &self,
        loop_name: &str,
        id: &str,
        signal: bool,
        index: u16,
    ) -> Result<Option<Signature>, String> {
        if !self.compares_signatures() {
            return Ok(None);
        }
        let question = Question::Signature {
            loop_name: loop_name.to_owned(),
            id: id.to_owned(),
            signal,
            index,
        };
        match self.ask(question, ANSWER_TIMEOUT)? {
            Answer::Signature(signature) => signature.map(Some),
            other => Err(mismatched(&other)),
        }
    }
}

impl dyn Control {
    /// How the loop `loop_name` does, if it runs there; waits up to
    /// `timeout`.
    pub(crate) fn pulse(
        &self,
        loop_name: &str,
        timeout: Duration,
    ) -> Result<Option<Pulse>, String> {
        let question = Question::Pulse {
            loop_name: loop_name.to_owned(),
        };
        match self.ask(question, timeout)? {
            Answer::Pulse(pulse) => Ok(pulse),
            other => Err(mismatched(&other)),
        }
    }
}

/// An answer to another question than the one asked.
fn mismatched(answer: &Answer) -> String {
    format!("its process answered another question: {answer:?}")
}
