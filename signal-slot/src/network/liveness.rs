//! Liveness: which program runs each loop, as Zenoh's liveliness tokens
//! say; a loop gone (its link down, `loop_gone`) and back (`loop_back`),
//! and the connection changes this program asked of its emitters, asked
//! again of the program that runs it now.

use super::*;

impl Shared {
    /// A loop of another program appeared or went.
    pub(super) fn live(self: &Arc<Self>, program: Arc<str>, loop_name: Arc<str>, alive: bool) {
        if program == self.program {
            return;
        }
        let mut state = self.lock();
        let back = if alive {
            let previous = state.owners.insert(loop_name.clone(), program.clone());
            self.appeared.notify_all();
            // Back after it went, or taken over by a new program whose
            // token came before the old one's end: either way a program
            // that has received nothing from this one yet.
            previous.as_ref() != Some(&program) && state.known.contains_key(&loop_name)
        } else {
            if state.owners.get(&loop_name) != Some(&program) {
                // An older program's token, gone after the new one came.
                return;
            }
            state.owners.remove(&loop_name);
            if let Some(known) = state.known.get(&loop_name) {
                known.link.set_up(false);
                drop(state);
                tracing::warn!(event_loop = %loop_name, "event loop `{loop_name}` is gone from the network");
                self.events.loop_gone().emit(loop_name.to_string());
            }
            return;
        };
        if !back {
            return;
        }
        if let Some(known) = state.known.get(&loop_name) {
            known.link.restart();
        }
        let asked: Vec<Command> = state
            .asked
            .iter()
            .filter(|(emitter_loop, _)| *emitter_loop == loop_name)
            .map(|(_, command)| command.clone())
            .collect();
        drop(state);
        tracing::info!(event_loop = %loop_name, "event loop `{loop_name}` is back on the network");
        // Asked on a thread of its own: the other program may be asking
        // this one meanwhile, and this program's agent must answer.
        let shared = Arc::downgrade(self);
        let restored = std::thread::Builder::new()
            .name("signal-slot-net-restore".to_owned())
            .spawn(move || {
                if let Some(shared) = shared.upgrade() {
                    shared.restore(&loop_name, asked);
                    shared.events.loop_back().emit(loop_name.to_string());
                }
            });
        if let Err(error) = restored {
            tracing::error!(%error, "cannot start the thread that restores connections");
        }
    }

    /// Asks again for the connections of emitters of `loop_name`, back:
    /// in rounds, each trying what is left, for [`RESTORE_PATIENCE`] in
    /// all (its program may add its emitters after exporting the loop).
    pub(super) fn restore(&self, loop_name: &str, mut asked: Vec<Command>) {
        let started = Instant::now();
        loop {
            let mut failed = Vec::new();
            for command in asked {
                let result = self
                    .owner(loop_name)
                    .and_then(|program| self.connection(&program, loop_name, &command));
                if let Err(why) = result {
                    failed.push((command, why));
                }
            }
            if failed.is_empty() {
                return;
            }
            if started.elapsed() >= RESTORE_PATIENCE {
                for (_, why) in failed {
                    tracing::error!(
                        event_loop = loop_name,
                        "a connection to an emitter of event loop `{loop_name}` cannot be \
                         restored: {why}"
                    );
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
            asked = failed.into_iter().map(|(command, _)| command).collect();
        }
    }

    pub(super) fn connection(
        &self,
        program: &str,
        emitter_loop: &str,
        command: &Command,
    ) -> Result<bool, String> {
        let question = Question::Connection {
            emitter_loop: emitter_loop.to_owned(),
            frame: crate::wire::command_packet(command.clone()),
        };
        match self.ask(program, &question)? {
            Answer::Connection(changed) => changed,
            other => Err(format!("its program answered another question: {other:?}")),
        }
    }

    /// Remembers a connection change asked of an emitter of `emitter_loop`,
    /// to ask again if that loop comes back.
    pub(super) fn remember(&self, emitter_loop: &Arc<str>, command: &Command) {
        let Command::Connection {
            emitter,
            signal,
            event_loop,
            change,
        } = command
        else {
            return;
        };
        let mut state = self.lock();
        let same = |other: &Command, receiver: Option<&crate::protocol::ReceiverRef>| {
            let Command::Connection {
                emitter: other_emitter,
                signal: other_signal,
                event_loop: other_loop,
                change: Change::Connect(other_receiver, _),
            } = other
            else {
                return false;
            };
            other_emitter == emitter
                && (other_signal == signal || *signal == crate::protocol::EVERY_SIGNAL)
                && other_loop == event_loop
                && receiver.is_none_or(|receiver| {
                    receiver.object == other_receiver.object
                        && (receiver.slot == crate::protocol::ANY_SLOT
                            || receiver.slot == other_receiver.slot)
                })
        };
        match change {
            // A single-shot connection is not made again: this program
            // does not hear that it fired.
            Change::Connect(_, crate::protocol::Delivery::SingleShot) => {}
            Change::Connect(receiver, _) => {
                state
                    .asked
                    .retain(|(_, other)| !same(other, Some(receiver)));
                state.asked.push((emitter_loop.clone(), command.clone()));
            }
            Change::Disconnect(receiver) | Change::Fired(receiver) => {
                state
                    .asked
                    .retain(|(_, other)| !same(other, Some(receiver)));
            }
            Change::DisconnectAll => state.asked.retain(|(_, other)| !same(other, None)),
            Change::Broadcast(_) | Change::Publish(..) => {
                // The newest change of that broadcast stands.
                let key = broadcast_key(command);
                state.asked.retain(|(_, other)| broadcast_key(other) != key);
                state.asked.push((emitter_loop.clone(), command.clone()));
            }
        }
    }
}

pub(super) fn broadcast_key(command: &Command) -> Option<BroadcastKey> {
    let Command::Connection {
        emitter,
        signal,
        event_loop,
        change,
    } = command
    else {
        return None;
    };
    let topic = match change {
        Change::Broadcast(_) => None,
        Change::Publish(topic, _) => Some(topic.clone()),
        _ => return None,
    };
    Some((emitter.clone(), *signal, event_loop.clone(), topic))
}
