//! An object's subscriptions to what is broadcast on its loop (by topic or
//! by signal name), and the blocking of its signals (Qt's
//! `QSignalBlocker`).

use super::*;

/// Holds an object's signals while it lives: see
/// [`ObjectHandle::block_signals`].
#[must_use = "the signals flow again as soon as the blocker is dropped"]
#[derive(Debug)]
pub struct SignalBlocker {
    object: ObjectHandle,
}

impl Drop for SignalBlocker {
    fn drop(&mut self) {
        // A process that cannot be reached any more has nothing to unblock.
        let _ = self.object.set_blocked(false);
    }
}

impl ObjectHandle {
    /// Subscribes `slot` (a slot of this object) to `topic` on this
    /// object's loop: every signal published under the topic on the loop
    /// (see [`Signal::publish_on`](crate::Signal::publish_on)) reaches it,
    /// whoever the emitter. The slot takes the topic's argument types, or
    /// this does not compile; see [`topic!`](crate::topic) for an example.
    ///
    /// # Errors
    ///
    /// [`Error::ForeignSlot`] if `slot` belongs to another object,
    /// [`Error::LoopEnded`] if the loop has ended.
    pub fn subscribe<T: Topic>(
        &self,
        topic: T,
        slot: impl ConnectTo<T::Args>,
    ) -> Result<(), Error> {
        let _ = topic;
        self.subscription(T::NAME, slot.target(), true)
    }

    /// Undoes [`subscribe`](Self::subscribe). Unsubscribing what is not
    /// subscribed logs a warning.
    ///
    /// # Errors
    ///
    /// As for [`subscribe`](Self::subscribe).
    pub fn unsubscribe<T: Topic>(
        &self,
        topic: T,
        slot: impl ConnectTo<T::Args>,
    ) -> Result<(), Error> {
        let _ = topic;
        self.subscription(T::NAME, slot.target(), false)
    }

    /// Subscribes `slot` (a slot of this object) to the broadcasts of the
    /// signals named `signal` on this object's loop, the original's
    /// anonymous broadcast: any signal of that name that an emitter
    /// broadcasts on the loop (see
    /// [`Signal::broadcast_on`](crate::Signal::broadcast_on)) reaches it,
    /// whoever the emitter.
    ///
    /// Neither the name nor the argument types can be checked at compile
    /// time: a typo subscribes to nothing, and a type mismatch is reported
    /// (naming the subscriber) when a broadcast arrives. Prefer a
    /// [`topic!`](crate::topic) and [`subscribe`](Self::subscribe). See
    /// [`Signal::broadcast_on`](crate::Signal::broadcast_on) for an example.
    ///
    /// # Errors
    ///
    /// As for [`subscribe`](Self::subscribe).
    pub fn subscribe_by_name<A, R>(&self, signal: &str, slot: Slot<'_, A, R>) -> Result<(), Error> {
        self.subscription(signal, (slot.target(), slot.index()), true)
    }

    /// Undoes [`subscribe_by_name`](Self::subscribe_by_name).
    /// Unsubscribing what is not subscribed logs a warning.
    ///
    /// # Errors
    ///
    /// As for [`subscribe`](Self::subscribe).
    pub fn unsubscribe_by_name<A, R>(
        &self,
        signal: &str,
        slot: Slot<'_, A, R>,
    ) -> Result<(), Error> {
        self.subscription(signal, (slot.target(), slot.index()), false)
    }

    fn subscription(
        &self,
        signal: &str,
        (target, slot): (&ObjectHandle, u16),
        on: bool,
    ) -> Result<(), Error> {
        if !Arc::ptr_eq(&target.shared, &self.shared) {
            return Err(Error::ForeignSlot {
                slot: target.slot_name(slot),
                owner: target.id().to_owned(),
                object: self.id().to_owned(),
            });
        }
        let peer = self.peer().ok_or_else(|| Error::ObjectNotFound {
            loop_name: self.loop_label(),
            id: self.id().to_owned(),
        })?;
        peer.send_command(Command::Subscribe {
            signal: signal.into(),
            receiver: crate::connection::receiver_to(&self.shared, slot),
            on,
        })
    }

    /// Blocks the object's signals until the guard is dropped (Qt's
    /// `QSignalBlocker`): its emissions meanwhile reach nobody, and are
    /// not counted as dropped. Guards nest; the signals flow again when the
    /// last one goes. For an object of another process, blocking and
    /// unblocking are commands to that process, in order with what this
    /// process sends it.
    ///
    /// ```
    /// use signal_slot::{Context, EventLoop, event_loop_object};
    ///
    /// #[event_loop_object]
    /// struct Slider;
    ///
    /// #[event_loop_object]
    /// impl Slider {
    ///     #[signal]
    ///     fn moved(value: u32);
    /// }
    ///
    /// #[event_loop_object]
    /// struct Label { shown: Vec<u32> }
    ///
    /// #[event_loop_object]
    /// impl Label {
    ///     #[slot]
    ///     fn show(&mut self, value: u32) {
    ///         self.shown.push(value);
    ///     }
    /// }
    ///
    /// let mut main = EventLoop::new("block_signals_example")?;
    /// let slider = main.add(Slider)?;
    /// let label = main.add(Label { shown: Vec::new() })?;
    /// let kept = main.keep(&label)?;
    /// slider.moved().connect(label.show())?;
    /// {
    ///     let _quiet = slider.block_signals()?;
    ///     slider.moved().emit(1); // set programmatically: nobody hears
    /// }
    /// slider.moved().emit(2);
    /// main.stop();
    /// main.exec();
    /// assert_eq!(kept.take()?.shown, [2]);
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::LoopEnded`] if the object's loop runs in another process
    /// that cannot be reached.
    pub fn block_signals(&self) -> Result<SignalBlocker, Error> {
        self.set_blocked(true)?;
        Ok(SignalBlocker {
            object: self.clone(),
        })
    }

    /// True while a [`SignalBlocker`] of this process holds the object's
    /// signals (for an object of another process: one made here).
    pub fn signals_blocked(&self) -> bool {
        self.shared.blocked.load(Ordering::Relaxed) != 0
    }

    fn set_blocked(&self, block: bool) -> Result<(), Error> {
        if let Some(peer) = self.shared.remote_home() {
            peer.send_command(Command::Block {
                object: self.shared.id.clone(),
                instance: self.shared.instance,
                on: block,
            })?;
        }
        self.shared.count_block(block);
        Ok(())
    }
}
