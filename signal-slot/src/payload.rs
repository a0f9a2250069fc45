//! Signal payloads on their way to slots.
//!
//! Inside a process a payload is the argument tuple itself, moved to the
//! last slot that takes it (cloned for the others): a small tuple travels
//! inline in the queued message, a large one (or an `emit_many` batch) in
//! one box. From another process it is MessagePack bytes, decoded by each
//! slot into its argument types.

use std::any::{Any, TypeId, type_name};
use std::sync::{Arc, Mutex, PoisonError};

use crate::codec::{EncodedArgs, Encoder, whole};
use crate::error::{EncodeError, SlotError};
use crate::sys::inline::InlineArgs;
use crate::util::drop_contained;

pub use crate::codec::{DecodeFn, EncodeFn};

/// A type-erased batch of emissions of one signal.
///
/// Public only because [`Payload`] is used by generated code; not part of the
/// API.
#[doc(hidden)]
pub trait ErasedArgs: Send {
    /// The number of emissions in the batch.
    fn count(&self) -> usize;
    /// The argument tuple's type, for error messages.
    fn type_name(&self) -> &'static str;
    /// For downcasting to the concrete batch.
    fn as_any_mut(&mut self) -> &mut dyn Any;
    /// A copy for another receiving loop.
    fn clone_box(&self) -> Box<dyn ErasedArgs>;
    /// Appends emission `index` as MessagePack.
    fn encode_item(&self, index: usize, buf: &mut Encoder<'_>) -> Result<(), EncodeError>;
    /// Emission `index` as MessagePack, if the batch holds encoded bytes.
    fn encoded_item(&self, index: usize) -> Option<&[u8]>;
    /// Drops every emission but the last; returns how many went.
    fn retain_last(&mut self) -> usize;
    /// Drops every emission but the first.
    fn retain_first(&mut self);
}

/// The concrete batch behind [`ErasedArgs`] for arguments of type `A`.
pub(crate) struct ArgsBatch<A> {
    items: Items<A>,
    encode: EncodeFn<A>,
}

enum Items<A> {
    One(Option<A>),
    Many(Vec<Option<A>>),
}

/// The arguments of one emission or one batch, as queued for one loop.
///
/// Public only because [`Payload`] is used by generated code; not part of the
/// API.
#[doc(hidden)]
pub enum Args {
    /// One emission of a small tuple, stored inline; `None` once taken.
    Inline(Option<InlineArgs>),
    /// A batch, a large tuple, or MessagePack bytes.
    Boxed(Box<dyn ErasedArgs>),
    /// Whatever a keep-latest connection's mailbox holds when the loop
    /// gets to it.
    Latest(Ticket),
}

/// The newest arguments of a keep-latest connection, waiting for its loop:
/// at most one emission, replaced by each newer one.
#[derive(Default)]
pub(crate) struct Mailbox {
    pending: Mutex<Option<Args>>,
}

impl Mailbox {
    /// Puts `args` in; gives back what it replaced, if the loop had not
    /// taken it yet (then a ticket for the mailbox is already queued).
    pub(crate) fn put(&self, args: Args) -> Option<Args> {
        self.lock().replace(args)
    }

    /// What the mailbox holds, taken out.
    pub(crate) fn take(&self) -> Option<Args> {
        self.lock().take()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Args>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A claim on a [`Mailbox`], queued in the loop's inbox in place of the
/// arguments. Dropped unhandled (the loop stopped, or is gone), it empties
/// the mailbox: what it held is dropped with it, and counted with it.
#[doc(hidden)]
pub struct Ticket(Option<Arc<Mailbox>>);

impl Ticket {
    pub(crate) fn new(mailbox: Arc<Mailbox>) -> Self {
        Ticket(Some(mailbox))
    }

    /// The arguments the loop delivers: the newest emission. Once
    /// redeemed, the ticket leaves the mailbox to the next one.
    pub(crate) fn redeem(&mut self) -> Option<Args> {
        self.0.take().and_then(|mailbox| mailbox.take())
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        drop(self.redeem());
    }
}

impl Args {
    /// One emission: inline if it fits, boxed otherwise.
    pub(crate) fn one<A: Clone + Send + 'static>(args: A, encode: EncodeFn<A>) -> Args {
        let encode = encoder_of(encode);
        match InlineArgs::new(args, encode) {
            Ok(inline) => Args::Inline(Some(inline)),
            Err((args, encode)) => Args::Boxed(Box::new(ArgsBatch {
                items: Items::One(Some(args)),
                encode,
            })),
        }
    }

    /// A batch of emissions, in one box.
    pub(crate) fn many<A: Clone + Send + 'static>(args: Vec<A>, encode: EncodeFn<A>) -> Args {
        Args::Boxed(Box::new(ArgsBatch {
            items: Items::Many(args.into_iter().map(Some).collect()),
            encode: encoder_of(encode),
        }))
    }

