//! Objects handed back: a loop keeps an object for its user instead of
//! dropping it when the object is detached or the loop ends.

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};

use crate::error::Error;
use crate::object::{ErasedObject, EventLoopObject, ObjectCell};

/// What the loop was asked to hand back: an object (that instance), and
/// where to.
pub(crate) struct KeepRequest {
    pub(crate) object: Arc<str>,
    pub(crate) instance: u64,
    pub(crate) to: Box<dyn HandBack>,
}

/// Where a kept object goes: the typed end of a [`Kept`].
pub(crate) trait HandBack: Send {
    /// Hands `object` over. If nobody waits any more, it is dropped here.
    fn give(self: Box<Self>, object: Box<dyn ErasedObject>);
    /// Tells the waiting side that the object will not come, and why.
    fn refuse(self: Box<Self>, why: &str);
}

struct Sender<T>(crossbeam_channel::Sender<Result<T, String>>);

impl<T: EventLoopObject> HandBack for Sender<T> {
    fn give(self: Box<Self>, object: Box<dyn ErasedObject>) {
        let any: Box<dyn Any + Send> = object.into_any();
        match any.downcast::<ObjectCell<T>>() {
            Ok(cell) => {
                let ObjectCell { object, handle } = *cell;
                drop(handle);
                // A receiver that went away returns the object: it is
                // dropped here, on the loop, like any other object.
                let _ = self.0.send(Ok(object));
            }
            Err(_) => self.refuse("the object under that id is of another type"),
        }
    }

    fn refuse(self: Box<Self>, why: &str) {
        let _ = self.0.send(Err(why.to_owned()));
    }
}

/// An object its loop hands back instead of dropping it: when the object
/// is detached, or when its loop ends (after its last slot ran). From
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
    _object: PhantomData<fn() -> T>,
}

impl<T: EventLoopObject> Kept<T> {
    /// A request for `id` (that instance) and the value that receives it.
    pub(crate) fn request(
        id: Arc<str>,
        instance: u64,
        loop_name: Arc<str>,
    ) -> (KeepRequest, Kept<T>) {
        let (sender, receiver) = crossbeam_channel::bounded(1);
        let request = KeepRequest {
            object: id.clone(),
            instance,
            to: Box::new(Sender::<T>(sender)),
        };
        let kept = Kept {
            id,
            loop_name,
            receiver,
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
    /// asked for, its loop moved to another process.
    pub fn take(self) -> Result<T, Error> {
        match self.receiver.try_recv() {
            Ok(result) => self.outcome(result),
            Err(TryRecvError::Empty) => {
                Err(self.not_handed_back("its loop still runs and it was not detached"))
            }
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

impl<T> fmt::Debug for Kept<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kept")
            .field("id", &self.id)
            .field("loop_name", &self.loop_name)
            .field("handed_back", &!self.receiver.is_empty())
            .finish()
    }
}
