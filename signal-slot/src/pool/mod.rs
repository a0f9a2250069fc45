//! Buffers in shared memory, filled in place and sent by handle: the
//! zero-copy path for large payloads between processes.
//!
//! A [`BufferPool`] is a set of fixed-size buffers in memory that every
//! process of the tree maps. [`BufferPool::try_take`] gives a free buffer
//! as a [`BufferMut`], written in place (a rollout, an image, a tensor);
//! [`BufferMut::freeze`] makes it a [`SharedBuffer`], which a signal
//! carries to any loop: a slot in another process reads the same memory,
//! nothing is copied. The buffer goes back to the pool when the last
//! `SharedBuffer` of it, in any process, is dropped.
//!
//! Every reference is counted per process in the pool's memory: a buffer
//! held by a process that ends (or is killed) goes back to the pool as the
//! root process learns of the end, and a signal on its way holds the buffer
//! (a *lease*, written with the message and given back by the receiving
//! process once its slots have run, or dropped the signal).

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, OnceLock, PoisonError};

use serde::de::Error as _;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;
use crate::protocol::ProcessId;
use crate::sys::pool::{self, PoolMemory, SlotMut, SlotRef};

mod buffer;
mod lease;

pub use buffer::{BufferMut, SharedBuffer};
pub(crate) use lease::{Held, Leases, end_leases, end_leases_in, lease_encoded};

/// The MessagePack extension type of a [`SharedBuffer`] on the wire.
const EXT_TYPE: i8 = 0x53;
/// Pool id, slot, generation, length.
const EXT_LEN: usize = 24;

/// A pool of buffers in memory shared by the processes of a tree.
///
/// Create pools in any process; a process that receives a buffer of a pool
/// it has not seen maps the pool then. A pool lives as long as the
/// process tree (its memory is `slots × slot_bytes`, plus a header of 576
/// bytes per buffer): create the pools a system needs once, at start.
///
/// A `BufferPool` is a handle: cloning it, or sending it to another
/// process (as a signal argument or an init argument), gives the same
/// pool.
///
/// # Example
///
/// ```
/// use signal_slot::BufferPool;
///
/// let pool = BufferPool::new(4096, 8)?;
/// let mut buffer = pool.try_take().expect("a free buffer");
/// buffer[..5].copy_from_slice(b"hello");
/// let frame = buffer.freeze(5);
/// assert_eq!(&frame[..], b"hello");
/// assert_eq!(pool.available(), 7);
/// drop(frame);
/// assert_eq!(pool.available(), 8);
/// # Ok::<(), signal_slot::Error>(())
/// ```
#[derive(Clone)]
pub struct BufferPool {
    id: u64,
    memory: Arc<PoolMemory>,
    cursor: Arc<AtomicUsize>,
}

/// The pools this process has mapped, and the processes that ended (whose
/// references the root gives back).
#[derive(Default)]
pub(crate) struct PoolTable {
    pools: HashMap<u64, Arc<PoolMemory>>,
    ended: HashSet<u32>,
}

/// What a forked child was given of each pool: `(buffer, references)`.
pub(crate) type Handed = Vec<(Arc<PoolMemory>, Vec<(usize, u32)>)>;

impl PoolTable {
    /// Before a fork: the child `process` inherits every reference this
    /// process holds, so it holds them too. Returns what to take back if
    /// the fork fails.
    pub(crate) fn hand_to_child(&self, process: ProcessId) -> Handed {
        let holder = pool::holder_of(process);
        self.pools
            .values()
            .map(|memory| (memory.clone(), memory.hand_to_child(holder)))
            .filter(|(_, handed)| !handed.is_empty())
            .collect()
    }

    /// In the root: the process `process` ended; every reference it held
    /// (and every lease written for it) goes back.
    pub(crate) fn process_ended(&mut self, process: ProcessId) {
        self.ended.insert(pool::holder_of(process));
        for memory in self.pools.values() {
            memory.clear_holders(|holder| self.ended.contains(&holder));
        }
    }
}

/// The pools this process has mapped. A lock of its own, taken after the
/// registry's where both are held (a fork holds both).
static TABLE: LazyLock<Mutex<PoolTable>> = LazyLock::new(Mutex::default);

fn table() -> MutexGuard<'static, PoolTable> {
    TABLE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The pool table, held across a fork (after the registry) so that the
/// child inherits it unlocked and whole.
pub(crate) fn lock_for_fork() -> MutexGuard<'static, PoolTable> {
    table()
}

/// In the root: the process `process` ended; every reference it held goes
/// back.
pub(crate) fn process_ended(process: ProcessId) {
    table().process_ended(process);
}

