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
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use serde::de::Error as _;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;
use crate::protocol::ProcessId;
use crate::registry::registry;
use crate::sys::pool::{self, PoolMemory, SlotMut, SlotRef};

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
    /// # Errors
    ///
    /// [`Error::Io`] if the sizes are out of range (no buffer, an empty
    /// buffer, more than a million buffers) or the shared memory cannot be
    /// created.
    pub fn new(slot_bytes: usize, slots: usize) -> Result<BufferPool, Error> {
        let memory = PoolMemory::create(slots, slot_bytes)
            .map_err(|error| Error::io("cannot create a buffer pool", error))?;
        let id = new_id();
        let (memory, root) = {
            let mut registry = registry();
            let memory = register(&mut registry.pools, id, memory);
            (memory, registry.processes.root_agent())
        };
        if let Some(root) = root {
            crate::transport::agent::tell_pool(&root, id, memory.share()).map_err(|message| {
                Error::io(
                    "a buffer pool cannot be made known to the other processes",
                    std::io::Error::other(message),
                )
            })?;
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
    let root = {
        let registry = registry();
        if let Some(memory) = registry.pools.pools.get(&id) {
            return Ok(memory.clone());
        }
        registry.processes.root_agent()
    };
    let unknown = || format!("buffer pool {id:#x} is unknown in this process tree");
    let root = root.ok_or_else(unknown)?;
    let shared = crate::transport::agent::find_pool(&root, id)?.ok_or_else(unknown)?;
    let memory = PoolMemory::open(shared)
        .map_err(|error| format!("buffer pool {id:#x} cannot be mapped: {error}"))?;
    Ok(register(&mut registry().pools, id, memory))
}

/// In the root: a pool created in a child.
pub(crate) fn pool_created(id: u64, shared: ipc_channel::ipc::IpcSharedMemory) {
    match PoolMemory::open(shared) {
        Ok(memory) => {
            register(&mut registry().pools, id, memory);
        }
        Err(error) => tracing::error!(%error, "a buffer pool of a child cannot be mapped"),
    }
}

/// In the root: the pool `id`, to send to the child that asks.
pub(crate) fn pool_memory(id: u64) -> Option<ipc_channel::ipc::IpcSharedMemory> {
    registry().pools.pools.get(&id).map(|memory| memory.share())
}

/// A buffer taken from a [`BufferPool`], to fill in place.
///
/// It dereferences to the whole buffer (`pool.buffer_bytes()` bytes);
/// [`freeze`](Self::freeze) says how much of it was written and makes it a
/// [`SharedBuffer`] to send. Dropped, it goes back to the pool.
pub struct BufferMut {
    pool: u64,
    slot: SlotMut,
}

impl BufferMut {
    /// The buffer, readable and sendable, holding its first `len` bytes
    /// (at most the buffer's size).
    pub fn freeze(self, len: usize) -> SharedBuffer {
        SharedBuffer {
            pool: self.pool,
            slot: self.slot.freeze(len),
        }
    }

    /// The buffer's size in bytes.
    pub fn capacity(&self) -> usize {
        self.slot.bytes().len()
    }

    /// The buffer as a slice of `T` (numbers, or any [`bytemuck::Pod`]
    /// type), to fill in place: as many whole `T`s as fit. Buffers are
    /// aligned to 64 bytes.
    pub fn as_mut_slice_of<T: bytemuck::Pod>(&mut self) -> &mut [T] {
        let bytes = self.slot.bytes_mut();
        let whole = bytes.len() / std::mem::size_of::<T>().max(1) * std::mem::size_of::<T>();
        bytemuck::cast_slice_mut(&mut bytes[..whole])
    }
}

impl Deref for BufferMut {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.slot.bytes()
    }
}

impl DerefMut for BufferMut {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.slot.bytes_mut()
    }
}

impl fmt::Debug for BufferMut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferMut")
            .field("pool", &self.pool)
            .field("buffer", &self.slot.slot())
            .field("capacity", &self.capacity())
            .finish()
    }
}

/// A written buffer of a [`BufferPool`], read in place by whoever receives
/// it, in any process of the tree; sent as a handle (24 bytes), never
/// copied. It goes back to the pool when its last copy, in any process, is
/// dropped.
///
/// It travels only as a signal's argument (or inside one), between the
/// processes of the tree that holds its pool; serialized anywhere else,
/// it is an error.
///
/// # Example
///
/// ```
/// use signal_slot::{BufferPool, SharedBuffer};
///
/// let pool = BufferPool::new(64, 2)?;
/// let mut buffer = pool.try_take().unwrap();
/// buffer.as_mut_slice_of::<f32>()[..2].copy_from_slice(&[0.5, 1.5]);
/// let frame: SharedBuffer = buffer.freeze(8);
/// assert_eq!(frame.as_slice_of::<f32>(), Some(&[0.5f32, 1.5][..]));
/// # Ok::<(), signal_slot::Error>(())
/// ```
#[derive(Clone)]
pub struct SharedBuffer {
    pool: u64,
    slot: SlotRef,
}

