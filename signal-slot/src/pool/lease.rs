//! Leases: the references a message holds on the shared buffers it names,
//! on its way to another process; written as the message is encoded,
//! given back by the receiver once the message is read (or by the sender,
//! if the message did not go).

use super::*;

thread_local! {
    /// The process the message being encoded on this thread goes to (its
    /// holder number; 0: no message, so no lease can be written).
    static RECEIVER: Cell<u32> = const { Cell::new(0) };
    /// The leases written for messages being encoded on this thread, to
    /// give back if a message does not go.
    static WRITTEN: RefCell<Vec<(Arc<PoolMemory>, usize, u32)>> = const { RefCell::new(Vec::new()) };
}

/// Writes a lease of `slot` for the process the current message goes to.
pub(super) fn lease(slot: &SlotRef) -> Result<(), String> {
    let receiver = RECEIVER.with(Cell::get);
    if receiver == 0 {
        return Err(
            "a shared buffer travels only in a signal's arguments (or an object's state), \
             between processes of its tree"
                .to_owned(),
        );
    }
    slot.pool()
        .lease(slot.slot(), receiver)
        .map_err(|_| "64 processes hold this shared buffer already".to_owned())?;
    WRITTEN.with(|written| {
        written
            .borrow_mut()
            .push((slot.pool().clone(), slot.slot(), receiver));
    });
    Ok(())
}

/// The leases of one message to the process `to`: taken by the shared
/// buffers encoded within [`enter`](Self::enter), given back unless the
/// message is [`sent`](Self::sent).
///
/// Costs two thread-local accesses per message when nothing is leased:
/// it is on the path of every signal to another process.
pub(crate) struct Leases {
    receiver: u32,
    /// Where this message's leases start in `WRITTEN`.
    start: usize,
}

impl Leases {
    pub(crate) fn to(process: ProcessId) -> Leases {
        Leases {
            receiver: pool::holder_of(process),
            start: WRITTEN.with(|written| written.borrow().len()),
        }
    }

    /// Runs `encode` with shared buffers leased to the receiving process.
    pub(crate) fn enter<R>(&mut self, encode: impl FnOnce() -> R) -> R {
        /// Puts back the outer receiver, however `encode` ends.
        struct Restore(u32);
        impl Drop for Restore {
            fn drop(&mut self) {
                RECEIVER.with(|receiver| receiver.set(self.0));
            }
        }
        let _restore = Restore(RECEIVER.with(|receiver| receiver.replace(self.receiver)));
        encode()
    }

    /// True if a lease was written.
    pub(crate) fn any(&self) -> bool {
        WRITTEN.with(|written| written.borrow().len() > self.start)
    }

    /// Gives back the leases written so far (the message did not go).
    pub(crate) fn revoke(&mut self) {
        WRITTEN.with(|written| {
            let mut written = written.borrow_mut();
            if written.len() > self.start {
                for (memory, slot, receiver) in written.drain(self.start..) {
                    memory.revoke_lease(slot, receiver);
                }
            }
        });
    }

    /// The message went: its receiver gives the leases back.
    pub(crate) fn sent(self) {
        WRITTEN.with(|written| written.borrow_mut().truncate(self.start));
        std::mem::forget(self);
    }
}

impl Drop for Leases {
    fn drop(&mut self) {
        self.revoke();
    }
}

/// Writes leases (in the current scope) for the shared buffers named in
/// `payload`: bytes from another process passed on as they are.
pub(crate) fn lease_encoded(payload: &[u8]) -> Result<(), String> {
    let mut result = Ok(());
    for_each_named(payload, |named| {
        if result.is_ok() {
            result = named.upgrade().and_then(|held| lease(&held));
        }
    });
    result
}

/// References of this process to the shared buffers named in bytes held
/// for later (what another process asked this one to emit).
#[derive(Default)]
pub(crate) struct Held {
    _refs: Vec<SlotRef>,
}

impl Held {
    /// Holds the buffers `payloads` name, while the record that leases them
    /// to this process is still unread.
    pub(crate) fn of<'a>(payloads: impl IntoIterator<Item = &'a [u8]>) -> Held {
        let mut held = Vec::new();
        for payload in payloads {
            for_each_named(payload, |named| {
                if let Ok(slot) = named.upgrade() {
                    held.push(slot);
                }
            });
        }
        Held { _refs: held }
    }
}

/// Gives back the leases of a record (or packet) of frames this process
/// received: its slots have run, or it was dropped.
pub(crate) fn end_leases(frames: &[u8]) {
    for frame in crate::wire::Reader::new(frames) {
        let payloads = match frame {
            Ok(crate::wire::Frame::Signal { payloads, .. })
            | Ok(crate::wire::Frame::EmitRequest { payloads, .. }) => payloads,
            Ok(crate::wire::Frame::Command(_)) => continue,
            Err(_) => break,
        };
        for payload in payloads {
            end_leases_in(payload);
        }
    }
}

/// Gives back the leases of the shared buffers named in a MessagePack
/// value this process received (an object's state, once revived).
pub(crate) fn end_leases_in(value: &[u8]) {
    for_each_named(value, |named| match find(named.pool) {
        Ok(memory) if (named.slot as usize) < memory.slots() => {
            memory.end_lease(named.slot as usize);
        }
        Ok(_) => {}
        Err(error) => tracing::debug!(%error, "a lease cannot be given back"),
    });
}

/// Calls `found` for every shared buffer named in the MessagePack value(s)
/// of `bytes`. Stops quietly at anything malformed.
pub(super) fn for_each_named(bytes: &[u8], mut found: impl FnMut(super::buffer::Named)) {
    crate::codec::walk::for_each_ext(bytes, EXT_TYPE, EXT_LEN, |body| {
        if let Some(named) = super::buffer::Named::from_bytes(body) {
            found(named);
        }
    });
}