/// How this process reaches the root of its tree about pools: the process
/// tree sets it as the tree is made or joined (a seam: the tree is a
/// service above the pool). Each returns `None` in the root, which asks no one.
#[derive(Clone, Copy)]
pub(crate) struct ToRoot {
    /// Makes a pool created here known to the root.
    pub(crate) tell: fn(u64, ipc_channel::ipc::IpcSharedMemory) -> Option<Result<(), String>>,
    /// Asks the root for a pool created elsewhere.
    #[allow(clippy::type_complexity)]
    pub(crate) find: fn(u64) -> Option<Result<Option<ipc_channel::ipc::IpcSharedMemory>, String>>,
}

static TO_ROOT: OnceLock<ToRoot> = OnceLock::new();

/// Sets how this process reaches its root about pools (once; later calls
/// change nothing). Until it is set, this process has no tree, and is its
/// own root.
pub(crate) fn set_to_root(to_root: ToRoot) {
    let _ = TO_ROOT.set(to_root);
}

/// Takes back what [`PoolTable::hand_to_child`] gave a child that did not
/// start.
pub(crate) fn forget_handed(process: ProcessId, handed: Handed) {
    let holder = pool::holder_of(process);
    for (memory, slots) in handed {
        memory.forget_handed(holder, &slots);
    }
}

/// Set once this process has a pool mapped: until then it holds no shared
/// buffer, and its messages need no lease.
static IN_USE: AtomicBool = AtomicBool::new(false);

/// True once this process has a pool mapped.
pub(crate) fn in_use() -> bool {
    IN_USE.load(Ordering::Relaxed)
}

/// Registers a pool mapped in this process.
fn register(table: &mut PoolTable, id: u64, memory: PoolMemory) -> Arc<PoolMemory> {
    // Before the pool can be reached: a buffer of it is leased from then on.
    IN_USE.store(true, Ordering::Relaxed);
    table
        .pools
        .entry(id)
        .or_insert_with(|| Arc::new(memory))
        .clone()
}

/// A new pool's id: unique in the tree (the creating process's number and
/// a count).
fn new_id() -> u64 {
    static COUNT: AtomicU32 = AtomicU32::new(0);
    let process = crate::protocol::own_process();
    (process << 32) | u64::from(COUNT.fetch_add(1, Ordering::Relaxed))
}

impl BufferPool {
    /// A pool of `slots` buffers of `slot_bytes` bytes each.
    ///
    /// ```
    /// use signal_slot::BufferPool;
    ///
    /// // Eight frames of 64 KiB, shared by every process of the tree.
    /// let pool = BufferPool::new(64 << 10, 8)?;
    /// assert_eq!((pool.len(), pool.buffer_bytes()), (8, 64 << 10));
    /// // No buffer, or an empty one: an error, not a panic.
    /// assert!(BufferPool::new(0, 8).is_err());
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the sizes are out of range (no buffer, an empty
    /// buffer, more than a million buffers) or the shared memory cannot be
    /// created.
    pub fn new(slot_bytes: usize, slots: usize) -> Result<BufferPool, Error> {
        let memory = PoolMemory::create(slots, slot_bytes)
            .map_err(|error| Error::io("cannot create a buffer pool", error))?;
        let id = new_id();
        let memory = register(&mut table(), id, memory);
        if let Some(Err(message)) = TO_ROOT
            .get()
            .and_then(|to_root| (to_root.tell)(id, memory.share()))
        {
            return Err(Error::io(
                "a buffer pool cannot be made known to the other processes",
                std::io::Error::other(message),
            ));
        }
        Ok(BufferPool {
            id,
            memory,
            cursor: Arc::default(),
        })
    }

    /// A free buffer, or `None` if every buffer is held somewhere. Never
    /// blocks. Its bytes are what its last user left in it.
    pub fn try_take(&self) -> Option<BufferMut> {
        let start = self.cursor.fetch_add(1, Ordering::Relaxed) % self.memory.slots();
        let slot = SlotMut::take(&self.memory, start)?;
        Some(BufferMut {
            pool: self.id,
            slot,
        })
    }

    /// The number of buffers no process holds now.
    pub fn available(&self) -> usize {
        self.memory.free()
    }

    /// The number of buffers.
    pub fn len(&self) -> usize {
        self.memory.slots()
    }

    /// Never true: a pool has at least one buffer.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The size of each buffer, in bytes.
    pub fn buffer_bytes(&self) -> usize {
        self.memory.slot_bytes()
    }
}

impl fmt::Debug for BufferPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferPool")
            .field("id", &self.id)
            .field("buffers", &self.len())
            .field("buffer_bytes", &self.buffer_bytes())
            .field("available", &self.available())
            .finish()
    }
}

