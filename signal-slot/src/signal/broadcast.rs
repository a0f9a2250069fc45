//! Broadcasting a signal on a loop (to its subscribers by name) and
//! publishing it under a topic.

use super::*;

impl<'a, A: Clone + Send + 'static> Signal<'a, A> {
    /// Broadcasts the signal on `event_loop`: every emission reaches every
    /// object on that loop that subscribed to a signal of this name (see
    /// [`ObjectHandle::subscribe`]), whoever they are.
    ///
    /// ```
    /// use signal_slot::{Context, EventLoop, event_loop_object};
    ///
    /// #[event_loop_object]
    /// struct Learner;
    ///
    /// #[event_loop_object]
    /// impl Learner {
    ///     #[signal]
    ///     fn new_weights(version: u64);
    /// }
    ///
    /// #[event_loop_object]
    /// struct Actor { version: u64 }
    ///
    /// #[event_loop_object]
    /// impl Actor {
    ///     #[slot]
    ///     fn on_weights(&mut self, ctx: &mut Context<Self>, version: u64) {
    ///         self.version = version;
    ///         ctx.stop_loop();
    ///     }
    /// }
    ///
    /// let mut main = EventLoop::new("broadcast_example")?;
    /// let learner = main.add(Learner)?;
    /// // The actor subscribes by signal name; it never names the learner.
    /// let actor = main.add(Actor { version: 0 })?;
    /// actor.subscribe_by_name("new_weights", actor.on_weights())?;
    /// learner.new_weights().broadcast_on(&main)?;
    /// learner.new_weights().emit(7);
    /// assert!(main.exec().is_normal());
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`connect`](Self::connect).
    pub fn broadcast_on(&self, event_loop: &LoopHandle) -> Result<(), Error> {
        change(
            self.emitter,
            self.index,
            event_loop.peer(),
            Change::Broadcast(true),
        )?;
        Ok(())
    }

    /// Publishes the signal under `topic` on `event_loop`: every emission
    /// reaches every object on that loop subscribed to the topic (see
    /// [`ObjectHandle::subscribe`]), whoever they are. The topic carries the
    /// signal's argument types, or this does not compile; see
    /// [`topic!`](crate::topic) for an example.
    ///
    /// A signal may be published under several topics, on several loops,
    /// and connected besides; each is one message per emission.
    ///
    /// # Errors
    ///
    /// As for [`connect`](Self::connect).
    pub fn publish_on<T: Topic<Args = A>>(
        &self,
        topic: T,
        event_loop: &LoopHandle,
    ) -> Result<(), Error> {
        let _ = topic;
        change(
            self.emitter,
            self.index,
            event_loop.peer(),
            Change::Publish(T::NAME.into(), true),
        )?;
        Ok(())
    }

    /// Stops publishing the signal under `topic` on `event_loop`.
    ///
    /// # Errors
    ///
    /// As for [`connect`](Self::connect).
    pub fn stop_publishing_on<T: Topic<Args = A>>(
        &self,
        topic: T,
        event_loop: &LoopHandle,
    ) -> Result<(), Error> {
        let _ = topic;
        if !change(
            self.emitter,
            self.index,
            event_loop.peer(),
            Change::Publish(T::NAME.into(), false),
        )? {
            tracing::warn!(
                signal = self.name,
                emitter = self.emitter.id(),
                event_loop = event_loop.name(),
                topic = T::NAME,
                "the signal is not published under that topic on that loop"
            );
        }
        Ok(())
    }

    /// Stops broadcasting the signal on `event_loop`.
    ///
    /// # Errors
    ///
    /// As for [`connect`](Self::connect).
    pub fn stop_broadcast_on(&self, event_loop: &LoopHandle) -> Result<(), Error> {
        if !change(
            self.emitter,
            self.index,
            event_loop.peer(),
            Change::Broadcast(false),
        )? {
            tracing::warn!(
                signal = self.name,
                emitter = self.emitter.id(),
                event_loop = event_loop.name(),
                "the signal is not broadcast on that loop"
            );
        }
        Ok(())
    }
}
