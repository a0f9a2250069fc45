//! The objects of the registry, typed: it holds them by name without
//! naming their type (it sits below the object model); here they are
//! objects again.

use std::collections::hash_map::Entry;
use std::sync::{Arc, Weak};

use crate::error::Error;
use crate::transport::registry::{ObjectEntry, Registry};

use super::{ObjectHandle, ObjectShared};

/// The registry's key of an object on its loop.
fn key(handle: &ObjectHandle) -> Option<(Arc<str>, Arc<str>)> {
    let peer = handle.peer()?;
    Some((peer.name_arc().clone(), handle.shared.id.clone()))
}

/// The object an entry holds, while some handle reaches it.
fn upgrade(entry: &ObjectEntry) -> Option<Arc<ObjectShared>> {
    entry.handle.upgrade()?.downcast::<ObjectShared>().ok()
}

/// How an entry holds an object.
fn weak(handle: &ObjectHandle) -> Weak<dyn std::any::Any + Send + Sync> {
    let weak: Weak<ObjectShared> = Arc::downgrade(&handle.shared);
    weak
}

impl Registry {
    /// Every object attached to a loop of this process, with its loop's
    /// name.
    pub(crate) fn attached_objects(&self) -> Vec<(Arc<str>, Arc<ObjectShared>)> {
        self.objects
            .iter()
            .filter(|(_, entry)| entry.attached)
            .filter_map(|((loop_name, _), entry)| Some((loop_name.clone(), upgrade(entry)?)))
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
            handle: weak(handle),
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

    /// Remembers a handle made by name to an object of another process, so
    /// that later lookups share its connections.
    pub(crate) fn remember(&mut self, handle: &ObjectHandle) {
        let Some(key) = key(handle) else { return };
        let handle = weak(handle);
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
        self.objects.values().filter_map(upgrade).collect()
    }

    /// The object `id` of the loop `loop_name`, while some handle reaches
    /// it.
    pub(crate) fn find_object(&self, loop_name: &str, id: &str) -> Option<ObjectHandle> {
        let key: (Arc<str>, Arc<str>) = (loop_name.into(), id.into());
        self.objects
            .get(&key)
            .and_then(upgrade)
            .map(|shared| ObjectHandle { shared })
    }
}
