//! Signals into async code: a signal connected to a [`SignalStream`], a
//! `Stream` of its arguments.
//!
//! The stream's receiving end is a hidden object on a loop of this process
//! (as a closure's is): emissions reach it as they reach any slot, from
//! this process, another, or another machine, with the connection's
//! delivery; its slot puts the arguments in the stream's bounded queue and
//! wakes the task that waits on it.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context as TaskContext, Poll, Waker};

use futures_core::Stream;

use crate::connection::Delivery;
use crate::error::Error;
use crate::event_loop::LoopHandle;
use crate::object::TypedHandle;
use crate::protocol::DropReason;
use crate::transport::LoopPeer;

use super::closure::{Closure, Lease};
use super::{Connection, Signal};

/// What a stream of a signal carrying the tuple `Self` yields: the
/// argument itself for a signal of one argument (as a slot of one argument
/// can be called with it alone, see [`IntoArgs`](crate::IntoArgs)), the
/// tuple otherwise. Implemented for tuples of up to 8 elements.
pub trait StreamItem: sealed::Tuple {
    /// The item.
    type Item;

    /// The item of these arguments.
    fn into_item(self) -> Self::Item;
}

mod sealed {
    /// Argument tuples of up to 8 elements.
    pub trait Tuple {}
}

impl<T> sealed::Tuple for (T,) {}

impl<T> StreamItem for (T,) {
    type Item = T;

    fn into_item(self) -> T {
        self.0
    }
}

/// Tuples other than one of one element are their own item.
macro_rules! tuple_item {
    ($( ($($p:ident),*) );* $(;)?) => {$(
        impl<$($p),*> sealed::Tuple for ($($p,)*) {}

        impl<$($p),*> StreamItem for ($($p,)*) {
            type Item = Self;

            fn into_item(self) -> Self {
                self
            }
        }
    )*};
}

tuple_item! {
    ();
    (T1, T2);
    (T1, T2, T3);
    (T1, T2, T3, T4);
    (T1, T2, T3, T4, T5);
    (T1, T2, T3, T4, T5, T6);
    (T1, T2, T3, T4, T5, T6, T7);
    (T1, T2, T3, T4, T5, T6, T7, T8);
}