impl Serialize for BufferPool {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.id)
    }
}

impl<'de> Deserialize<'de> for BufferPool {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let id = u64::deserialize(deserializer)?;
        let memory = find(id).map_err(D::Error::custom)?;
        Ok(BufferPool {
            id,
            memory,
            cursor: Arc::default(),
        })
    }
}

thread_local! {
    /// Set while this thread decodes what came from the network.
    static UNTRUSTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `decode` on what came from another program over the network: a
/// shared buffer or pool named there is refused, not looked up (the
/// program is not of this process tree, and the bytes are untrusted).
pub(crate) fn untrusted<T>(decode: impl FnOnce() -> T) -> T {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            UNTRUSTED.with(|flag| flag.set(self.0));
        }
    }
    let _reset = Reset(UNTRUSTED.with(|flag| flag.replace(true)));
    decode()
}

/// An error if this thread decodes what came from the network.
fn trusted() -> Result<(), &'static str> {
    if UNTRUSTED.with(std::cell::Cell::get) {
        Err("shared buffers do not travel across the network")
    } else {
        Ok(())
    }
}

/// The pool `id`, mapped here: known already, or asked of the root.
fn find(id: u64) -> Result<Arc<PoolMemory>, String> {
    trusted()?;
    if let Some(memory) = table().pools.get(&id) {
        return Ok(memory.clone());
    }
    let unknown = || format!("buffer pool {id:#x} is unknown in this process tree");
    let asked = TO_ROOT.get().and_then(|to_root| (to_root.find)(id));
    let shared = asked.ok_or_else(unknown)??.ok_or_else(unknown)?;
    let memory = PoolMemory::open(shared)
        .map_err(|error| format!("buffer pool {id:#x} cannot be mapped: {error}"))?;
    Ok(register(&mut table(), id, memory))
}

/// In the root: a pool created in a child.
pub(crate) fn pool_created(id: u64, shared: ipc_channel::ipc::IpcSharedMemory) {
    match PoolMemory::open(shared) {
        Ok(memory) => {
            register(&mut table(), id, memory);
        }
        Err(error) => tracing::error!(%error, "a buffer pool of a child cannot be mapped"),
    }
}

/// In the root: the pool `id`, to send to the child that asks.
pub(crate) fn pool_memory(id: u64) -> Option<ipc_channel::ipc::IpcSharedMemory> {
    table().pools.get(&id).map(|memory| memory.share())
}

#[cfg(test)]
mod tests {
    use super::buffer::Named;
    use super::lease::for_each_named;
    use super::*;

    fn named(slot: u32) -> Named {
        Named {
            pool: 0x1234_0000_0005,
            slot,
            generation: 9,
            len: 100,
        }
    }

    fn ext(named: Named) -> Vec<u8> {
        let mut out = vec![0xc7, EXT_LEN as u8, EXT_TYPE as u8];
        out.extend_from_slice(&named.to_bytes());
        out
    }

    #[test]
    fn handles_are_found_anywhere_in_a_value() {
        // [1, "ab", {"k": <handle 1>}, [bin(3), <handle 2>], -1.5]
        let mut value = vec![0x95, 0x01, 0xa2, b'a', b'b', 0x81, 0xa1, b'k'];
        value.extend(ext(named(1)));
        value.extend([0x92, 0xc4, 3, 0, 0, 0]);
        value.extend(ext(named(2)));
        value.extend([0xcb, 0, 0, 0, 0, 0, 0, 0xf8, 0xbf]);
        let mut seen = Vec::new();
        for_each_named(&value, |named| seen.push(named.slot));
        assert_eq!(seen, vec![1, 2]);
    }

    #[test]
    fn other_extensions_and_truncated_values_are_passed_over() {
        let mut value = vec![0x92, 0xd4, 1, 7];
        value.extend(ext(named(3)));
        let mut seen = Vec::new();
        for_each_named(&value, |named| seen.push(named.slot));
        assert_eq!(seen, vec![3]);
        for cut in 0..value.len() {
            for_each_named(&value[..cut], |named| assert_eq!(named.slot, 3));
        }
        // A forged length does not read past the end.
        for_each_named(&[0xdd, 0xff, 0xff, 0xff, 0xff], |_| panic!("nothing here"));
        for_each_named(&[0xc6, 0xff, 0xff, 0xff, 0xff, 1], |_| {
            panic!("nothing here")
        });
    }

    #[test]
    fn a_named_buffer_round_trips() {
        let named = named(77);
        assert_eq!(Named::from_bytes(&named.to_bytes()), Some(named));
        assert_eq!(Named::from_bytes(&[0; 23]), None);
    }
}
