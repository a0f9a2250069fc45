//! A type-erased value stored inline: one emission's arguments, moved
//! through a queue without a heap allocation.
//!
//! The value (with the function that encodes it for another process) is
//! written into a buffer of [`WORDS`] machine words, and a per-type table of
//! functions drops, clones, encodes or identifies it. Types larger than the
//! buffer, or more aligned than a word, are not stored inline: the caller
//! boxes them instead.

use std::any::TypeId;
use std::marker::PhantomData;
use std::mem::{ManuallyDrop, MaybeUninit};

use crate::codec::encoder::{EncodeFn, Encoder};
use crate::error::EncodeError;

/// The buffer's size in words: a tuple of a few small arguments and the
/// encode function fit.
const WORDS: usize = 6;

type Buffer = MaybeUninit<[usize; WORDS]>;

/// What is stored: the arguments and how to encode them.
type Stored<A> = (A, EncodeFn<A>);

/// The operations on a stored `Stored<A>`, for one `A`.
struct VTable {
    type_id: fn() -> TypeId,
    type_name: fn() -> &'static str,
    /// Drops the value in place.
    drop: unsafe fn(*mut Buffer),
    /// Clones the value from the first buffer into the second (uninit) one.
    clone: unsafe fn(*const Buffer, *mut Buffer),
    encode: unsafe fn(*const Buffer, &mut Encoder<'_>) -> Result<(), EncodeError>,
}

struct Table<A>(PhantomData<A>);

impl<A: Clone + 'static> Table<A> {
    const VTABLE: VTable = VTable {
        type_id: TypeId::of::<A>,
        type_name: std::any::type_name::<A>,
        drop: drop_stored::<A>,
        clone: clone_stored::<A>,
        encode: encode_stored::<A>,
    };
}

/// # Safety
/// `buffer` holds an initialized `Stored<A>`, which is not used afterwards.
unsafe fn drop_stored<A>(buffer: *mut Buffer) {
    // A `Drop` of the user's that panics goes no further than here.
    crate::util::drop_contained_with::<A>(|| {
        // SAFETY: the caller guarantees an initialized `Stored<A>` at
        // `buffer` (written by `InlineArgs::new` with its size and
        // alignment checked) that nothing uses after this call.
        unsafe { std::ptr::drop_in_place(buffer.cast::<Stored<A>>()) }
    });
}

/// # Safety
/// `from` holds an initialized `Stored<A>`; `to` is valid for a write of one.
unsafe fn clone_stored<A: Clone>(from: *const Buffer, to: *mut Buffer) {
    // SAFETY: `from` holds an initialized `Stored<A>` (caller's guarantee),
    // so a shared reference to it is valid for the duration of the clone.
    let stored = unsafe { &*from.cast::<Stored<A>>() };
    let copy = (stored.0.clone(), stored.1);
    // SAFETY: `to` is a buffer that fits `Stored<A>` (checked when the
    // original was stored), valid for writes and not yet initialized.
    unsafe { to.cast::<Stored<A>>().write(copy) }
}

/// # Safety
/// `buffer` holds an initialized `Stored<A>`.
unsafe fn encode_stored<A>(
    buffer: *const Buffer,
    out: &mut Encoder<'_>,
) -> Result<(), EncodeError> {
    // SAFETY: the caller guarantees an initialized `Stored<A>` at `buffer`.
    let (args, encode) = unsafe { &*buffer.cast::<Stored<A>>() };
    encode(args, out)
}

const fn fits<A>() -> bool {
    size_of::<Stored<A>>() <= size_of::<Buffer>() && align_of::<Stored<A>>() <= align_of::<Buffer>()
}

/// One emission's arguments, of a type known only at run time. Public only
/// because generated code names [`Payload`](crate::__private::Payload).
#[doc(hidden)]
pub struct InlineArgs {
    buffer: Buffer,
    vtable: &'static VTable,
    /// Neither `Send` nor `Sync` by default: see the `Send` impl below.
    _not_send: PhantomData<*const ()>,
}

// SAFETY: `new` only stores `A: Send`, so moving the stored value to another
// thread is sound. `InlineArgs` stays `!Sync`: a shared reference allows
// `get` and `clone`, which would need `A: Sync` across threads.
unsafe impl Send for InlineArgs {}