impl<A: Clone + Send + 'static> Signal<'_, A> {
    /// Connects the signal to a [`SignalStream`] that yields its arguments
    /// (the argument itself for a signal of one argument, see
    /// [`StreamItem`]) to async code, received on `event_loop`: a loop of
    /// this process, which must run for anything to arrive.
    ///
    /// `delivery` is the connection's, as for [`connect`](Self::connect)
    /// and its kin: [`Delivery::FanOut`] (every emission),
    /// [`Delivery::KeepLatest`] (the newest), [`Delivery::Balanced`] (one
    /// of the signal's balanced receivers), [`Delivery::SingleShot`] (the
    /// next emission, then the stream ends). The stream holds up to
    /// `capacity` arguments that nobody has taken yet (0 counts as 1): when
    /// it is full, a fan-out, balanced or single-shot stream drops the new
    /// ones, and a keep-latest stream its oldest (with a capacity of 1, it
    /// holds only the newest). What the stream drops is counted on the
    /// stream ([`SignalStream::dropped`]) and on the loop
    /// ([`LoopHandle::dropped_signals`]); what a keep-latest connection
    /// replaces before it reaches the stream, on the loop only. Nothing is
    /// queued without bound.
    ///
    /// The stream ends (yields `None`, once what it holds is taken) when its
    /// loop ends; for an emitter of this process, also when its connection
    /// ends (disconnected, a single-shot's one emission, the emitter
    /// detached). For an emitter in another process it does not learn of the
    /// emitter's end: watch that process (its `join`, or a call that
    /// resolves `Gone`) where it matters. Dropping the stream ends its
    /// connection; for an emitter in another process, that process is told
    /// on a thread of its own, so that dropping never blocks.
    ///
    /// Connecting to an emitter in another process asks that process and
    /// waits for its answer (tens of microseconds, at most 10 s for a
    /// process that does not answer): from an async task that must never
    /// block, call it in `spawn_blocking` or its like.
    ///
    /// ```
    /// use futures::StreamExt;
    /// use signal_slot::{Delivery, EventLoopThread, event_loop_object};
    ///
    /// #[event_loop_object]
    /// struct Learner;
    ///
    /// #[event_loop_object]
    /// impl Learner {
    ///     #[signal]
    ///     fn trained(version: u64);
    /// }
    ///
    /// let mut worker = EventLoopThread::new("stream_example")?;
    /// let learner = worker.add(Learner)?;
    /// let mut versions = learner.trained().stream(worker.event_loop(), Delivery::FanOut, 64)?;
    /// worker.start()?;
    /// for version in 0..3 {
    ///     learner.trained().emit(version);
    /// }
    /// let first: Vec<u64> = futures::executor::block_on(versions.by_ref().take(3).collect());
    /// assert_eq!(first, [0, 1, 2]);
    /// worker.stop();
    /// worker.join()?;
    /// // Its loop has ended: so has the stream.
    /// assert_eq!(futures::executor::block_on(versions.next()), None);
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::ClosureElsewhere`] if `event_loop` runs in another process
    /// (or is an [`EventLoopProcess`](crate::EventLoopProcess)'s); the
    /// errors of [`connect`](Self::connect).
    pub fn stream(
        &self,
        event_loop: &LoopHandle,
        delivery: Delivery,
        capacity: usize,
    ) -> Result<SignalStream<A>, Error> {
        let peer = event_loop.peer();
        if peer.runs_elsewhere() {
            return Err(Error::ClosureElsewhere {
                loop_name: event_loop.name().to_owned(),
            });
        }
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            capacity: capacity.max(1),
            replace_oldest: delivery == Delivery::KeepLatest,
            once: delivery == Delivery::SingleShot,
            dropped: AtomicU64::new(0),
        });
        let feeder = Feeder {
            shared: shared.clone(),
            peer: peer.clone(),
            signal: self.name(),
        };
        let call = Box::new(move |args: A| feeder.feed(args));
        let handle = event_loop.add(Closure::from_fn(call, self.decode))?;
        let handle = TypedHandle::object_handle(&handle);
        // The receiving object leaves its loop with the stream (and at
        // once if the connection is refused).
        let lease = Lease::new(handle, peer.clone());
        let mut receiver = crate::connection::receiver_to(&handle.shared, 0);
        // The emitter's connections live here: the stream ends with its
        // connection (disconnected, fired once, the emitter detached).
        let elsewhere = self.emitter.shared.remote_home().is_some()
            || self
                .emitter
                .peer()
                .is_some_and(|peer| peer.runs_elsewhere());
        if !elsewhere {
            receiver.lease = Some(Arc::new(EndsWithConnection(Arc::downgrade(&shared))));
        }
        let connection = self.connect_receiver(receiver, handle, delivery)?;
        Ok(SignalStream {
            shared,
            connection,
            lease: Some(lease),
            elsewhere,
        })
    }
}

/// Held in the connection list of an emitter of this process: when the
/// connection ends and its last copy goes, the stream ends.
struct EndsWithConnection<A>(Weak<Shared<A>>);

impl<A> Drop for EndsWithConnection<A> {
    fn drop(&mut self) {
        if let Some(shared) = self.0.upgrade() {
            shared.end();
        }
    }
}

/// A signal's arguments as a [`Stream`], from [`Signal::stream`]: for
/// async code, under any executor. It yields the argument itself for a
/// signal of one argument, the tuple otherwise (see [`StreamItem`]).
///
/// Use it with `StreamExt` (of `futures` or `tokio-stream`), or with
/// [`recv`](Self::recv). Dropping it ends the connection and removes its
/// receiving object from its loop, without blocking (when the emitter lives
/// in another process, that process is told on a thread of its own).
#[must_use = "dropping the stream ends its connection"]
pub struct SignalStream<A> {
    shared: Arc<Shared<A>>,
    connection: Connection,
    /// Its receiving object's: taken when the stream goes.
    lease: Option<Arc<Lease>>,
    /// The emitter's connections live in another process.
    elsewhere: bool,
}

/// What the stream shares with its receiving object.
struct Shared<A> {
    queue: Mutex<Queue<A>>,
    capacity: usize,
    /// A full keep-latest stream drops its oldest; any other, the newest.
    replace_oldest: bool,
    /// A single-shot stream ends after its one emission.
    once: bool,
    dropped: AtomicU64,
}

struct Queue<A> {
    items: VecDeque<A>,
    waker: Option<Waker>,
    /// Nothing more will come.
    ended: bool,
}

impl<A> Default for Queue<A> {
    fn default() -> Self {
        Queue {
            items: VecDeque::new(),
            waker: None,
            ended: false,
        }
    }
}

impl<A> Shared<A> {
    fn queue(&self) -> MutexGuard<'_, Queue<A>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Nothing more will come: what is queued is still taken.
    fn end(&self) {
        let waker = {
            let mut queue = self.queue();
            queue.ended = true;
            queue.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The receiving object's end: feeds the queue on the loop's thread, and
/// ends the stream when the object goes (detached, or its loop ended).
struct Feeder<A> {
    shared: Arc<Shared<A>>,
    peer: Arc<LoopPeer>,
    signal: &'static str,
}

impl<A> Feeder<A> {
    fn feed(&self, args: A) {
        let shared = &*self.shared;
        let (waker, dropped) = {
            let mut queue = shared.queue();
            if queue.ended {
                return;
            }
            let mut dropped = None;
            if queue.items.len() < shared.capacity {
                queue.items.push_back(args);
            } else if shared.replace_oldest {
                queue.items.pop_front();
                queue.items.push_back(args);
                dropped = Some(DropReason::Replaced);
            } else {
                dropped = Some(DropReason::Full);
            }
            if shared.once {
                queue.ended = true;
            }
            (queue.waker.take(), dropped)
        };
        if let Some(reason) = dropped {
            shared.dropped.fetch_add(1, Ordering::Relaxed);
            self.peer.drops().record(1, reason, || {
                format!(
                    "a `{}` signal for a stream that is not read fast enough",
                    self.signal
                )
            });
        }
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<A> Drop for Feeder<A> {
    fn drop(&mut self) {
        self.shared.end();
    }
}

impl<A: StreamItem> SignalStream<A> {
    /// The next arguments: waits until some arrive, or gives `None` once
    /// the stream has ended (its loop ended, or a single-shot stream
    /// fired) and everything before was taken.
    pub async fn recv(&mut self) -> Option<A::Item> {
        std::future::poll_fn(|cx| self.poll_take(cx)).await
    }

    /// The next arguments if some have arrived, without waiting (`None`
    /// if none has, or the stream ended: see [`has_ended`](Self::has_ended)).
    pub fn try_recv(&mut self) -> Option<A::Item> {
        self.shared.queue().items.pop_front().map(A::into_item)
    }

    /// True once nothing more will come: the stream's loop or its
    /// connection ended (what it still holds can be taken).
    pub fn has_ended(&self) -> bool {
        self.shared.queue().ended
    }

    /// How many emissions this stream dropped because it was full (for a
    /// keep-latest stream: how many it replaced).
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// The connection that feeds the stream.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    fn poll_take(&self, cx: &mut TaskContext<'_>) -> Poll<Option<A::Item>> {
        let mut queue = self.shared.queue();
        if let Some(args) = queue.items.pop_front() {
            return Poll::Ready(Some(args.into_item()));
        }
        if queue.ended {
            return Poll::Ready(None);
        }
        if !queue
            .waker
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()))
        {
            queue.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl<A: StreamItem> Stream for SignalStream<A> {
    type Item = A::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<A::Item>> {
        self.poll_take(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let queue = self.shared.queue();
        (queue.items.len(), queue.ended.then_some(queue.items.len()))
    }
}

impl<A: StreamItem> futures_core::FusedStream for SignalStream<A> {
    fn is_terminated(&self) -> bool {
        let queue = self.shared.queue();
        queue.ended && queue.items.is_empty()
    }
}

impl<A> Drop for SignalStream<A> {
    fn drop(&mut self) {
        // What still comes is let go quietly, not counted as dropped.
        self.shared.end();
        let connection = self.connection.clone();
        let lease = self.lease.take();
        let disconnect = move || {
            if let Err(error) = connection.disconnect() {
                tracing::debug!(%error, "a dropped stream's connection could not be ended");
            }
            // Then the receiving object leaves its loop.
            drop(lease);
        };
        if !self.elsewhere {
            disconnect();
            return;
        }
        // The emitter's process is asked, which takes a round trip: not on
        // the thread that dropped the stream, an async task's perhaps.
        let asked = std::thread::Builder::new()
            .name("signal-slot-stream-end".to_owned())
            .spawn(disconnect);
        if let Err(error) = asked {
            tracing::warn!(%error, "a dropped stream's connection is left to end with its object");
        }
    }
}

impl<A> std::fmt::Debug for SignalStream<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SignalStream({}.{})",
            self.connection.emitter().id(),
            self.connection.signal_name()
        )
    }
}
