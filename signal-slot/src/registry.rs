//! The process-wide table of loops and objects.
//!
//! Names must be unique per process, and messages from other processes name
//! loops and objects; this table resolves them. It holds every object
//! attached to a loop of this process (its id is reserved on its loop for
//! as long as it is attached) and the handles made by name to objects of
//! other processes. It is held only briefly, to register and look up: never
//! on the emit path, and on the dispatch path only for connection changes
//! and detachments.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError, Weak};

use crate::error::Error;
use crate::object::{ObjectHandle, ObjectShared};
use crate::topology::info::SubscriptionInfo;
use crate::transport::LoopPeer;
use crate::transport::routes::ProcessTable;

#[derive(Default)]
pub(crate) struct Registry {
    pub(crate) loops: HashMap<Arc<str>, Arc<LoopPeer>>,
    /// Objects by loop name and id.
    objects: HashMap<(Arc<str>, Arc<str>), ObjectEntry>,
    pub(crate) processes: ProcessTable,
    /// The subscriptions of each loop of this process, as its loop last
    /// reported them (for the topology; the loop keeps its own).
    subscriptions: HashMap<Arc<str>, Vec<SubscriptionInfo>>,
}

struct ObjectEntry {
    handle: Weak<ObjectShared>,
    /// Attached to a loop of this process: its id is taken.
    attached: bool,
}

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(Mutex::default);

pub(crate) fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

fn key(handle: &ObjectHandle) -> Option<(Arc<str>, Arc<str>)> {
    let peer = handle.peer()?;
    Some((peer.name_arc().clone(), handle.shared.id.clone()))
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

    /// Every object attached to a loop of this process, with its loop's
    /// name.
    pub(crate) fn attached_objects(&self) -> Vec<(Arc<str>, Arc<ObjectShared>)> {
        self.objects
            .iter()
            .filter(|(_, entry)| entry.attached)
            .filter_map(|((loop_name, _), entry)| {
                Some((loop_name.clone(), entry.handle.upgrade()?))
            })
            .collect()
    }

    /// Registers an object attached to a loop of this process, reserving
    /// its id on that loop.
    pub(crate) fn attach(&mut self, handle: &ObjectHandle) -> Result<(), Error> {
        match key(handle) {
            Some((loop_name, _)) => self.attach_at(&loop_name, handle),
            None => Ok(()),
        }
    }

    /// Registers an object on the loop `loop_name` of this process (where
    /// it moves), reserving its id there.
    pub(crate) fn attach_at(
        &mut self,
        loop_name: &Arc<str>,
        handle: &ObjectHandle,
    ) -> Result<(), Error> {
        let key = (loop_name.clone(), handle.shared.id.clone());
        let entry = ObjectEntry {
            handle: Arc::downgrade(&handle.shared),
            attached: true,
        };
        match self.objects.entry(key) {
            Entry::Occupied(occupied) if occupied.get().attached => {
                let (loop_name, id) = occupied.key();
                Err(Error::DuplicateObjectId {
                    loop_name: loop_name.to_string(),
                    id: id.to_string(),
                })
            }
            Entry::Occupied(mut occupied) => {
                occupied.insert(entry);
                Ok(())
            }
            Entry::Vacant(vacant) => {
                vacant.insert(entry);
                Ok(())
            }
        }
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

    /// Remembers a handle made by name to an object of another process, so
    /// that later lookups share its connections.
    pub(crate) fn remember(&mut self, handle: &ObjectHandle) {
        let Some(key) = key(handle) else { return };
        let handle = Arc::downgrade(&handle.shared);
        let entry = self.objects.entry(key).or_insert_with(|| ObjectEntry {
            handle: handle.clone(),
            attached: false,
        });
        if entry.handle.strong_count() == 0 {
            entry.handle = handle;
        }
    }

    /// Every object of this process that some handle still reaches.
    pub(crate) fn live_objects(&self) -> Vec<Arc<ObjectShared>> {
        self.objects
            .values()
            .filter_map(|entry| entry.handle.upgrade())
            .collect()
    }

    pub(crate) fn find_object(&self, loop_name: &str, id: &str) -> Option<ObjectHandle> {
        let key: (Arc<str>, Arc<str>) = (loop_name.into(), id.into());
        self.objects
            .get(&key)
            .and_then(|entry| entry.handle.upgrade())
            .map(|shared| ObjectHandle { shared })
    }
}
