//! Closures as slots: a closure that runs on a chosen loop, typed like a
//! slot, as a hidden object of that loop.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::context::Context;
use crate::error::SlotError;
use crate::object::{EventLoopObject, ObjectHandle, ObjectStruct, TypedHandle};
use crate::payload::{DecodeFn, Payload};
use crate::transport::LoopPeer;

/// A closure that receives a signal carrying `A`: one that takes the
/// argument types one by one, or the first of them (`Args` is the
/// closure's own argument tuple, inferred). See
/// [`Signal::connect_fn`](crate::Signal::connect_fn).
#[diagnostic::on_unimplemented(
    message = "this closure cannot receive a signal carrying `{A}`",
    label = "its parameters must be `{A}` one by one, or the first of them",
    note = "annotate the closure's parameters: `move |id: u64, name: String| ..`; it must be \
            `Send + 'static` (it runs on the loop's thread)"
)]
pub trait SlotFn<A, Args>: Send + 'static {
    /// Calls the closure with the arguments it takes.
    fn call(&mut self, args: A);
}

/// `Func` takes `($($p),*)`, the first of `($($p),*, $($rest),*)`.
macro_rules! slot_fn {
    ($( ($($p:ident $value:ident),*) + ($($rest:ident),*) );* $(;)?) => {$(
        impl<Func, $($p,)* $($rest,)*> SlotFn<($($p,)* $($rest,)*), ($($p,)*)> for Func
        where
            Func: FnMut($($p),*) + Send + 'static,
        {
            fn call(&mut self, args: ($($p,)* $($rest,)*)) {
                #[allow(clippy::unused_unit)]
                let ($($value,)* ..) = args;
                self($($value),*)
            }
        }
    )*};
}

slot_fn! {
    () + ();
    () + (T1); (T1 t1) + ();
    () + (T1, T2); (T1 t1) + (T2); (T1 t1, T2 t2) + ();
    () + (T1, T2, T3); (T1 t1) + (T2, T3); (T1 t1, T2 t2) + (T3); (T1 t1, T2 t2, T3 t3) + ();
    () + (T1, T2, T3, T4); (T1 t1) + (T2, T3, T4); (T1 t1, T2 t2) + (T3, T4); (T1 t1, T2 t2, T3 t3) + (T4); (T1 t1, T2 t2, T3 t3, T4 t4) + ();
    () + (T1, T2, T3, T4, T5); (T1 t1) + (T2, T3, T4, T5); (T1 t1, T2 t2) + (T3, T4, T5); (T1 t1, T2 t2, T3 t3) + (T4, T5); (T1 t1, T2 t2, T3 t3, T4 t4) + (T5); (T1 t1, T2 t2, T3 t3, T4 t4, T5 t5) + ();
    () + (T1, T2, T3, T4, T5, T6); (T1 t1) + (T2, T3, T4, T5, T6); (T1 t1, T2 t2) + (T3, T4, T5, T6); (T1 t1, T2 t2, T3 t3) + (T4, T5, T6); (T1 t1, T2 t2, T3 t3, T4 t4) + (T5, T6); (T1 t1, T2 t2, T3 t3, T4 t4, T5 t5) + (T6); (T1 t1, T2 t2, T3 t3, T4 t4, T5 t5, T6 t6) + ();
    () + (T1, T2, T3, T4, T5, T6, T7); (T1 t1) + (T2, T3, T4, T5, T6, T7); (T1 t1, T2 t2) + (T3, T4, T5, T6, T7); (T1 t1, T2 t2, T3 t3) + (T4, T5, T6, T7); (T1 t1, T2 t2, T3 t3, T4 t4) + (T5, T6, T7); (T1 t1, T2 t2, T3 t3, T4 t4, T5 t5) + (T6, T7); (T1 t1, T2 t2, T3 t3, T4 t4, T5 t5, T6 t6) + (T7); (T1 t1, T2 t2, T3 t3, T4 t4, T5 t5, T6 t6, T7 t7) + ();
    () + (T1, T2, T3, T4, T5, T6, T7, T8); (T1 t1) + (T2, T3, T4, T5, T6, T7, T8); (T1 t1, T2 t2) + (T3, T4, T5, T6, T7, T8); (T1 t1, T2 t2, T3 t3) + (T4, T5, T6, T7, T8); (T1 t1, T2 t2, T3 t3, T4 t4) + (T5, T6, T7, T8); (T1 t1, T2 t2, T3 t3, T4 t4, T5 t5) + (T6, T7, T8); (T1 t1, T2 t2, T3 t3, T4 t4, T5 t5, T6 t6) + (T7, T8); (T1 t1, T2 t2, T3 t3, T4 t4, T5 t5, T6 t6, T7 t7) + (T8); (T1 t1, T2 t2, T3 t3, T4 t4, T5 t5, T6 t6, T7 t7, T8 t8) + ();
}

