//! Objects handed back: a loop keeps an object for its user instead of
//! dropping it when the object is detached or the loop ends.
//!
//! The request names a channel of the asking process, and a call (see
//! `call`) registered there: where the loop runs in the same process, the
//! object goes through the channel as it is; where the loop moved to a
//! child process (by fork or spawn), the object's state comes back as the
//! call's reply and is rebuilt here.

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};

use crate::call::{self, CallError, Reply, ReplyRoute};
use crate::error::Error;
use crate::event_loop::LoopHandle;
use crate::event_loop::hand_back::{HandBack, KeepRequest, StateBack};
use crate::object::{ErasedObject, EventLoopObject, ObjectCell, TypedHandle};

/// The end of a [`Kept`] in the process that asked: the object as it is
/// here; its state, through the call, from a child the loop moved to.
struct KeepSender<T> {
    sender: crossbeam_channel::Sender<Result<T, String>>,
    route: ReplyRoute,
    /// The process that asked (a forked child inherits the request).
    pid: u32,
}

impl<T: EventLoopObject> HandBack for KeepSender<T> {
    fn give(self: Box<Self>, object: Box<dyn ErasedObject>) {
        if self.pid != std::process::id() {
            return Box::new(StateBack { route: self.route }).give(object);
        }
        call::cancel(self.route.call);
        let any: Box<dyn Any + Send> = object.into_any();
        match any.downcast::<ObjectCell<T>>() {
            Ok(cell) => {
                let ObjectCell { object, handle } = *cell;
                drop(handle);
                // A receiver that went away returns the object: it is
                // dropped here, on the loop, like any other object.
                let _ = self.sender.try_send(Ok(object));
            }
            Err(_) => {
                let _ = self
                    .sender
                    .try_send(Err("the object under that id is of another type".to_owned()));
            }
        }
    }

    fn refuse(self: Box<Self>, why: &str) {
        if self.pid != std::process::id() {
            return Box::new(StateBack { route: self.route }).refuse(why);
        }
        call::cancel(self.route.call);
        let _ = self.sender.try_send(Err(why.to_owned()));
    }

    fn route(&self) -> ReplyRoute {
        self.route
    }
}

/// An object its loop hands back instead of dropping it: when the object
/// is detached, or when its loop ends (after its last slot ran); from a
/// loop in a child process, as its state, rebuilt here. From
/// [`LoopHandle::keep`](crate::LoopHandle::keep).
///
/// For tests above all: run the loop, then read the objects' state, with
/// no `Arc<Mutex<_>>` in their fields.
///
/// ```
/// use signal_slot::{Context, EventLoop, event_loop_object};
///
/// #[event_loop_object]
/// struct Counter { total: u64 }
///
/// #[event_loop_object]
/// impl Counter {
///     #[slot]
///     fn add(&mut self, ctx: &mut Context<Self>, amount: u64) {
///         self.total += amount;
///         if self.total >= 10 {
///             ctx.stop_loop();
///         }
///     }
/// }
///
/// let mut main = EventLoop::new("kept_example")?;
/// let counter = main.add(Counter { total: 0 })?;
/// let kept = main.keep(&counter)?;
/// for amount in [3, 3, 4] {
///     counter.add().invoke(amount)?;
/// }
/// main.exec();
/// assert_eq!(kept.take()?.total, 10);
/// # Ok::<(), signal_slot::Error>(())
/// ```
#[must_use = "the object is handed back to this value: dropping it drops the object"]
pub struct Kept<T> {
    id: Arc<str>,
    loop_name: Arc<str>,
    receiver: Receiver<Result<T, String>>,
    /// The call a child answers with the object's state.
    call: u64,
    _object: PhantomData<fn() -> T>,
}

impl<T> Drop for Kept<T> {
    fn drop(&mut self) {
        // Nobody waits any more.
        call::cancel(self.call);
    }
}

impl<T: EventLoopObject> Kept<T> {
    /// A request for `id` (that instance) and the value that receives it.
    pub(crate) fn request(
        id: Arc<str>,
        instance: u64,
        loop_name: Arc<str>,
    ) -> (KeepRequest, Kept<T>) {
        let (sender, receiver) = crossbeam_channel::bounded(1);
        // For a loop that moves to a child: its state comes back as the
        // reply to this call, which waits as long as it takes (the loop's
        // end does not fail it: the state comes just before).
        let state_sender = sender.clone();
        let route = call::register(
            format!("{id} (kept)"),
            "".into(),
            Duration::MAX,
            Box::new(move |reply| {
                let _ = state_sender.try_send(object_from(reply));
            }),
        );
        let request = KeepRequest {
            object: id.clone(),
            instance,
            to: Box::new(KeepSender::<T> {
                sender,
                route,
                pid: std::process::id(),
            }),
        };
        let kept = Kept {
            id,
            loop_name,
            receiver,
            call: route.call,
            _object: PhantomData,
        };
        (request, kept)
    }

