//! Signal payloads on their way to slots.
//!
//! Inside a process a payload is the argument tuple itself, boxed once per
//! receiving loop and moved to the last slot that takes it (cloned for the
//! others). From another process it is MessagePack bytes, decoded by each
//! slot into its argument types. `emit_many` moves a whole batch in one box.

use std::any::{Any, type_name};

use crate::error::{EncodeError, SlotError};

/// Encodes one argument tuple as MessagePack (generated per signal).
pub type EncodeFn<A> = fn(&A, &mut Vec<u8>) -> Result<(), EncodeError>;
/// Decodes one argument tuple from MessagePack (generated per slot).
pub type DecodeFn<A> = fn(&mut &[u8]) -> Result<A, crate::error::DecodeError>;

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
    fn encode_item(&self, index: usize, buf: &mut Vec<u8>) -> Result<(), EncodeError>;
    /// Emission `index` as MessagePack, if the batch holds encoded bytes.
    fn encoded_item(&self, index: usize) -> Option<&[u8]>;
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

impl<A: Clone + Send + 'static> ArgsBatch<A> {
    pub(crate) fn one(args: A, encode: EncodeFn<A>) -> Box<dyn ErasedArgs> {
        Box::new(ArgsBatch {
            items: Items::One(Some(args)),
            encode,
        })
    }

    pub(crate) fn many(args: Vec<A>, encode: EncodeFn<A>) -> Box<dyn ErasedArgs> {
        Box::new(ArgsBatch {
            items: Items::Many(args.into_iter().map(Some).collect()),
            encode,
        })
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

    fn encode_item(&self, index: usize, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
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
}

/// A batch that arrived as MessagePack and is passed on as such (a signal
/// emitted in one process on behalf of an object that lives in another).
pub(crate) struct EncodedBatch {
    pub(crate) items: Vec<Vec<u8>>,
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
        })
    }

    fn encode_item(&self, index: usize, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
        let item = self
            .items
            .get(index)
            .ok_or_else(|| EncodeError(format!("no emission {index} in the batch")))?;
        buf.extend_from_slice(item);
        Ok(())
    }

    fn encoded_item(&self, index: usize) -> Option<&[u8]> {
        self.items.get(index).map(Vec::as_slice)
    }
}

/// The arguments of one emission, on their way into a slot.
///
/// Generated dispatch code calls [`Payload::take`]; users never see it.
pub enum Payload<'a> {
    #[doc(hidden)]
    Local {
        args: &'a mut dyn ErasedArgs,
        index: usize,
        /// The last receiver moves the arguments; the others clone them.
        take: bool,
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
        match self {
            Payload::Local { args, index, take } => {
                let found = args.type_name();
                let mismatch = SlotError::PayloadMismatch {
                    expected: type_name::<A>(),
                    found,
                };
                let batch = args
                    .as_any_mut()
                    .downcast_mut::<ArgsBatch<A>>()
                    .ok_or(mismatch)?;
                let item = batch.item(index).ok_or_else(|| {
                    SlotError::Decode(format!("no emission {index} in the batch"))
                })?;
                let value = if take { item.take() } else { item.clone() };
                value.ok_or_else(|| {
                    SlotError::Decode(format!("emission {index} was already delivered"))
                })
            }
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
