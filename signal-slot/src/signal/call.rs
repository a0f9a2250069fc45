//! Calling a slot for its value, three ways: blocking the calling thread
//! ([`Slot::call`]), with the outcome delivered to a slot
//! ([`Slot::call_then`]), or awaited from async code
//! ([`Slot::call_async`], a [`CallFuture`]). All three register the call in
//! this process's table of calls (see `crate::call`) and queue it like an
//! invocation.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::Duration;

use crate::call::{self, CallError, Failure, Reply, ReplyRoute, RequestGuard, SlotReply};
use crate::connection::Header;
use crate::error::Error;
use crate::payload::Args;
use crate::transport::{Envelope, SignalEnvelope};

use super::receiving_peer;
use super::slot::{ConnectTo, IntoArgs, Slot, new_slot};

/// The signal name of a call of a slot, for messages.
pub(crate) const CALL: &str = "<call>";

impl<A: Clone + Send + 'static, R: SlotReply> Slot<'_, A, R> {
    /// Calls the slot with `args` and waits up to `timeout` for its value:
    /// from a thread that is not the slot's loop's (from a slot, use
    /// [`call_then`](Self::call_then), which does not block the loop).
    ///
    /// The call is queued like an invocation; the slot runs on its loop,
    /// in its process, and its return value comes back. A slot that
    /// returns nothing (or `Result<(), E>`) gives `()` once it ran.
    ///
    /// In a child process, replies from other processes reach this
    /// process once it runs (its init function runs before): a blocking
    /// call from an init function to another process would time out;
    /// make it from a slot with `call_then`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use signal_slot::{EventLoopThread, event_loop_object};
    ///
    /// #[event_loop_object]
    /// struct Calculator { calls: u32 }
    ///
    /// #[event_loop_object]
    /// impl Calculator {
    ///     #[slot]
    ///     fn area(&mut self, width: f64, height: f64) -> f64 {
    ///         self.calls += 1;
    ///         width * height
    ///     }
    /// }
    ///
    /// let mut worker = EventLoopThread::new("call_example")?;
    /// let calculator = worker.add(Calculator { calls: 0 })?;
    /// worker.start()?;
    /// let area = calculator.area().call((3.0, 4.0), Duration::from_secs(5));
    /// assert_eq!(area, Ok(12.0));
    /// worker.stop();
    /// worker.join()?;
    /// // Its loop has ended: an error, not a hang.
    /// assert!(calculator.area().call((1.0, 1.0), Duration::from_secs(5)).is_err());
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`CallError::Timeout`] if no reply came within `timeout` (called
    /// from the slot's own loop, it cannot come: that loop waits here);
    /// [`CallError::Gone`] if the object, its loop or its process is gone,
    /// or its loop ended before it ran the call; [`CallError::Panicked`] if
    /// the slot panicked; [`CallError::Failed`] if the arguments or the
    /// value could not travel, or the slot returned an error.
    pub fn call(&self, args: impl IntoArgs<A>, timeout: Duration) -> Result<R, CallError> {
        let (sender, receiver) = crossbeam_channel::bounded(1);
        let callee = self.callee();
        let complete = Box::new(move |reply| {
            let _ = sender.send(reply);
        });
        let route = self
            .request(args.into_args(), timeout, complete)
            .map_err(|error| CallError::Gone {
                callee: callee.clone(),
                why: error.to_string(),
            })?;
        // The table's watcher fails the call at its deadline; the margin
        // is for a watcher that could not start.
        match receiver.recv_timeout(timeout.saturating_add(Duration::from_secs(1))) {
            Ok(reply) => into_value(reply, &callee),
            Err(_) => {
                call::cancel(route.call);
                Err(CallError::Timeout { callee, timeout })
            }
        }
    }

    /// Calls the slot with `args` without waiting: the outcome (its value,
    /// or why there is none, at the latest after `timeout`) arrives as a
    /// call of `reply_to`, a slot that takes `Result<R, CallError>`,
    /// usually of the caller (`ctx.on_reply()` in a slot). Exactly one
    /// outcome arrives.
    ///
    /// ```
    /// use std::time::Duration;
    /// use signal_slot::{CallError, Context, EventLoop, EventLoopThread, event_loop_object};
    ///
    /// #[event_loop_object]
    /// struct Oracle;
    ///
    /// #[event_loop_object]
    /// impl Oracle {
    ///     #[slot]
    ///     fn answer(&mut self, question: String) -> u32 {
    ///         question.len() as u32
    ///     }
    /// }
    ///
    /// #[event_loop_object]
    /// struct Asker { oracle: OracleHandle, answer: Option<u32> }
    ///
    /// #[event_loop_object]
    /// impl Asker {
    ///     #[slot]
    ///     fn ask(&mut self, ctx: &mut Context<Self>) {
    ///         let question = "what is six times seven?".to_owned();
    ///         self.oracle
    ///             .answer()
    ///             .call_then(question, Duration::from_secs(5), ctx.on_answer())
    ///             .unwrap();
    ///     }
    ///
    ///     #[slot]
    ///     fn on_answer(&mut self, ctx: &mut Context<Self>, answer: Result<u32, CallError>) {
    ///         self.answer = answer.ok();
    ///         ctx.stop_loop();
    ///     }
    /// }
    ///
    /// let mut main = EventLoop::new("call_then_example")?;
    /// let mut worker = EventLoopThread::new("call_then_worker")?;
    /// let oracle = worker.add(Oracle)?;
    /// let asker = main.add(Asker { oracle, answer: None })?;
    /// let kept = main.keep(&asker)?;
    /// worker.start()?;
    /// asker.ask().invoke(())?;
    /// main.exec();
    /// assert_eq!(kept.take()?.answer, Some(24));
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::ObjectNotFound`] if the slot's object lives on no loop.
    /// Everything else (the callee gone, a panic, the timeout) arrives at
    /// `reply_to` as a [`CallError`].
    pub fn call_then<S: ConnectTo<(Result<R, CallError>,)>>(
        &self,
        args: impl IntoArgs<A>,
        timeout: Duration,
        reply_to: S,
    ) -> Result<(), Error> {
        let (target, index) = reply_to.target();
        let target = target.clone();
        let callee = self.callee();
        let complete = Box::new(move |reply| {
            let value: Result<R, CallError> = into_value(reply, &callee);
            let slot: Slot<'_, (Result<R, CallError>,)> =
                new_slot(&target, index, crate::codec::encode_serde);
            if let Err(error) = slot.invoke((value,)) {
                tracing::debug!(
                    callee,
                    %error,
                    "the outcome of a call cannot reach `{}.{}`",
                    target.id(),
                    target.slot_name(index)
                );
            }
        });
        self.request(args.into_args(), timeout, complete)
            .map(|_| ())
    }

    /// Calls the slot with `args` from async code: a future that resolves
    /// to what [`call`](Self::call) returns (the value, or
    /// [`CallError::Timeout`], [`Gone`](CallError::Gone),
    /// [`Panicked`](CallError::Panicked), [`Failed`](CallError::Failed)),
    /// without blocking a thread while it waits.
    ///
    /// The call is sent when `call_async` is called, not when the future
    /// is first polled. The future needs no particular runtime: it is woken
    /// by the thread that completes the call (the callee's loop, this
    /// process's agent for a reply from another process, or the thread
    /// that times calls out), so it works under tokio, any other executor,
    /// or `futures::executor::block_on`. Dropping it stops the waiting: a
    /// reply that comes later goes nowhere (the slot still runs). As with
    /// `call`, blocking on it from the slot's own loop waits for a reply
    /// that loop cannot give: from a slot, use
    /// [`call_then`](Self::call_then).
    ///
    /// ```
    /// use std::time::Duration;
    /// use signal_slot::{EventLoopThread, event_loop_object};
    ///
    /// #[event_loop_object]
    /// struct Doubler;
    ///
    /// #[event_loop_object]
    /// impl Doubler {
    ///     #[slot]
    ///     fn double(&mut self, value: u64) -> u64 {
    ///         value * 2
    ///     }
    /// }
    ///
    /// let mut worker = EventLoopThread::new("call_async_example")?;
    /// let doubler = worker.add(Doubler)?;
    /// worker.start()?;
    /// let doubled = doubler.double().call_async(21, Duration::from_secs(5));
    /// // Any executor: this one polls it on the calling thread.
    /// assert_eq!(futures::executor::block_on(doubled), Ok(42));
    /// worker.stop();
    /// worker.join()?;
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    pub fn call_async(&self, args: impl IntoArgs<A>, timeout: Duration) -> CallFuture<R> {
        let callee = self.callee();
        let waiting = Arc::new(Mutex::new(Waiting::default()));
        let complete = {
            let waiting = waiting.clone();
            Box::new(move |reply| {
                let waker = {
                    let mut waiting = lock(&waiting);
                    waiting.reply = Some(reply);
                    waiting.waker.take()
                };
                if let Some(waker) = waker {
                    waker.wake();
                }
            })
        };
        let route = match self.request(args.into_args(), timeout, complete) {
            Ok(route) => Some(route),
            Err(error) => {
                lock(&waiting).reply = Some(Err(CallError::Gone {
                    callee: callee.clone(),
                    why: error.to_string(),
                }));
                None
            }
        };
        CallFuture {
            waiting,
            route,
            callee,
            finished: false,
            _reply: PhantomData,
        }
    }

    /// `object.slot`, for messages.
    fn callee(&self) -> String {
        format!("{}.{}", self.target.id(), self.name())
    }

    /// Queues a call of the slot whose outcome `complete` receives.
    fn request(
        &self,
        args: A,
        timeout: Duration,
        complete: Box<dyn FnOnce(Result<Reply, CallError>) + Send>,
    ) -> Result<ReplyRoute, Error> {
        let peer = receiving_peer(self.target)?;
        if peer.on_network() {
            return Err(Error::Network(format!(
                "slot `{}` is on event loop `{}` of another program: calls with a reply do not \
                 cross the network (connect a signal back instead)",
                self.callee(),
                peer.name()
            )));
        }
        let route = call::register(self.callee(), peer.name_arc().clone(), timeout, complete);
        let envelope = SignalEnvelope {
            header: Arc::new(Header::new(
                None,
                CALL,
                Box::new([crate::connection::receiver_to(
                    &self.target.shared,
                    self.index,
                )]),
                false,
                false,
                Some(RequestGuard::new(route)),
            )),
            args: Args::one(args, self.encode),
        };
        if let Err(error) = peer.post(Envelope::Signal(envelope)) {
            // Told already if the request was dropped here; not if it was
            // meant for another process and could not be written there.
            let failure = match error {
                Error::LoopEnded(_) => Failure::Gone(error.to_string()),
                other => Failure::Failed(other.to_string()),
            };
            call::complete(route.call, Err(failure));
        }
        Ok(route)
    }
}

