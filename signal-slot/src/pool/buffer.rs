//! The buffers of a pool: one to fill (`BufferMut`), then frozen and sent
//! by handle (`SharedBuffer`), named on the wire by a MessagePack extension
//! value (pool, slot, generation, length).

use super::*;

/// A buffer taken from a [`BufferPool`], to fill in place.
///
/// It dereferences to the whole buffer (`pool.buffer_bytes()` bytes);
/// [`freeze`](Self::freeze) says how much of it was written and makes it a
/// [`SharedBuffer`] to send. Dropped, it goes back to the pool.
pub struct BufferMut {
    pub(super) pool: u64,
    pub(super) slot: SlotMut,
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
    pub(super) pool: u64,
    pub(super) slot: SlotRef,
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
pub(super) struct Named {
    pub(super) pool: u64,
    pub(super) slot: u32,
    pub(super) generation: u32,
    pub(super) len: u64,
}

impl Named {
    pub(super) fn to_bytes(self) -> [u8; EXT_LEN] {
        let mut bytes = [0; EXT_LEN];
        bytes[..8].copy_from_slice(&self.pool.to_le_bytes());
        bytes[8..12].copy_from_slice(&self.slot.to_le_bytes());
        bytes[12..16].copy_from_slice(&self.generation.to_le_bytes());
        bytes[16..].copy_from_slice(&self.len.to_le_bytes());
        bytes
    }

    pub(super) fn from_bytes(bytes: &[u8]) -> Option<Named> {
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
    pub(super) fn upgrade(self) -> Result<SlotRef, String> {
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
        super::lease::lease(&self.slot).map_err(S::Error::custom)?;
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
