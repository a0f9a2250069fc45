//! The process-wide table of loops and objects.
//!
//! Names must be unique per process, and messages from other processes name
//! loops and objects; this table resolves them. It is held only briefly, to
//! register and look up: never on the emit path, and on the dispatch path
//! only for connection changes and detachments.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError, Weak};

use crate::error::Error;
use crate::object::{ObjectHandle, ObjectShared};
use crate::transport::LoopPeer;

#[derive(Default)]
pub(crate) struct Registry {
    pub(crate) loops: HashMap<Arc<str>, Arc<LoopPeer>>,
    pub(crate) objects: HashMap<(Arc<str>, Arc<str>), Weak<ObjectShared>>,
    pub(crate) processes: crate::process::ProcessTable,
}

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(Mutex::default);

pub(crate) fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Registry {
    pub(crate) fn add_loop(&mut self, peer: Arc<LoopPeer>) -> Result<(), Error> {
        let name = peer.name_arc().clone();
        if let Some(existing) = self.loops.get(&name)
            && !existing.is_gone()
        {
            return Err(Error::DuplicateLoopName(name.to_string()));
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
        self.objects
            .retain(|(loop_name, _), _| **loop_name != *peer.name());
    }

    pub(crate) fn add_object(&mut self, handle: &ObjectHandle) {
        if let Some(peer) = handle.peer() {
            let key = (peer.name_arc().clone(), handle.shared.id.clone());
            self.objects.insert(key, Arc::downgrade(&handle.shared));
        }
    }

    pub(crate) fn remove_object(&mut self, loop_name: &Arc<str>, id: &Arc<str>) {
        self.objects.remove(&(loop_name.clone(), id.clone()));
    }

    pub(crate) fn find_object(&self, loop_name: &str, id: &str) -> Option<ObjectHandle> {
        let key: (Arc<str>, Arc<str>) = (loop_name.into(), id.into());
        self.objects
            .get(&key)
            .and_then(Weak::upgrade)
            .map(|shared| ObjectHandle { shared })
    }
}
