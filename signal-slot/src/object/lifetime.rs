//! An object's end: detached (later, or at once), its `destroyed` signal,
//! and the connections that name it, ended.

use super::*;

impl ObjectHandle {
    /// Detaches the object from its loop. Signals that reach it afterwards
    /// are dropped quietly, and its id can be reused.
    ///
    /// ```
    /// use signal_slot::{EventLoop, event_loop_object};
    ///
    /// #[event_loop_object]
    /// struct Session;
    ///
    /// #[event_loop_object]
    /// impl Session {}
    ///
    /// let mut main = EventLoop::new("detach_example")?;
    /// let session = main.add_with_id("session", Session)?;
    /// session.detach()?;
    /// main.stop();
    /// main.exec();
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::LoopEnded`] if the loop has ended already.
    pub fn detach(&self) -> Result<(), Error> {
        let peer = self.peer().ok_or_else(|| Error::ObjectNotFound {
            loop_name: self.loop_label(),
            id: self.id().to_owned(),
        })?;
        peer.send_command(Command::Detach {
            object: self.shared.id.clone(),
            instance: self.shared.instance,
        })
    }

    /// Detaches the object at once (Qt's `delete`, beside
    /// [`detach`](Self::detach), its `deleteLater`): what is still queued
    /// to it is dropped, not delivered (counted as dropped, reason
    /// "removed"), and no slot of it starts once this returns but the one
    /// that may be running now; it leaves its loop at the loop's next turn.
    /// For an object of another process, that process is told directly,
    /// ahead of what waits in its loop's inbox.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use signal_slot::{EventLoop, event_loop_object};
    ///
    /// #[event_loop_object]
    /// struct Counter { seen: Arc<AtomicU64> }
    ///
    /// #[event_loop_object]
    /// impl Counter {
    ///     #[slot]
    ///     fn bump(&mut self) {
    ///         self.seen.fetch_add(1, Ordering::Relaxed);
    ///     }
    /// }
    ///
    /// let mut main = EventLoop::new("detach_now_example")?;
    /// let seen = Arc::new(AtomicU64::new(0));
    /// let counter = main.add(Counter { seen: seen.clone() })?;
    /// for _ in 0..3 {
    ///     counter.bump().invoke(())?;
    /// }
    /// counter.detach_now()?;
    /// main.stop();
    /// main.exec();
    /// assert_eq!(seen.load(Ordering::Relaxed), 0);
    /// assert_eq!(main.dropped_signals(), 3);
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`detach`](Self::detach).
    pub fn detach_now(&self) -> Result<(), Error> {
        let peer = self.peer().ok_or_else(|| Error::ObjectNotFound {
            loop_name: self.loop_label(),
            id: self.id().to_owned(),
        })?;
        if peer.is_remote() {
            return peer.remove_now(&self.shared.id, self.shared.instance);
        }
        self.shared.detached.store(true, Ordering::Release);
        self.detach()
    }

    /// The signal every object emits when it leaves its loop (detached, or
    /// its loop ended), with its id: Qt's `destroyed`, so that others can
    /// drop their handles to it. No signal blocker holds it. Connect it
    /// like any signal; a closure or a slot of any object may receive it.
    ///
    /// ```
    /// use signal_slot::{Context, EventLoop, event_loop_object};
    ///
    /// #[event_loop_object]
    /// struct Session;
    ///
    /// #[event_loop_object]
    /// impl Session {}
    ///
    /// #[event_loop_object]
    /// struct Registry { gone: Vec<String> }
    ///
    /// #[event_loop_object]
    /// impl Registry {
    ///     #[slot]
    ///     fn forget(&mut self, ctx: &mut Context<Self>, id: String) {
    ///         self.gone.push(id);
    ///         ctx.stop_loop();
    ///     }
    /// }
    ///
    /// let mut main = EventLoop::new("destroyed_example")?;
    /// let session = main.add_with_id("session-7", Session)?;
    /// let registry = main.add(Registry { gone: Vec::new() })?;
    /// let kept = main.keep(&registry)?;
    /// session.destroyed().connect(registry.forget())?;
    /// session.detach()?;
    /// main.exec();
    /// assert_eq!(kept.take()?.gone, ["session-7"]);
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    pub fn destroyed(&self) -> crate::Signal<'_, (String,)> {
        crate::signal::new_signal(
            self,
            self.shared.destroyed_index(),
            "destroyed",
            crate::signal::encode_id,
            crate::signal::decode_id,
        )
    }

    /// Ends every connection of this object's signals to `receiver`'s
    /// slots (and signals, and closures), in one call: Qt's
    /// `disconnect(sender, nullptr, receiver, nullptr)`. True if there was
    /// any.
    ///
    /// # Errors
    ///
    /// [`Error::ObjectNotFound`] if `receiver` lives on no loop,
    /// [`Error::Connection`] if this object's process cannot be reached.
    pub fn disconnect_from(&self, receiver: &ObjectHandle) -> Result<bool, Error> {
        let peer = crate::signal::receiving_peer(receiver)?;
        let every_slot =
            crate::connection::receiver_to(&receiver.shared, crate::protocol::ANY_SLOT);
        crate::signal::change(
            self,
            crate::protocol::EVERY_SIGNAL,
            &peer,
            crate::protocol::Change::Disconnect(every_slot),
        )
    }

    /// Ends every connection of every signal of this object (Qt's
    /// `disconnect(sender, nullptr, nullptr, nullptr)`); broadcasts and
    /// publications stay. True if there was any.
    ///
    /// # Errors
    ///
    /// [`Error::Connection`] if the object's process cannot be reached.
    pub fn disconnect_all(&self) -> Result<bool, Error> {
        crate::signal::disconnect_all(self, crate::protocol::EVERY_SIGNAL)
    }
}