impl InlineArgs {
    /// Stores `args` inline, or hands them back if they do not fit.
    pub(crate) fn new<A: Clone + Send + 'static>(
        args: A,
        encode: EncodeFn<A>,
    ) -> Result<Self, (A, EncodeFn<A>)> {
        if !fits::<A>() {
            return Err((args, encode));
        }
        let mut buffer = Buffer::uninit();
        // SAFETY: `fits` checked that `Stored<A>` fits the buffer in size and
        // alignment; the buffer is fresh, so nothing is overwritten.
        unsafe {
            buffer
                .as_mut_ptr()
                .cast::<Stored<A>>()
                .write((args, encode))
        };
        Ok(InlineArgs {
            buffer,
            vtable: &Table::<A>::VTABLE,
            _not_send: PhantomData,
        })
    }

    /// True if the stored arguments are of type `A`.
    pub(crate) fn is<A: 'static>(&self) -> bool {
        (self.vtable.type_id)() == TypeId::of::<A>()
    }

    /// The name of the stored type.
    pub(crate) fn type_name(&self) -> &'static str {
        (self.vtable.type_name)()
    }

    /// Moves the arguments out, if they are of type `A`.
    pub(crate) fn take<A: 'static>(self) -> Result<A, Self> {
        if !self.is::<A>() {
            return Err(self);
        }
        // The value moves out below: the table's drop must not run.
        let this = ManuallyDrop::new(self);
        // SAFETY: the type was checked just above, so the buffer holds an
        // initialized `Stored<A>`; `this` is never dropped, so the value is
        // read out exactly once.
        let (args, _encode) = unsafe { this.buffer.as_ptr().cast::<Stored<A>>().read() };
        Ok(args)
    }

    /// The arguments by reference, if they are of type `A`.
    pub(crate) fn get<A: 'static>(&self) -> Option<&A> {
        if !self.is::<A>() {
            return None;
        }
        // SAFETY: the type was checked just above, so the buffer holds an
        // initialized `Stored<A>`, borrowed for as long as `self` is.
        Some(unsafe { &(*self.buffer.as_ptr().cast::<Stored<A>>()).0 })
    }

    /// Appends the arguments as MessagePack.
    pub(crate) fn encode(&self, out: &mut Encoder<'_>) -> Result<(), EncodeError> {
        // SAFETY: the buffer holds the initialized value that `vtable` was
        // made for (they are set together in `new` and `clone`).
        unsafe { (self.vtable.encode)(&self.buffer, out) }
    }
}

impl Clone for InlineArgs {
    fn clone(&self) -> Self {
        let mut buffer = Buffer::uninit();
        // SAFETY: `self.buffer` holds the initialized value `vtable` was
        // made for; `buffer` is fresh, of the same size and alignment.
        unsafe { (self.vtable.clone)(&self.buffer, &mut buffer) };
        InlineArgs {
            buffer,
            vtable: self.vtable,
            _not_send: PhantomData,
        }
    }
}

impl Drop for InlineArgs {
    fn drop(&mut self) {
        // SAFETY: the buffer holds the initialized value `vtable` was made
        // for (values moved out by `take` skip this drop), dropped once.
        unsafe { (self.vtable.drop)(&mut self.buffer) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn encode_len(args: &(String, u32), out: &mut Encoder<'_>) -> Result<(), EncodeError> {
        use std::io::Write;
        out.write_all(&[args.0.len() as u8, args.1 as u8])
            .map_err(|error| EncodeError(error.to_string()))
    }

    fn encode_nothing<A>(_: &A, _: &mut Encoder<'_>) -> Result<(), EncodeError> {
        Ok(())
    }

    #[test]
    fn values_move_clone_encode_and_drop_once() {
        let args = ("hello".to_owned(), 3);
        let stored = InlineArgs::new(args.clone(), encode_len).ok().unwrap();
        assert!(stored.is::<(String, u32)>());
        assert!(!stored.is::<(String,)>());
        assert_eq!(stored.get::<(String, u32)>(), Some(&args));
        let copy = stored.clone();
        let mut out = Vec::new();
        copy.encode(&mut Encoder::growing(&mut out)).unwrap();
        assert_eq!(out, [5, 3]);
        assert_eq!(stored.take::<(String, u32)>().ok(), Some(args.clone()));
        assert_eq!(copy.type_name(), std::any::type_name::<(String, u32)>());
        drop(copy);
    }

    #[test]
    fn the_wrong_type_gives_the_value_back() {
        let stored = InlineArgs::new((7u64,), encode_nothing).ok().unwrap();
        let stored = stored.take::<(u32,)>().err().unwrap();
        assert_eq!(stored.get::<(u32,)>(), None);
        assert_eq!(stored.take::<(u64,)>().ok(), Some((7,)));
    }

    #[test]
    fn drops_run_exactly_once() {
        let counter = Arc::new(());
        let stored = InlineArgs::new((counter.clone(),), encode_nothing)
            .ok()
            .unwrap();
        let copy = stored.clone();
        assert_eq!(Arc::strong_count(&counter), 3);
        drop(stored);
        assert_eq!(Arc::strong_count(&counter), 2);
        let (taken,) = copy.take::<(Arc<()>,)>().ok().unwrap();
        assert_eq!(Arc::strong_count(&counter), 2);
        drop(taken);
        assert_eq!(Arc::strong_count(&counter), 1);
    }

    #[test]
    fn large_or_overaligned_values_are_refused() {
        let big = ("a".to_owned(), vec![1u32], 0u64);
        assert!(InlineArgs::new(big, encode_nothing).is_err());
        #[derive(Clone)]
        #[repr(align(32))]
        #[allow(dead_code)]
        struct Aligned(u8);
        assert!(InlineArgs::new((Aligned(1),), encode_nothing).is_err());
    }
}
