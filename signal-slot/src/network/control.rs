//! The questions programs put to each other (the `Question`s of the
//! `Control` seam), over Zenoh queries. A program asks the program that
//! runs a loop (`NetControl`) and answers the others' questions on a thread
//! of its own, never in a Zenoh callback, as a process's agent answers the
//! tree's (`process::agent::answer_here`).

use super::*;

/// Control of a loop of another program: questions to whichever program
/// runs it now.
pub(super) struct NetControl {
    pub(super) shared: Weak<Shared>,
    pub(super) loop_name: Arc<str>,
}

impl NetControl {
    /// The network, if this process joined it (a forked child did not: its
    /// parent's session has no threads there).
    fn shared(&self) -> Result<Arc<Shared>, String> {
        self.shared
            .upgrade()
            .filter(|shared| shared.pid == std::process::id())
            .ok_or_else(|| "this process is not on the network".to_owned())
    }
}

impl Control for NetControl {
    /// Asked of whichever program runs the loop now, within the network's
    /// own limit.
    fn ask(&self, question: Question, _timeout: Duration) -> Result<Answer, String> {
        let shared = self.shared()?;
        let program = shared.owner(&self.loop_name)?;
        shared.ask(&program, &question)
    }

    fn compares_signatures(&self) -> bool {
        true
    }

    fn applied(&self, command: &Command) {
        if let Ok(shared) = self.shared() {
            shared.remember(&self.loop_name, command);
        }
    }
}

impl Shared {
    /// The program that runs the loop `name` now.
    pub(super) fn owner(&self, name: &str) -> Result<Arc<str>, String> {
        self.lock()
            .owners
            .get(name)
            .cloned()
            .ok_or_else(|| format!("the program of event loop `{name}` is gone"))
    }

    /// Asks `program` the question `question`.
    pub(super) fn ask(&self, program: &str, question: &Question) -> Result<Answer, String> {
        let payload = rmp_serde::to_vec(question).map_err(|error| error.to_string())?;
        let replies = self
            .session
            .get(self.key(format_args!("program/{program}")))
            .payload(payload)
            .timeout(ANSWER_TIMEOUT)
            .wait()
            .map_err(|error| format!("its program cannot be asked: {error}"))?;
        let reply = replies
            .recv()
            .map_err(|_| format!("its program did not answer in {ANSWER_TIMEOUT:?}"))?;
        let sample = reply
            .result()
            .map_err(|error| format!("its program failed to answer: {:?}", error.payload()))?;
        rmp_serde::from_slice(&sample.payload().to_bytes())
            .map_err(|error| format!("its program's answer cannot be read: {error}"))
    }

    /// Answers a question from another program.
    pub(super) fn answer(&self, query: &zenoh::query::Query) {
        let Some(payload) = query.payload() else {
            return;
        };
        let question: Question = match rmp_serde::from_slice(&payload.to_bytes()) {
            Ok(question) => question,
            Err(error) => {
                tracing::warn!(%error, key = %query.key_expr(), "a question from the network cannot be read");
                return;
            }
        };
        let answer = crate::pool::untrusted(|| crate::process::answer_here(question));
        let bytes = rmp_serde::to_vec(&answer);
        match bytes {
            Ok(bytes) => {
                if let Err(error) = query.reply(query.key_expr().clone(), bytes).wait() {
                    tracing::debug!(%error, "an answer to another program cannot be sent");
                }
            }
            Err(error) => tracing::error!(%error, "an answer to another program cannot be encoded"),
        }
    }
}