    /// Bytes from another process, passed on as they are.
    pub(crate) fn encoded(items: Vec<Vec<u8>>, held: crate::pool::Held) -> Args {
        Args::Boxed(Box::new(EncodedBatch {
            items,
            _held: Arc::new(held),
        }))
    }

    /// The number of emissions.
    pub(crate) fn count(&self) -> usize {
        match self {
            Args::Inline(_) | Args::Latest(_) => 1,
            Args::Boxed(batch) => batch.count(),
        }
    }

    /// A copy for another receiving loop.
    pub(crate) fn clone_args(&self) -> Args {
        match self {
            Args::Inline(inline) => Args::Inline(inline.clone()),
            Args::Boxed(batch) => Args::Boxed(batch.clone_box()),
            Args::Latest(ticket) => ticket
                .0
                .as_ref()
                .and_then(|mailbox| mailbox.lock().as_ref().map(Args::clone_args))
                .unwrap_or(Args::Inline(None)),
        }
    }

    /// Keeps only the first emission of a batch.
    pub(crate) fn retain_first(&mut self) {
        if let Args::Boxed(batch) = self {
            batch.retain_first();
        }
    }

    /// Keeps only the last emission of a batch; returns how many went.
    pub(crate) fn retain_last(&mut self) -> usize {
        match self {
            Args::Inline(_) | Args::Latest(_) => 0,
            Args::Boxed(batch) => batch.retain_last(),
        }
    }

    /// Appends emission `index` as MessagePack.
    pub(crate) fn encode_item(
        &self,
        index: usize,
        buf: &mut Encoder<'_>,
    ) -> Result<(), EncodeError> {
        match self {
            Args::Inline(Some(inline)) if index == 0 => inline.encode(buf),
            Args::Inline(_) => Err(EncodeError(format!(
                "emission {index} was already delivered"
            ))),
            Args::Boxed(batch) => batch.encode_item(index, buf),
            Args::Latest(ticket) => {
                let pending = ticket.0.as_ref().map(|mailbox| mailbox.lock());
                match pending.as_deref() {
                    Some(Some(args)) => args.encode_item(index, buf),
                    _ => Err(EncodeError(
                        "the newest emission was already delivered".to_owned(),
                    )),
                }
            }
        }
    }
}

/// Arguments handed to `emit`, until the emission takes them: dropped
/// contained if it does not (no receiver).
pub(crate) struct Unsent<A>(Option<A>);

impl<A> Unsent<A> {
    pub(crate) fn new(args: A) -> Self {
        Unsent(Some(args))
    }

    /// The arguments, for the emission.
    pub(crate) fn take(mut self) -> A {
        self.0
            .take()
            .expect("the arguments are taken once, by the emission")
    }
}

impl<A> Drop for Unsent<A> {
    fn drop(&mut self) {
        if let Some(args) = self.0.take() {
            drop_contained(args);
        }
    }
}

impl<A> Drop for ArgsBatch<A> {
    fn drop(&mut self) {
        if !std::mem::needs_drop::<A>() {
            return;
        }
        // One by one: a second panicking `Drop` in one unwinding would
        // abort the process.
        match std::mem::replace(&mut self.items, Items::Many(Vec::new())) {
            Items::One(item) => drop_contained(item),
            Items::Many(items) => items.into_iter().for_each(drop_contained),
        }
    }
}

impl<A> ArgsBatch<A> {
    fn item(&mut self, index: usize) -> Option<&mut Option<A>> {
        match &mut self.items {
            Items::One(item) if index == 0 => Some(item),
            Items::One(_) => None,
            Items::Many(items) => items.get_mut(index),
        }
    }
}

impl<A: Clone + Send + 'static> ErasedArgs for ArgsBatch<A> {
    fn count(&self) -> usize {
        match &self.items {
            Items::One(_) => 1,
            Items::Many(items) => items.len(),
        }
    }

