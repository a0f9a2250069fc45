//! What a slot sees of the world while it runs.

use std::ops::Deref;

use serde::Serialize;

use crate::event_loop::{LoopHandle, LoopState};
use crate::object::{EventLoopObject, ObjectHandle};
use crate::protocol::ReplyRoute;

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
    /// Where the slot's value goes, if the slot was called.
    reply: Option<ReplyRoute>,
}

/// The emitter of the signal a slot is handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sender<'a> {
    pub(crate) id: &'a str,
    pub(crate) loop_name: Option<&'a str>,
    pub(crate) instance: u64,
    pub(crate) signal: &'a str,
}

impl<'a> Sender<'a> {
    /// The emitter's object id, as it was when it emitted. An object
    /// attached later under the same id is another object: see
    /// [`is`](Self::is).
    pub fn id(&self) -> &'a str {
        self.id
    }

    /// The name of the signal it emitted (for a slot connected to several
    /// signals, or one that takes [`EncodedArgs`](crate::EncodedArgs)).
    pub fn signal(&self) -> &'a str {
        self.signal
    }

    /// True if `object` is the emitter: the same object, not merely one
    /// that took its id after it was detached.
    ///
    /// ```
    /// use signal_slot::{Context, EventLoop, event_loop_object};
    ///
    /// #[event_loop_object]
    /// struct Button;
    ///
    /// #[event_loop_object]
    /// impl Button {
    ///     #[signal]
    ///     fn clicked();
    /// }
    ///
    /// #[event_loop_object]
    /// struct Panel { ok: Option<ButtonHandle> }
    ///
    /// #[event_loop_object]
    /// impl Panel {
    ///     #[slot]
    ///     fn on_click(&mut self, ctx: &mut Context<Self>) {
    ///         let ok = self.ok.as_ref().expect("set before the loop runs");
    ///         assert!(ctx.sender().is_some_and(|sender| sender.is(ok)));
    ///         ctx.stop_loop();
    ///     }
    /// }
    ///
    /// let mut main = EventLoop::new("sender_is_example")?;
    /// let ok = main.add_with_id("ok", Button)?;
    /// let panel = main.add(Panel { ok: Some(ok.clone()) })?;
    /// ok.clicked().connect(panel.on_click())?;
    /// ok.clicked().emit();
    /// main.exec();
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    pub fn is(&self, object: &ObjectHandle) -> bool {
        object.id() == self.id
            && object.loop_name().as_deref() == self.loop_name
            && (object.shared.instance == self.instance
                || object.shared.instance == 0
                || self.instance == 0)
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
        reply: Option<ReplyRoute>,
    ) -> Self {
        Context {
            handle,
            state,
            sender,
            reply,
        }
    }

    /// Sends `value` to the caller, if the slot was called (once).
    pub(crate) fn reply<R: Serialize + Send + 'static>(&mut self, value: R) {
        if let Some(route) = self.reply.take() {
            crate::call::reply_value(route, value);
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
