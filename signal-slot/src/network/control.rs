//! The questions programs put to each other, over Zenoh queries: which
//! object has an id, change an emitter's connections, how many receivers,
//! remove an object at once, what a signal or slot takes. A program asks
//! the program that runs a loop (`NetControl`, the `Control` seam) and
//! answers the others' questions on a thread of its own, never in a Zenoh
//! callback.

use super::*;

/// A question from another program, and how it is answered here.
#[derive(Serialize, Deserialize)]
pub(super) enum Request {
    /// Answered with `Option<(String, u64)>`.
    Lookup { loop_name: String, id: String },
    /// Answered with `Result<bool, String>`.
    Connection {
        emitter_loop: String,
        frame: Vec<u8>,
    },
    /// Answered with `Option<u64>`.
    Receivers {
        emitter_loop: String,
        emitter: String,
        signal: u16,
    },
    /// Answered with `bool`.
    RemoveNow {
        loop_name: String,
        object: String,
        instance: u64,
    },
    /// Answered with `Result<Signature, String>`.
    Signature {
        loop_name: String,
        id: String,
        signal: bool,
        index: u16,
    },
}

impl Request {
    fn answer(self) -> Result<Vec<u8>, rmp_serde::encode::Error> {
        use crate::transport::agent;
        match self {
            Request::Lookup { loop_name, id } => {
                rmp_serde::to_vec(&agent::lookup_here(&loop_name, &id))
            }
            Request::Connection {
                emitter_loop,
                frame,
            } => rmp_serde::to_vec(&agent::change_connection(&emitter_loop, &frame)),
            Request::Receivers {
                emitter_loop,
                emitter,
                signal,
            } => rmp_serde::to_vec(&agent::receivers_here(&emitter_loop, &emitter, signal)),
            Request::RemoveNow {
                loop_name,
                object,
                instance,
            } => rmp_serde::to_vec(&agent::remove_now_here(&loop_name, &object, instance)),
            Request::Signature {
                loop_name,
                id,
                signal,
                index,
            } => {
                let answer = agent::signature_here(&loop_name, &id, signal, index);
                rmp_serde::to_vec(&answer)
            }
        }
    }
}

/// Control of a loop of another program: questions to whichever program
/// runs it now.
pub(super) struct NetControl {
    pub(super) shared: Weak<Shared>,
    pub(super) loop_name: Arc<str>,
}

impl NetControl {
    pub(super) fn ask<T: DeserializeOwned>(&self, request: &Request) -> Result<T, String> {
        let shared = self.shared()?;
        let program = shared.owner(&self.loop_name)?;
        shared.ask(&program, request)
    }

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
    fn lookup(&self, loop_name: &str, id: &str) -> Result<Option<(String, u64)>, String> {
        self.ask(&Request::Lookup {
            loop_name: loop_name.to_owned(),
            id: id.to_owned(),
        })
    }

    fn connection(
        &self,
        emitter_loop: &str,
        command: Command,
        _timeout: Duration,
    ) -> Result<bool, String> {
        let shared = self.shared()?;
        let program = shared.owner(&self.loop_name)?;
        let changed = shared.connection(&program, emitter_loop, &command)?;
        shared.remember(&self.loop_name, &command);
        Ok(changed)
    }

    fn receivers(&self, emitter_loop: &str, emitter: &str, signal: u16) -> Result<usize, String> {
        let count: Option<u64> = self.ask(&Request::Receivers {
            emitter_loop: emitter_loop.to_owned(),
            emitter: emitter.to_owned(),
            signal,
        })?;
        count
            .map(|count| usize::try_from(count).unwrap_or(usize::MAX))
            .ok_or_else(|| format!("no object `{emitter}` on event loop `{emitter_loop}`"))
    }

    fn remove_now(&self, loop_name: &str, object: &str, instance: u64) -> Result<bool, String> {
        self.ask(&Request::RemoveNow {
            loop_name: loop_name.to_owned(),
            object: object.to_owned(),
            instance,
        })
    }

    fn signature(
        &self,
        loop_name: &str,
        id: &str,
        signal: bool,
        index: u16,
    ) -> Result<Option<Signature>, String> {
        let answer: Result<Signature, String> = self.ask(&Request::Signature {
            loop_name: loop_name.to_owned(),
            id: id.to_owned(),
            signal,
            index,
        })?;
        answer.map(Some)
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

    /// Asks `program` the question `request`.
    pub(super) fn ask<T: DeserializeOwned>(
        &self,
        program: &str,
        request: &Request,
    ) -> Result<T, String> {
        let payload = rmp_serde::to_vec(request).map_err(|error| error.to_string())?;
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
        let request: Request = match rmp_serde::from_slice(&payload.to_bytes()) {
            Ok(request) => request,
            Err(error) => {
                tracing::warn!(%error, key = %query.key_expr(), "a question from the network cannot be read");
                return;
            }
        };
        let bytes = crate::pool::untrusted(|| request.answer());
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