/// The object a closure lives in on its loop.
pub(crate) struct Closure<A> {
    call: Box<dyn FnMut(A) + Send>,
    decode: DecodeFn<A>,
}

impl<A: Clone + Send + 'static> Closure<A> {
    pub(crate) fn new<F: SlotFn<A, Args>, Args>(mut slot: F, decode: DecodeFn<A>) -> Self {
        Closure {
            call: Box::new(move |args| slot.call(args)),
            decode,
        }
    }

    /// A closure of the whole argument tuple.
    pub(crate) fn from_fn(call: Box<dyn FnMut(A) + Send>, decode: DecodeFn<A>) -> Self {
        Closure { call, decode }
    }
}

/// The handle of a [`Closure`]'s object.
pub(crate) struct ClosureHandle<A>(ObjectHandle, PhantomData<fn() -> A>);

impl<A> Clone for ClosureHandle<A> {
    fn clone(&self) -> Self {
        ClosureHandle(self.0.clone(), PhantomData)
    }
}

impl<A: 'static> TypedHandle for ClosureHandle<A> {
    type Object = Closure<A>;

    fn from_object_handle(handle: ObjectHandle) -> Self {
        ClosureHandle(handle, PhantomData)
    }

    fn object_handle(&self) -> &ObjectHandle {
        &self.0
    }
}

impl<A: 'static> ObjectStruct for Closure<A> {
    type Handle = ClosureHandle<A>;
    const TYPE_NAME: &'static str = "closure";
}

impl<A: Clone + Send + 'static> EventLoopObject for Closure<A> {
    const SIGNALS: &'static [&'static str] = &[];
    const SLOTS: &'static [&'static str] = &["closure"];
    const TYPE_KEY: &'static str = "signal_slot::closure";

    fn dispatch(
        &mut self,
        _ctx: &mut Context<'_, Self>,
        slot: u16,
        payload: Payload<'_>,
    ) -> Result<(), SlotError> {
        if slot != 0 {
            return Err(crate::object::no_such_slot::<Self>(slot));
        }
        let args = payload.take::<A>(self.decode)?;
        (self.call)(args);
        Ok(())
    }

    fn encode_state(&self) -> Result<Vec<u8>, String> {
        Err("a closure cannot travel to another process".to_owned())
    }

    fn decode_state(_bytes: &[u8]) -> Result<Self, String> {
        Err("a closure cannot travel to another process".to_owned())
    }
}

/// Held by the connection to a closure, wherever the connection list
/// keeps it: when the connection ends (disconnected, by any means, or its
/// emitter detached) and the last copy goes, the closure leaves its loop.
pub(crate) struct Lease {
    peer: Arc<LoopPeer>,
    object: Arc<str>,
    instance: u64,
    /// The process that made it: a forked child's copies end nothing.
    pid: u32,
}

impl Lease {
    pub(crate) fn new(handle: &ObjectHandle, peer: Arc<LoopPeer>) -> Arc<Self> {
        Arc::new(Lease {
            peer,
            object: handle.shared.id.clone(),
            instance: handle.shared.instance,
            pid: std::process::id(),
        })
    }
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Lease({} on {})", self.object, self.peer.name())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.pid != std::process::id() {
            return;
        }
        // A loop that ended took the closure with it.
        let _ = self.peer.send_command(crate::command::Command::Detach {
            object: self.object.clone(),
            instance: self.instance,
        });
    }
}