impl SharedBuffer {
    /// The written bytes as a slice of `T`, if their length is a whole
    /// number of `T`s.
    pub fn as_slice_of<T: bytemuck::Pod>(&self) -> Option<&[T]> {
        bytemuck::try_cast_slice(self.slot.bytes()).ok()
    }
}

impl Deref for SharedBuffer {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.slot.bytes()
    }
}

impl AsRef<[u8]> for SharedBuffer {
    fn as_ref(&self) -> &[u8] {
        self.slot.bytes()
    }
}

impl fmt::Debug for SharedBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedBuffer")
            .field("pool", &self.pool)
            .field("buffer", &self.slot.slot())
            .field("len", &self.slot.len())
            .finish()
    }
}

impl PartialEq for SharedBuffer {
    fn eq(&self, other: &Self) -> bool {
        self[..] == other[..]
    }
}

/// A buffer as the wire names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Named {
    pool: u64,
    slot: u32,
    generation: u32,
    len: u64,
}

impl Named {
    fn to_bytes(self) -> [u8; EXT_LEN] {
        let mut bytes = [0; EXT_LEN];
        bytes[..8].copy_from_slice(&self.pool.to_le_bytes());
        bytes[8..12].copy_from_slice(&self.slot.to_le_bytes());
        bytes[12..16].copy_from_slice(&self.generation.to_le_bytes());
        bytes[16..].copy_from_slice(&self.len.to_le_bytes());
        bytes
    }

    fn from_bytes(bytes: &[u8]) -> Option<Named> {
        let bytes: &[u8; EXT_LEN] = bytes.try_into().ok()?;
        let word = |range: std::ops::Range<usize>| -> [u8; 8] {
            let mut out = [0; 8];
            out[..range.len()].copy_from_slice(&bytes[range]);
            out
        };
        Some(Named {
            pool: u64::from_le_bytes(word(0..8)),
            slot: u64::from_le_bytes(word(8..12)) as u32,
            generation: u64::from_le_bytes(word(12..16)) as u32,
            len: u64::from_le_bytes(word(16..24)),
        })
    }
}

impl Named {
    /// A reference of this process to the buffer, if it is still the one
    /// named (its pool mapped here first if need be).
    fn upgrade(self) -> Result<SlotRef, String> {
        let memory = find(self.pool)?;
        let len = usize::try_from(self.len).unwrap_or(usize::MAX);
        SlotRef::upgrade(&memory, self.slot as usize, self.generation, len).ok_or_else(|| {
            format!(
                "buffer {} of pool {:#x} is gone (its message outlived its lease)",
                self.slot, self.pool
            )
        })
    }
}

impl Serialize for SharedBuffer {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let named = Named {
            pool: self.pool,
            slot: self.slot.slot() as u32,
            generation: self.slot.generation(),
            len: self.slot.len() as u64,
        };
        lease(&self.slot).map_err(S::Error::custom)?;
        let bytes = named.to_bytes();
        serializer.serialize_newtype_struct(
            rmp_serde::MSGPACK_EXT_STRUCT_NAME,
            &(EXT_TYPE, serde_bytes::Bytes::new(&bytes)),
        )
    }
}

impl<'de> Deserialize<'de> for SharedBuffer {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename = "_ExtStruct")]
        struct Ext((i8, serde_bytes::ByteBuf));
        let Ext((kind, bytes)) = Ext::deserialize(deserializer)?;
        trusted().map_err(D::Error::custom)?;
        let named = (kind == EXT_TYPE)
            .then(|| Named::from_bytes(&bytes))
            .flatten()
            .ok_or_else(|| D::Error::custom("not a shared buffer"))?;
        let slot = named.upgrade().map_err(D::Error::custom)?;
        Ok(SharedBuffer {
            pool: named.pool,
            slot,
        })
    }
}

// ---- Leases: the references a message holds on its way ----

thread_local! {
    /// The process the message being encoded on this thread goes to (its
    /// holder number; 0: no message, so no lease can be written).
    static RECEIVER: Cell<u32> = const { Cell::new(0) };
    /// The leases written for messages being encoded on this thread, to
    /// give back if a message does not go.
    static WRITTEN: RefCell<Vec<(Arc<PoolMemory>, usize, u32)>> = const { RefCell::new(Vec::new()) };
}

