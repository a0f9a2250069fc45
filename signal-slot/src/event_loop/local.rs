//! Work a loop does for itself, which its inbox carries in order with the
//! rest without the transport naming it: an object joining the loop, one
//! to hand back, one moving between loops of this process.

use std::any::Any;

use crate::command::Command;
use crate::error::Error;
use crate::object::ErasedObject;
use crate::transport::{Envelope, LocalWork};

use super::hand_back::KeepRequest;
use super::move_to::Relocation;

/// What a loop posts to itself (or to another loop of this process).
pub(crate) enum Local {
    /// An object joining the loop.
    Attach(Box<dyn ErasedObject>),
    /// An object to hand back instead of dropping it.
    Keep(KeepRequest),
    /// An object moving between loops of this process.
    Relocation(Box<Relocation>),
}

impl Local {
    /// The envelope that carries it.
    pub(crate) fn envelope(self) -> Envelope {
        Envelope::Local(Box::new(self))
    }

    /// The envelope that carries a step of a move.
    pub(crate) fn relocation(relocation: Relocation) -> Envelope {
        Local::Relocation(Box::new(relocation)).envelope()
    }

    /// The work an envelope carries. Every [`LocalWork`] is a `Local`:
    /// nothing else implements it.
    pub(crate) fn of(work: Box<dyn LocalWork>) -> Option<Local> {
        let local = work.into_any().downcast::<Local>().ok().map(|local| *local);
        debug_assert!(local.is_some(), "local work that is not a `Local`");
        local
    }

    /// The work an envelope carries, in place.
    pub(crate) fn of_ref(work: &dyn LocalWork) -> Option<&Local> {
        let local = work.as_any().downcast_ref::<Local>();
        debug_assert!(local.is_some(), "local work that is not a `Local`");
        local
    }
}

impl LocalWork for Local {
    fn for_other_process(&self, loop_name: &str) -> Result<Command, Error> {
        match self {
            Local::Attach(object) => Err(Error::RemoteLoop {
                loop_name: loop_name.to_owned(),
                id: object.handle().id().to_owned(),
            }),
            Local::Relocation(_) => Err(Error::Move {
                id: String::new(),
                message: format!("event loop `{loop_name}` runs in another process"),
            }),
            // Its state comes back as the reply to the request's call.
            Local::Keep(request) => Ok(Command::Keep {
                object: request.object.clone(),
                instance: request.instance,
                route: request.to.route(),
            }),
        }
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
