//! Objects a loop hands back instead of dropping them (see `keep`): the
//! request the loop holds for an object, and where its object goes when it
//! leaves the loop: to a waiting `Kept` in this process, or, as its state,
//! back to the process that asked.

use std::sync::Arc;

use crate::call::{self, Failure, ReplyRoute};
use crate::object::ErasedObject;

/// What the loop was asked to hand back: an object (that instance), and
/// where to.
pub(crate) struct KeepRequest {
    pub(crate) object: Arc<str>,
    pub(crate) instance: u64,
    pub(crate) to: Box<dyn HandBack>,
}

/// Where a kept object goes: the typed end of a `Kept`, or the way back
/// to the process that asked for it.
pub(crate) trait HandBack: Send {
    /// Hands `object` over. If nobody waits any more, it is dropped here.
    fn give(self: Box<Self>, object: Box<dyn ErasedObject>);
    /// Tells the waiting side that the object will not come, and why.
    fn refuse(self: Box<Self>, why: &str);
    /// Where the object's state goes from another process.
    fn route(&self) -> ReplyRoute;
}

/// The end of a `Kept` in a process the loop moved to: the object's
/// state goes back to the asking process as the reply to its call.
pub(crate) struct StateBack {
    pub(crate) route: ReplyRoute,
}

impl HandBack for StateBack {
    fn give(self: Box<Self>, object: Box<dyn ErasedObject>) {
        match object.transfer() {
            Ok(transfer) => {
                call::reply_value(self.route, serde_bytes::ByteBuf::from(transfer.state));
            }
            Err(why) => call::reply_failure(
                self.route,
                Failure::Failed(format!("its state cannot travel back: {why}")),
            ),
        }
    }

    fn refuse(self: Box<Self>, why: &str) {
        call::reply_failure(self.route, Failure::Gone(why.to_owned()));
    }

    fn route(&self) -> ReplyRoute {
        self.route
    }
}