/// Writes a lease of `slot` for the process the current message goes to.
fn lease(slot: &SlotRef) -> Result<(), String> {
    let receiver = RECEIVER.with(Cell::get);
    if receiver == 0 {
        return Err(
            "a shared buffer travels only in a signal's arguments (or an object's state), \
             between processes of its tree"
                .to_owned(),
        );
    }
    slot.pool()
        .lease(slot.slot(), receiver)
        .map_err(|_| "64 processes hold this shared buffer already".to_owned())?;
    WRITTEN.with(|written| {
        written
            .borrow_mut()
            .push((slot.pool().clone(), slot.slot(), receiver));
    });
    Ok(())
}

/// The leases of one message to the process `to`: taken by the shared
/// buffers encoded within [`enter`](Self::enter), given back unless the
/// message is [`sent`](Self::sent).
///
/// Costs two thread-local accesses per message when nothing is leased:
/// it is on the path of every signal to another process.
pub(crate) struct Leases {
    receiver: u32,
    /// Where this message's leases start in `WRITTEN`.
    start: usize,
}

impl Leases {
    pub(crate) fn to(process: ProcessId) -> Leases {
        Leases {
            receiver: pool::holder_of(process),
            start: WRITTEN.with(|written| written.borrow().len()),
        }
    }

    /// Runs `encode` with shared buffers leased to the receiving process.
    pub(crate) fn enter<R>(&mut self, encode: impl FnOnce() -> R) -> R {
        /// Puts back the outer receiver, however `encode` ends.
        struct Restore(u32);
        impl Drop for Restore {
            fn drop(&mut self) {
                RECEIVER.with(|receiver| receiver.set(self.0));
            }
        }
        let _restore = Restore(RECEIVER.with(|receiver| receiver.replace(self.receiver)));
        encode()
    }

    /// True if a lease was written.
    pub(crate) fn any(&self) -> bool {
        WRITTEN.with(|written| written.borrow().len() > self.start)
    }

    /// Gives back the leases written so far (the message did not go).
    pub(crate) fn revoke(&mut self) {
        WRITTEN.with(|written| {
            let mut written = written.borrow_mut();
            if written.len() > self.start {
                for (memory, slot, receiver) in written.drain(self.start..) {
                    memory.revoke_lease(slot, receiver);
                }
            }
        });
    }

    /// The message went: its receiver gives the leases back.
    pub(crate) fn sent(self) {
        WRITTEN.with(|written| written.borrow_mut().truncate(self.start));
        std::mem::forget(self);
    }
}

impl Drop for Leases {
    fn drop(&mut self) {
        self.revoke();
    }
}

/// Writes leases (in the current scope) for the shared buffers named in
/// `payload`: bytes from another process passed on as they are.
pub(crate) fn lease_encoded(payload: &[u8]) -> Result<(), String> {
    let mut result = Ok(());
    for_each_named(payload, |named| {
        if result.is_ok() {
            result = named.upgrade().and_then(|held| lease(&held));
        }
    });
    result
}

/// References of this process to the shared buffers named in bytes held
/// for later (what another process asked this one to emit).
#[derive(Default)]
pub(crate) struct Held {
    _refs: Vec<SlotRef>,
}

impl Held {
    /// Holds the buffers `payloads` name, while the record that leases them
    /// to this process is still unread.
    pub(crate) fn of<'a>(payloads: impl IntoIterator<Item = &'a [u8]>) -> Held {
        let mut held = Vec::new();
        for payload in payloads {
            for_each_named(payload, |named| {
                if let Ok(slot) = named.upgrade() {
                    held.push(slot);
                }
            });
        }
        Held { _refs: held }
    }
}

/// Gives back the leases of a record (or packet) of frames this process
/// received: its slots have run, or it was dropped.
pub(crate) fn end_leases(frames: &[u8]) {
    for frame in crate::wire::Reader::new(frames) {
        let payloads = match frame {
            Ok(crate::wire::Frame::Signal { payloads, .. })
            | Ok(crate::wire::Frame::EmitRequest { payloads, .. }) => payloads,
            Ok(crate::wire::Frame::Command(_)) => continue,
            Err(_) => break,
        };
        for payload in payloads {
            end_leases_in(payload);
        }
    }
}

/// Gives back the leases of the shared buffers named in a MessagePack
/// value this process received (an object's state, once revived).
pub(crate) fn end_leases_in(value: &[u8]) {
    for_each_named(value, |named| match find(named.pool) {
        Ok(memory) if (named.slot as usize) < memory.slots() => {
            memory.end_lease(named.slot as usize);
        }
        Ok(_) => {}
        Err(error) => tracing::debug!(%error, "a lease cannot be given back"),
    });
}

/// Calls `found` for every shared buffer named in the MessagePack value(s)
/// of `bytes`. Stops quietly at anything malformed.
fn for_each_named(bytes: &[u8], mut found: impl FnMut(Named)) {
    crate::codec::walk::for_each_ext(bytes, EXT_TYPE, EXT_LEN, |body| {
        if let Some(named) = Named::from_bytes(body) {
            found(named);
        }
    });
}

#[cfg(test)]
mod tests {
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