    fn type_name(&self) -> &'static str {
        type_name::<A>()
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn clone_box(&self) -> Box<dyn ErasedArgs> {
        let items = match &self.items {
            Items::One(item) => Items::One(item.clone()),
            Items::Many(items) => Items::Many(items.clone()),
        };
        Box::new(ArgsBatch {
            items,
            encode: self.encode,
        })
    }

    fn encode_item(&self, index: usize, buf: &mut Encoder<'_>) -> Result<(), EncodeError> {
        let item = match &self.items {
            Items::One(item) if index == 0 => item.as_ref(),
            Items::One(_) => None,
            Items::Many(items) => items.get(index).and_then(Option::as_ref),
        };
        match item {
            Some(args) => (self.encode)(args, buf),
            None => Err(EncodeError(format!(
                "emission {index} of the batch was already delivered"
            ))),
        }
    }

    fn encoded_item(&self, _index: usize) -> Option<&[u8]> {
        None
    }

    fn retain_last(&mut self) -> usize {
        match &mut self.items {
            Items::One(_) => 0,
            Items::Many(items) => {
                let gone = items.len().saturating_sub(1);
                items.drain(..gone).for_each(drop_contained);
                gone
            }
        }
    }

    fn retain_first(&mut self) {
        if let Items::Many(items) = &mut self.items
            && items.len() > 1
        {
            items.drain(1..).for_each(drop_contained);
        }
    }
}

/// A batch that arrived as MessagePack and is passed on as such (a signal
/// emitted in one process on behalf of an object that lives in another).
struct EncodedBatch {
    pub(crate) items: Vec<Vec<u8>>,
    /// The shared buffers the items name, kept from going back to their
    /// pool while the items may still be decoded.
    _held: Arc<crate::pool::Held>,
}

impl ErasedArgs for EncodedBatch {
    fn count(&self) -> usize {
        self.items.len()
    }

    fn type_name(&self) -> &'static str {
        "MessagePack bytes"
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn clone_box(&self) -> Box<dyn ErasedArgs> {
        Box::new(EncodedBatch {
            items: self.items.clone(),
            _held: self._held.clone(),
        })
    }

    fn encode_item(&self, index: usize, buf: &mut Encoder<'_>) -> Result<(), EncodeError> {
        let item = self
            .items
            .get(index)
            .ok_or_else(|| EncodeError(format!("no emission {index} in the batch")))?;
        std::io::Write::write_all(buf, item).map_err(|error| EncodeError(error.to_string()))?;
        // Passed on to another process: the buffers they name are leased
        // to it as if encoded here.
        crate::pool::lease_encoded(item).map_err(EncodeError)
    }

    fn encoded_item(&self, index: usize) -> Option<&[u8]> {
        self.items.get(index).map(Vec::as_slice)
    }

    fn retain_last(&mut self) -> usize {
        let gone = self.items.len().saturating_sub(1);
        self.items.drain(..gone);
        gone
    }

    fn retain_first(&mut self) {
        self.items.truncate(1);
    }
}

/// The arguments of one emission, on their way into a slot.
///
/// Generated dispatch code calls [`Payload::take`]; users never see it.
pub enum Payload<'a> {
    #[doc(hidden)]
    Local {
        args: &'a mut Args,
        index: usize,
        /// The last receiver moves the arguments; the others clone them.
        last: bool,
    },
    #[doc(hidden)]
    Encoded(&'a [u8]),
}