/// The value of a call from what came back.
fn into_value<R: SlotReply>(reply: Result<Reply, CallError>, callee: &str) -> Result<R, CallError> {
    let failed = |why: String| CallError::Failed {
        callee: callee.to_owned(),
        why,
    };
    match reply? {
        Reply::Value(value) => value
            .downcast::<R>()
            .map(|value| *value)
            .map_err(|_| failed("the reply is not of the slot's type".to_owned())),
        Reply::Encoded(bytes) => crate::codec::value_from_slice::<R>(&bytes)
            .map_err(|why| failed(format!("the reply cannot be decoded: {why}"))),
    }
}

/// A call of a slot awaited from async code, as
/// [`Slot::call_async`] gives it: resolves to the slot's value or a
/// [`CallError`]. Dropping it before it resolves stops the waiting.
#[must_use = "the call is sent at once; its outcome is lost unless the future is awaited"]
pub struct CallFuture<R> {
    waiting: Arc<Mutex<Waiting>>,
    /// `None` if the call could not be sent (its outcome is waiting).
    route: Option<ReplyRoute>,
    callee: String,
    finished: bool,
    _reply: PhantomData<fn() -> R>,
}

/// What a [`CallFuture`] shares with the call's completion.
#[derive(Default)]
struct Waiting {
    reply: Option<Result<Reply, CallError>>,
    waker: Option<Waker>,
}

