//! The process-wide table of loops and objects.
//!
//! It sits below the object model, with the routes it holds (the loops
//! this process can reach, the process tree): it names loops and objects
//! by their names, and holds each object weakly without naming its type
//! (`object::registered` reads them back as objects).
//!
//! Names must be unique per process, and messages from other processes name
//! loops and objects; this table resolves them. It holds every object
//! attached to a loop of this process (its id is reserved on its loop for
//! as long as it is attached) and the handles made by name to objects of
//! other processes. It is held only briefly, to register and look up: never
//! on the emit path, and on the dispatch path only for connection changes
//! and detachments.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError, Weak};

use crate::error::Error;
use crate::topology::info::SubscriptionInfo;
use crate::transport::LoopPeer;
use crate::transport::routes::ProcessTable;

#[derive(Default)]
pub(crate) struct Registry {
    pub(crate) loops: HashMap<Arc<str>, Arc<LoopPeer>>,
    /// Objects by loop name and id.
    pub(crate) objects: HashMap<(Arc<str>, Arc<str>), ObjectEntry>,
    pub(crate) processes: ProcessTable,
    /// The subscriptions of each loop of this process, as its loop last
    /// reported them (for the topology; the loop keeps its own).
    subscriptions: HashMap<Arc<str>, Vec<SubscriptionInfo>>,
}

/// An object of a loop, by name: `object::registered` gives it its type
/// back.
pub(crate) struct ObjectEntry {
    pub(crate) handle: Weak<dyn Any + Send + Sync>,
    /// Attached to a loop of this process: its id is taken.
    pub(crate) attached: bool,
}

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(Mutex::default);

pub(crate) fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Registry {
    pub(crate) fn add_loop(&mut self, peer: Arc<LoopPeer>) -> Result<(), Error> {
        let name = peer.name_arc().clone();
        if let Some(existing) = self.loops.get(&name) {
            if !existing.is_gone() {
                return Err(Error::DuplicateLoopName(name.to_string()));
            }
            // A loop of that name that ended: its objects went with it.
            self.objects.retain(|(loop_name, _), _| *loop_name != name);
        }
        self.loops.insert(name, peer);
        Ok(())
    }

    pub(crate) fn remove_loop(&mut self, peer: &Arc<LoopPeer>) {
        let Some(existing) = self.loops.get(peer.name_arc()) else {
            return;
        };
        // A newer loop of the same name keeps its entry and its objects.
        if !Arc::ptr_eq(existing, peer) {
            return;
        }
        self.loops.remove(peer.name_arc());
        self.subscriptions.remove(peer.name_arc());
        self.objects
            .retain(|(loop_name, _), _| **loop_name != *peer.name());
    }

    /// The subscriptions of the loop `name` now, as it reports them.
    pub(crate) fn set_subscriptions(&mut self, name: &Arc<str>, list: Vec<SubscriptionInfo>) {
        if list.is_empty() {
            self.subscriptions.remove(name);
        } else {
            self.subscriptions.insert(name.clone(), list);
        }
    }

    /// The subscriptions of the loop `name`.
    pub(crate) fn subscriptions_of(&self, name: &str) -> Vec<SubscriptionInfo> {
        self.subscriptions.get(name).cloned().unwrap_or_default()
    }

    /// Frees the id of an object detached from its loop.
    pub(crate) fn detach(&mut self, loop_name: &Arc<str>, id: &Arc<str>) {
        self.objects.remove(&(loop_name.clone(), id.clone()));
    }

    /// True if an object with that id is attached to that loop.
    pub(crate) fn is_attached(&self, loop_name: &str, id: &str) -> bool {
        let key: (Arc<str>, Arc<str>) = (loop_name.into(), id.into());
        self.objects.get(&key).is_some_and(|entry| entry.attached)
    }
}