impl Payload<'_> {
    /// The arguments as the slot's tuple type `A`: moved, cloned or decoded.
    ///
    /// # Errors
    ///
    /// [`SlotError::PayloadMismatch`] if the payload holds another type,
    /// [`SlotError::Decode`] if bytes from another process do not decode.
    pub fn take<A: Clone + 'static>(self, decode: DecodeFn<A>) -> Result<A, SlotError> {
        // A slot that takes the arguments undecoded: its decoder keeps the
        // whole argument list (known at compile time; folds away).
        let decode = if TypeId::of::<A>() == TypeId::of::<(EncodedArgs,)>() {
            whole::<A>
        } else {
            decode
        };
        match self {
            Payload::Local {
                args: Args::Inline(slot),
                last,
                ..
            } => {
                let consumed =
                    || SlotError::Decode("the emission was already delivered".to_owned());
                let mismatch = |found| SlotError::PayloadMismatch {
                    expected: type_name::<A>(),
                    found,
                };
                if last {
                    match slot.take().ok_or_else(consumed)?.take::<A>() {
                        Ok(value) => Ok(value),
                        Err(inline) => {
                            let found = inline.type_name();
                            *slot = Some(inline);
                            Err(mismatch(found))
                        }
                    }
                } else {
                    let inline = slot.as_ref().ok_or_else(consumed)?;
                    inline
                        .get::<A>()
                        .cloned()
                        .ok_or_else(|| mismatch(inline.type_name()))
                }
                .or_else(|error| match slot {
                    Some(inline) => reencode(|buf| inline.encode(buf), decode, error),
                    None => Err(error),
                })
            }
            Payload::Local {
                args: Args::Boxed(args),
                index,
                last,
            } => {
                // The common case first: the batch holds the slot's type.
                if let Some(batch) = args.as_any_mut().downcast_mut::<ArgsBatch<A>>() {
                    let item = batch.item(index).ok_or_else(|| {
                        SlotError::Decode(format!("no emission {index} in the batch"))
                    })?;
                    let value = if last { item.take() } else { item.clone() };
                    return value.ok_or_else(|| {
                        SlotError::Decode(format!("emission {index} was already delivered"))
                    });
                }
                if let Some(bytes) = args.encoded_item(index) {
                    return Payload::Encoded(bytes).take(decode);
                }
                let mismatch = SlotError::PayloadMismatch {
                    expected: type_name::<A>(),
                    found: args.type_name(),
                };
                reencode(|buf| args.encode_item(index, buf), decode, mismatch)
            }
            Payload::Local {
                args: Args::Latest(_),
                ..
            } => Err(SlotError::Decode(
                "a keep-latest emission reached a slot unredeemed".to_owned(),
            )),
            Payload::Encoded(mut bytes) => {
                let value = decode(&mut bytes)?;
                if !bytes.is_empty() {
                    return Err(SlotError::Decode(format!(
                        "{} unexpected bytes after the arguments",
                        bytes.len()
                    )));
                }
                Ok(value)
            }
        }
    }
}

/// The encoder of arguments of type `A`: `encode`, but for an argument
/// list already encoded (`(EncodedArgs,)`), whose bytes go as they are, so
/// that a slot of [`EncodedArgs`] gets the same bytes from any process
/// (known at compile time; folds away).
fn encoder_of<A: 'static>(encode: EncodeFn<A>) -> EncodeFn<A> {
    if TypeId::of::<A>() == TypeId::of::<(EncodedArgs,)>() {
        crate::codec::write_whole::<A>
    } else {
        encode
    }
}

/// For a slot that takes a prefix of the signal's arguments (or another
/// type that decodes from the same MessagePack): the emission's values,
/// encoded and decoded as they would be from another process; `error` if
/// they do not decode.
fn reencode<A>(
    encode: impl FnOnce(&mut Encoder<'_>) -> Result<(), EncodeError>,
    decode: DecodeFn<A>,
    error: SlotError,
) -> Result<A, SlotError> {
    let mut bytes = Vec::new();
    // Shared buffers among the values are leased to this very process,
    // as to any other, for the time between.
    let mut leases = crate::pool::Leases::to(crate::protocol::own_process());
    if leases
        .enter(|| encode(&mut Encoder::growing(&mut bytes)))
        .is_err()
    {
        return Err(error);
    }
    let leased = leases.any();
    leases.sent();
    let mut rest = &bytes[..];
    let decoded = decode(&mut rest);
    if leased {
        // The decoded buffers hold their own references now.
        crate::pool::end_leases_in(&bytes);
    }
    match decoded {
        Ok(value) if rest.is_empty() => Ok(value),
        _ => Err(error),
    }
}