fn lock(waiting: &Mutex<Waiting>) -> std::sync::MutexGuard<'_, Waiting> {
    waiting.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<R: SlotReply> Future for CallFuture<R> {
    type Output = Result<R, CallError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(Err(CallError::Failed {
                callee: this.callee.clone(),
                why: "its future was polled again after it resolved".to_owned(),
            }));
        }
        let mut waiting = lock(&this.waiting);
        match waiting.reply.take() {
            Some(reply) => {
                drop(waiting);
                this.finished = true;
                Poll::Ready(into_value(reply, &this.callee))
            }
            None => {
                if !waiting
                    .waker
                    .as_ref()
                    .is_some_and(|waker| waker.will_wake(cx.waker()))
                {
                    waiting.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

impl<R: SlotReply> futures_core::FusedFuture for CallFuture<R> {
    fn is_terminated(&self) -> bool {
        self.finished
    }
}

impl<R> Drop for CallFuture<R> {
    fn drop(&mut self) {
        if let (false, Some(route)) = (self.finished, self.route) {
            // Nobody waits any more: a reply that comes later is dropped.
            call::cancel(route.call);
        }
    }
}

impl<R> std::fmt::Debug for CallFuture<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CallFuture({})", self.callee)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::task::Wake;

    use crate::{EventLoopThread, event_loop_object};

    use super::*;

    #[event_loop_object]
    struct Gated {
        gate: mpsc::Receiver<()>,
    }

    #[event_loop_object]
    impl Gated {
        #[slot]
        fn wait(&mut self) -> u32 {
            let _ = self.gate.recv();
            7
        }
    }

    /// Counts its wake-ups.
    struct Counter(std::sync::atomic::AtomicU32);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn a_call_future_is_woken_once_and_a_dropped_one_is_forgotten() {
        let (open, gate) = mpsc::channel();
        let mut worker = EventLoopThread::new("call_future_unit").unwrap();
        let gated = worker.add(Gated { gate }).unwrap();
        worker.start().unwrap();

        // Polled before the reply: pending, then woken by the reply.
        let counter = Arc::new(Counter(0.into()));
        let waker = Waker::from(counter.clone());
        let mut cx = TaskContext::from_waker(&waker);
        let mut call = gated.wait().call_async((), Duration::from_secs(10));
        assert!(Pin::new(&mut call).poll(&mut cx).is_pending());
        open.send(()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while counter.0.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            assert!(std::time::Instant::now() < deadline, "never woken");
            std::thread::yield_now();
        }
        assert_eq!(Pin::new(&mut call).poll(&mut cx), Poll::Ready(Ok(7)));
        assert_eq!(counter.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        // Polled again: an error, not a panic.
        assert!(matches!(
            Pin::new(&mut call).poll(&mut cx),
            Poll::Ready(Err(CallError::Failed { .. }))
        ));

        // Dropped while waiting: its entry leaves the table of calls.
        let waiting = gated.wait().call_async((), Duration::from_secs(600));
        let route = waiting.route.expect("sent");
        drop(waiting);
        assert!(
            !call::cancel(route.call),
            "the dropped call is still waited for"
        );
        open.send(()).unwrap();
        worker.stop();
        worker.join().unwrap();
    }
}
