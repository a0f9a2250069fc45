//! What a slot sees of the world while it runs.

use std::ops::Deref;

use crate::event_loop::{LoopHandle, LoopState};
use crate::object::EventLoopObject;

/// The context of a slot call: the object's own handle (to emit its
/// signals), its loop, and the emitter of the signal being delivered.
///
/// A slot receives it when its first parameter after `self` is
/// `ctx: &mut Context<Self>` (or `&Context<Self>`). It dereferences to the
/// object's handle, so `ctx.my_signal().emit(..)` emits a signal of the object.
///
/// ```
/// use signal_slot::{Context, event_loop_object};
///
/// #[event_loop_object]
/// struct Echo;
///
/// #[event_loop_object]
/// impl Echo {
///     #[signal]
///     fn echoed(text: String);
///
///     #[slot]
///     fn on_text(&mut self, ctx: &mut Context<Self>, text: String) {
///         let from = ctx.sender().map(|sender| sender.id().to_owned());
///         tracing::info!(?from, "echoing");
///         ctx.echoed().emit(text);
///     }
/// }
/// ```
pub struct Context<'a, T: EventLoopObject> {
    handle: &'a T::Handle,
    state: &'a mut LoopState,
    sender: Option<Sender<'a>>,
}

/// The emitter of the signal a slot is handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sender<'a> {
    pub(crate) id: &'a str,
    pub(crate) loop_name: Option<&'a str>,
}

impl<'a> Sender<'a> {
    /// The emitter's object id.
    pub fn id(&self) -> &'a str {
        self.id
    }

    /// The loop the emitter lives on (`None` for objects on no loop, such as
    /// process monitors).
    pub fn loop_name(&self) -> Option<&'a str> {
        self.loop_name
    }
}

impl<'a, T: EventLoopObject> Context<'a, T> {
    pub(crate) fn new(
        handle: &'a T::Handle,
        state: &'a mut LoopState,
        sender: Option<Sender<'a>>,
    ) -> Self {
        Context {
            handle,
            state,
            sender,
        }
    }

    /// The object's own handle (also reachable through `Deref`).
    pub fn handle(&self) -> &T::Handle {
        self.handle
    }

    /// The loop the object lives on.
    pub fn event_loop(&self) -> &LoopHandle {
        self.state.handle()
    }

    /// The emitter of the signal being handled; `None` when the slot was
    /// invoked directly.
    pub fn sender(&self) -> Option<Sender<'a>> {
        self.sender
    }

    /// Stops the loop gracefully: what is already queued is still
    /// delivered, then the loop ends.
    pub fn stop_loop(&self) {
        self.state.handle().stop();
    }

    pub(crate) fn state(&mut self) -> &mut LoopState {
        self.state
    }
}

impl<T: EventLoopObject> Deref for Context<'_, T> {
    type Target = T::Handle;

    fn deref(&self) -> &T::Handle {
        self.handle
    }
}