    /// The object, if its loop handed it back already (its loop ended, or
    /// it was detached). Never blocks.
    ///
    /// # Errors
    ///
    /// [`Error::NotHandedBack`] if it was not handed back (yet), saying
    /// why: its loop still runs, the object was detached before it was
    /// asked for, its state could not travel back from the child process
    /// its loop runs in.
    pub fn take(self) -> Result<T, Error> {
        match self.receiver.try_recv() {
            Ok(result) => self.outcome(result),
            Err(TryRecvError::Empty) => Err(self.not_handed_back(
                "its loop still runs (here or in the process it moved to) and it was not \
                 detached, or that process ended without handing it back",
            )),
            Err(TryRecvError::Disconnected) => Err(self.dropped()),
        }
    }

    /// Waits up to `timeout` for the object: for an object detached from a
    /// loop that runs on another thread, or a loop that is ending there.
    ///
    /// # Errors
    ///
    /// As for [`take`](Self::take), after `timeout`.
    pub fn wait(self, timeout: Duration) -> Result<T, Error> {
        match self.receiver.recv_timeout(timeout) {
            Ok(result) => self.outcome(result),
            Err(RecvTimeoutError::Timeout) => Err(self.not_handed_back(&format!(
                "it was not detached and its loop did not end within {timeout:?}"
            ))),
            Err(RecvTimeoutError::Disconnected) => Err(self.dropped()),
        }
    }

    fn outcome(&self, result: Result<T, String>) -> Result<T, Error> {
        result.map_err(|why| self.not_handed_back(&why))
    }

    fn dropped(&self) -> Error {
        self.not_handed_back("its loop dropped the request without handling it")
    }

    fn not_handed_back(&self, why: &str) -> Error {
        Error::NotHandedBack {
            loop_name: self.loop_name.to_string(),
            id: self.id.to_string(),
            why: why.to_owned(),
        }
    }
}

/// The object rebuilt from the state a child sent back.
fn object_from<T: EventLoopObject>(reply: Result<Reply, CallError>) -> Result<T, String> {
    let state = match reply.map_err(|error| error.to_string())? {
        Reply::Value(value) => value
            .downcast::<serde_bytes::ByteBuf>()
            .map_err(|_| "the state came back as something else".to_owned())?
            .into_vec(),
        Reply::Encoded(bytes) => crate::codec::from_slice::<serde_bytes::ByteBuf>(&bytes)
            .map_err(|why| format!("its state came back damaged: {why}"))?
            .into_vec(),
    };
    T::decode_state(&state).map_err(|why| format!("its state cannot be rebuilt: {why}"))
}

impl<T> fmt::Debug for Kept<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kept")
            .field("id", &self.id)
            .field("loop_name", &self.loop_name)
            .field("handed_back", &!self.receiver.is_empty())
            .finish()
    }
}

impl LoopHandle {
    /// Asks the loop to hand `object` back instead of dropping it: when it
    /// is detached, or when the loop ends (after the last slot ran, with
    /// the state the slots left). The [`Kept`] receives it.
    ///
    /// For tests above all: run a loop, then read its objects' state. See
    /// [`Kept`] for an example. An object detached before the loop handles
    /// the request is not handed back (`take` says so). An object of a loop
    /// in a child process (asked for before or after the child started)
    /// comes back as its state, rebuilt here: its type must be
    /// `Serialize` and `Deserialize`, as for the spawn start method, or the
    /// [`Kept`] says why not.
    ///
    /// # Errors
    ///
    /// [`Error::ObjectNotFound`] if `object` is not on this loop,
    /// [`Error::LoopEnded`] if the loop has ended (its objects are gone).
    pub fn keep<H>(&self, object: &H) -> Result<Kept<H::Object>, Error>
    where
        H: TypedHandle,
        H::Object: EventLoopObject,
    {
        let object = object.object_handle();
        if self.peer().on_network() {
            return Err(Error::Network(format!(
                "objects of event loop `{}` (another program's) are not kept across the network",
                self.name()
            )));
        }
        if !object
            .peer()
            .is_some_and(|peer| Arc::ptr_eq(&peer, self.peer()))
        {
            return Err(Error::ObjectNotFound {
                loop_name: self.name().to_owned(),
                id: object.id().to_owned(),
            });
        }
        let (request, kept) = Kept::request(
            object.shared.id.clone(),
            object.shared.instance,
            self.peer().name_arc().clone(),
        );
        self.peer()
            .post(crate::event_loop::Local::Keep(request).envelope())?;
        Ok(kept)
    }
}
