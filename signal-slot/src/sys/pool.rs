//! A pool of fixed-size buffers in memory shared by the processes of a
//! tree, and the counted references that keep a buffer from going back to
//! the pool while some process can still read it.
//!
//! | offset | what |
//! |---|---|
//! | 0 | magic, buffer size, number of buffers |
//! | 64 | one header per buffer: state, then [`COLUMNS`] holder columns |
//! | data | the buffers, each 64-byte aligned |
//!
//! A buffer's *state* packs a generation (high 32 bits, bumped each time
//! the buffer is taken from the pool) and the number of references (low 32
//! bits, 0 when the buffer is free). Each *column* packs a holder (a
//! process of the tree, numbered from 1) and how many of the references are
//! that process's. The state is always at least the sum of the columns:
//! every increment goes to the state first and then to a column, every
//! decrement to a column first and then to the state. That is what makes a
//! dead process's references recoverable: [`PoolMemory::clear_holder`]
//! empties its columns and takes their sum off the states.
//!
//! A reference is taken only while the buffer is known to be alive: from
//! another reference (`clone`, a lease written into a message), or, for a
//! reference decoded from a message, by [`PoolMemory::upgrade`], which
//! checks the generation in the same atomic step. A stale or forged
//! reference therefore never revives a buffer that went back to the pool.
//!
//! The bytes of a buffer are written only through [`SlotMut`], which exists
//! only while it is the buffer's one reference (taken from the pool, never
//! cloned or sent), and read through [`SlotRef`], made from a `SlotMut`
//! once it is written. Nobody writes a buffer while a `SlotRef` of it
//! lives.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use ipc_channel::ipc::IpcSharedMemory;

use super::shm::SharedRegion;

/// How many processes can hold references to one buffer at once.
pub(crate) const COLUMNS: usize = 64;

const MAGIC: u64 = u64::from_le_bytes(*b"sigpool1");
const HEADER: usize = 64;
const SLOT_HEADER: usize = 8 + 8 * COLUMNS + 56;
const ALIGN: usize = 64;

/// The largest number of buffers in a pool.
pub(crate) const MAX_SLOTS: usize = 1 << 20;

/// This process as a holder of references (its number in the tree, plus
/// one); set in a child as it starts.
static HOLDER: AtomicU32 = AtomicU32::new(1);

/// Sets the number this process holds references under.
pub(crate) fn set_holder(process: u64) {
    HOLDER.store(holder_of(process), Ordering::Relaxed);
}

/// The holder number of process `process`.
pub(crate) fn holder_of(process: u64) -> u32 {
    (process as u32).wrapping_add(1).max(1)
}

fn own_holder() -> u32 {
    HOLDER.load(Ordering::Relaxed)
}

fn pack(high: u32, low: u32) -> u64 {
    u64::from(high) << 32 | u64::from(low)
}

fn unpack(word: u64) -> (u32, u32) {
    ((word >> 32) as u32, word as u32)
}

/// Every holder column of a buffer is taken by other processes.
#[derive(Debug)]
pub(crate) struct TooManyHolders;

/// A pool's shared memory, mapped in this process, with this process's own
/// count of the references it holds (to hand them on to a forked child).
pub(crate) struct PoolMemory {
    region: SharedRegion,
    slots: usize,
    slot_bytes: usize,
    stride: usize,
    data: usize,
    local: Box<[AtomicU32]>,
}

impl std::fmt::Debug for PoolMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolMemory")
            .field("slots", &self.slots)
            .field("slot_bytes", &self.slot_bytes)
            .finish()
    }
}

fn layout(slots: usize, slot_bytes: usize) -> Option<(usize, usize, usize)> {
    let stride = slot_bytes.max(1).checked_next_multiple_of(ALIGN)?;
    let data = HEADER
        .checked_add(slots.checked_mul(SLOT_HEADER)?)?
        .checked_next_multiple_of(4096)?;
    let len = data.checked_add(slots.checked_mul(stride)?)?;
    Some((stride, data, len))
}

impl PoolMemory {
    /// A new pool of `slots` buffers of `slot_bytes` bytes each.
    pub(crate) fn create(slots: usize, slot_bytes: usize) -> io::Result<PoolMemory> {
        if slots == 0 || slots > MAX_SLOTS || slot_bytes == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a pool holds 1 to {MAX_SLOTS} buffers of at least one byte"),
            ));
        }
        let (stride, data, len) = layout(slots, slot_bytes)
            .filter(|&(_, _, len)| len <= isize::MAX as usize)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "a pool too large"))?;
        let region = SharedRegion::create(len)?;
        region
            .atomic_u64(8)
            .store(slot_bytes as u64, Ordering::Relaxed);
        region.atomic_u64(16).store(slots as u64, Ordering::Relaxed);
        region.atomic_u64(0).store(MAGIC, Ordering::Release);
        Ok(Self::with(region, slots, slot_bytes, stride, data))
    }

    /// Maps a pool another process shared.
    pub(crate) fn open(memory: IpcSharedMemory) -> io::Result<PoolMemory> {
        let region = SharedRegion::open(memory)?;
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
        if region.len() < HEADER || region.atomic_u64(0).load(Ordering::Acquire) != MAGIC {
            return Err(invalid("not a buffer pool"));
        }
        let slot_bytes = region.atomic_u64(8).load(Ordering::Relaxed) as usize;
        let slots = region.atomic_u64(16).load(Ordering::Relaxed) as usize;
        if slots == 0 || slots > MAX_SLOTS || slot_bytes == 0 {
            return Err(invalid("a buffer pool of a bad size"));
        }
        let (stride, data, len) =
            layout(slots, slot_bytes).ok_or_else(|| invalid("a buffer pool of a bad size"))?;
        if len > region.len() {
            return Err(invalid("a buffer pool larger than its memory"));
        }
        Ok(Self::with(region, slots, slot_bytes, stride, data))
    }

    fn with(
        region: SharedRegion,
        slots: usize,
        slot_bytes: usize,
        stride: usize,
        data: usize,
    ) -> PoolMemory {
        PoolMemory {
            region,
            slots,
            slot_bytes,
            stride,
            data,
            local: (0..slots).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    /// A copy of the pool's handle, to send to another process.
    pub(crate) fn share(&self) -> IpcSharedMemory {
        self.region.share()
    }

    pub(crate) fn slots(&self) -> usize {
        self.slots
    }

    pub(crate) fn slot_bytes(&self) -> usize {
        self.slot_bytes
    }

    fn state(&self, slot: usize) -> &AtomicU64 {
        self.region.atomic_u64(HEADER + slot * SLOT_HEADER)
    }

    fn column(&self, slot: usize, column: usize) -> &AtomicU64 {
        self.region
            .atomic_u64(HEADER + slot * SLOT_HEADER + 8 + 8 * column)
    }

    /// The buffers no process holds.
    pub(crate) fn free(&self) -> usize {
        (0..self.slots)
            .filter(|&slot| unpack(self.state(slot).load(Ordering::Relaxed)).1 == 0)
            .count()
    }

    /// Counts `n` more references of `holder` in a column of `slot`.
    fn add_to_column(&self, slot: usize, holder: u32, n: u32) -> Result<(), TooManyHolders> {
        let start = holder as usize % COLUMNS;
        for step in 0..COLUMNS {
            let column = self.column(slot, (start + step) % COLUMNS);
            let claimed = column.fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
                let (owner, count) = unpack(word);
                (owner == holder || count == 0).then(|| pack(holder, count.saturating_add(n)))
            });
            if claimed.is_ok() {
                return Ok(());
            }
        }
        Err(TooManyHolders)
    }

    /// Takes up to `n` references of `holder` off the columns of `slot`;
    /// returns how many it found.
    fn take_from_columns(&self, slot: usize, holder: u32, mut n: u32) -> u32 {
        let wanted = n;
        let start = holder as usize % COLUMNS;
        for step in 0..COLUMNS {
            if n == 0 {
                break;
            }
            let column = self.column(slot, (start + step) % COLUMNS);
            let mut took = 0;
            let _ = column.fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
                let (owner, count) = unpack(word);
                took = if owner == holder { count.min(n) } else { 0 };
                (took > 0).then(|| pack(owner, count - took))
            });
            n -= took;
        }
        wanted - n
    }

    /// Takes a free buffer, looking from `start`: its slot and generation,
    /// with one reference of this process.
    fn take(&self, start: usize) -> Option<(usize, u32)> {
        for step in 0..self.slots {
            let slot = (start + step) % self.slots;
            let state = self.state(slot);
            let word = state.load(Ordering::Relaxed);
            let (generation, count) = unpack(word);
            if count != 0 {
                continue;
            }
            let generation = generation.wrapping_add(1);
            if state
                .compare_exchange(
                    word,
                    pack(generation, 1),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_err()
            {
                continue;
            }
            if self.add_to_column(slot, own_holder(), 1).is_err() {
                // A free buffer has no holder; stale columns are free.
                state.fetch_sub(1, Ordering::AcqRel);
                continue;
            }
            self.local[slot].fetch_add(1, Ordering::Relaxed);
            return Some((slot, generation));
        }
        None
    }

    /// Adds `n` references of `holder` to `slot`, which the caller keeps
    /// alive (it holds a reference).
    fn add(&self, slot: usize, holder: u32, n: u32) -> Result<(), TooManyHolders> {
        self.state(slot).fetch_add(u64::from(n), Ordering::AcqRel);
        self.add_to_column(slot, holder, n).inspect_err(|_| {
            self.state(slot).fetch_sub(u64::from(n), Ordering::AcqRel);
        })
    }

    /// Adds a reference of this process to `slot` if it is still the
    /// buffer of generation `generation` and someone holds it.
    fn upgrade(&self, slot: usize, generation: u32) -> bool {
        let alive = self
            .state(slot)
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
                let (current, count) = unpack(word);
                (current == generation && count > 0 && count < u32::MAX).then(|| word + 1)
            })
            .is_ok();
        if alive && self.add_to_column(slot, own_holder(), 1).is_err() {
            self.state(slot).fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        alive
    }

    /// Gives back `n` references of `holder` to `slot`; the buffer goes
    /// back to the pool when none is left.
    fn release(&self, slot: usize, holder: u32, n: u32) {
        let found = self.take_from_columns(slot, holder, n);
        if found > 0 {
            self.state(slot)
                .fetch_sub(u64::from(found), Ordering::AcqRel);
        }
    }

    /// Gives back every reference of the ended process `holder`: returns
    /// how many there were.
    #[cfg(test)]
    pub(crate) fn clear_holder(&self, holder: u32) -> u64 {
        self.clear_holders(|owner| owner == holder)
    }

    /// Gives back every reference of the processes that `ended` says ended
    /// (a reference written for one after it was last cleared included):
    /// returns how many there were.
    pub(crate) fn clear_holders(&self, ended: impl Fn(u32) -> bool) -> u64 {
        let mut cleared = 0;
        for slot in 0..self.slots {
            for index in 0..COLUMNS {
                let column = self.column(slot, index);
                let mut took = 0;
                let _ = column.fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
                    let (owner, count) = unpack(word);
                    took = if count > 0 && ended(owner) { count } else { 0 };
                    (took > 0).then_some(0)
                });
                if took > 0 {
                    self.state(slot)
                        .fetch_sub(u64::from(took), Ordering::AcqRel);
                    cleared += u64::from(took);
                }
            }
        }
        cleared
    }

    /// Gives the references this process holds to the forked child
    /// `holder` too: the child inherits every handle. Call before the
    /// fork; returns what to pass to [`PoolMemory::forget_handed`] if it
    /// fails.
    pub(crate) fn hand_to_child(&self, holder: u32) -> Vec<(usize, u32)> {
        let mut handed = Vec::new();
        for (slot, local) in self.local.iter().enumerate() {
            let n = local.load(Ordering::Relaxed);
            if n > 0 && self.add(slot, holder, n).is_ok() {
                handed.push((slot, n));
            }
        }
        handed
    }

    /// Takes back what [`PoolMemory::hand_to_child`] gave a child that did
    /// not start.
    pub(crate) fn forget_handed(&self, holder: u32, handed: &[(usize, u32)]) {
        for &(slot, n) in handed {
            self.release(slot, holder, n);
        }
    }

    /// Writes a lease of `slot` for the process `holder`: a reference
    /// carried by a message, which the receiving process gives back with
    /// [`PoolMemory::end_lease`] once it has read the message.
    pub(crate) fn lease(&self, slot: usize, holder: u32) -> Result<(), TooManyHolders> {
        self.add(slot, holder, 1)
    }

    /// Takes back a lease written for `holder` (the message did not go).
    pub(crate) fn revoke_lease(&self, slot: usize, holder: u32) {
        self.release(slot, holder, 1);
    }

    /// Gives back a lease this process received.
    pub(crate) fn end_lease(&self, slot: usize) {
        self.release(slot, own_holder(), 1);
    }
}

/// A counted reference of this process to one buffer of a pool; the
/// buffer's bytes `[0, len)` are readable through it.
pub(crate) struct SlotRef {
    pool: Arc<PoolMemory>,
    slot: usize,
    generation: u32,
    len: usize,
}

impl SlotRef {
    /// A reference to the buffer a message named (`slot` of generation
    /// `generation`, `len` bytes written), if it is still that buffer.
    pub(crate) fn upgrade(
        pool: &Arc<PoolMemory>,
        slot: usize,
        generation: u32,
        len: usize,
    ) -> Option<SlotRef> {
        if slot >= pool.slots || len > pool.slot_bytes || !pool.upgrade(slot, generation) {
            return None;
        }
        pool.local[slot].fetch_add(1, Ordering::Relaxed);
        Some(SlotRef {
            pool: pool.clone(),
            slot,
            generation,
            len,
        })
    }

    pub(crate) fn pool(&self) -> &Arc<PoolMemory> {
        &self.pool
    }

    pub(crate) fn slot(&self) -> usize {
        self.slot
    }

    pub(crate) fn generation(&self) -> u32 {
        self.generation
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The written bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: the range is within the buffer (`len <= slot_bytes`,
        // checked when the reference was made) and so within the region.
        // The buffer stays out of the pool while this reference counts in
        // its state, and nobody writes it: writes go only through a
        // `SlotMut`, which exists only as a buffer's sole reference.
        unsafe {
            self.pool
                .region
                .bytes(self.pool.data + self.slot * self.pool.stride, self.len)
        }
    }
}

impl Clone for SlotRef {
    fn clone(&self) -> Self {
        // Alive: `self` counts. Full columns would mean 64 processes hold
        // it; this process is one of them and always has its column.
        let _ = self.pool.add(self.slot, own_holder(), 1);
        self.pool.local[self.slot].fetch_add(1, Ordering::Relaxed);
        SlotRef {
            pool: self.pool.clone(),
            slot: self.slot,
            generation: self.generation,
            len: self.len,
        }
    }
}

impl Drop for SlotRef {
    fn drop(&mut self) {
        let _ =
            self.pool.local[self.slot]
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        self.pool.release(self.slot, own_holder(), 1);
    }
}

/// The one reference to a buffer just taken from its pool: its bytes can
/// be written.
pub(crate) struct SlotMut {
    inner: SlotRef,
}

impl SlotMut {
    /// Takes a free buffer, looking from `start`.
    pub(crate) fn take(pool: &Arc<PoolMemory>, start: usize) -> Option<SlotMut> {
        let (slot, generation) = pool.take(start)?;
        Some(SlotMut {
            inner: SlotRef {
                pool: pool.clone(),
                slot,
                generation,
                len: pool.slot_bytes,
            },
        })
    }

    pub(crate) fn slot(&self) -> usize {
        self.inner.slot
    }

    /// The whole buffer, to read.
    pub(crate) fn bytes(&self) -> &[u8] {
        self.inner.bytes()
    }

    /// The whole buffer, to write.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        let pool = &self.inner.pool;
        // SAFETY: in the region, as for `SlotRef::bytes`. This is the
        // buffer's only reference: it was free when taken (the state went
        // from no reference to one in one atomic step), a `SlotMut` is
        // neither cloned nor sent, and `&mut self` makes the slice unique
        // in this process. No other process holds the buffer, so nobody
        // reads or writes it meanwhile.
        unsafe {
            pool.region
                .bytes_mut(pool.data + self.inner.slot * pool.stride, pool.slot_bytes)
        }
    }

    /// The buffer, readable from now on, with `len` bytes written.
    pub(crate) fn freeze(self, len: usize) -> SlotRef {
        let mut inner = self.inner;
        inner.len = len.min(inner.pool.slot_bytes);
        inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(slots: usize) -> Arc<PoolMemory> {
        Arc::new(PoolMemory::create(slots, 100).unwrap())
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn a_buffer_goes_back_when_its_last_reference_goes() {
        let pool = pool(2);
        let mut first = SlotMut::take(&pool, 0).unwrap();
        first.bytes_mut()[..3].copy_from_slice(b"abc");
        let first = first.freeze(3);
        let copy = first.clone();
        let _second = SlotMut::take(&pool, 0).unwrap();
        assert!(SlotMut::take(&pool, 0).is_none());
        assert_eq!(copy.bytes(), b"abc");
        drop(first);
        assert_eq!(pool.free(), 0);
        drop(copy);
        assert_eq!(pool.free(), 1);
        let again = SlotMut::take(&pool, 0).unwrap();
        assert_eq!(again.bytes().len(), 100);
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn a_stale_reference_does_not_revive_a_buffer() {
        let pool = pool(1);
        let taken = SlotMut::take(&pool, 0).unwrap().freeze(10);
        let (slot, generation) = (taken.slot(), taken.generation());
        drop(taken);
        assert!(SlotRef::upgrade(&pool, slot, generation, 10).is_none());
        let retaken = SlotMut::take(&pool, 0).unwrap().freeze(10);
        assert!(SlotRef::upgrade(&pool, slot, generation, 10).is_none());
        let fresh = SlotRef::upgrade(&pool, slot, retaken.generation(), 10).unwrap();
        assert!(SlotRef::upgrade(&pool, slot, retaken.generation(), 101).is_none());
        assert!(SlotRef::upgrade(&pool, 7, retaken.generation(), 1).is_none());
        drop((retaken, fresh));
        assert_eq!(pool.free(), 1);
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn the_references_of_an_ended_process_are_given_back() {
        let pool = pool(3);
        let held = SlotMut::take(&pool, 0).unwrap().freeze(1);
        // Leases to process 7 (holder 8), and a reference it inherited.
        pool.lease(held.slot(), 8).unwrap();
        pool.lease(held.slot(), 8).unwrap();
        let handed = pool.hand_to_child(8);
        assert_eq!(handed, vec![(held.slot(), 1)]);
        drop(held);
        assert_eq!(pool.free(), 2);
        assert_eq!(pool.clear_holder(8), 3);
        assert_eq!(pool.free(), 3);
        // Giving back what was cleared changes nothing.
        pool.revoke_lease(0, 8);
        assert_eq!(pool.free(), 3);
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn a_pool_opened_elsewhere_sees_the_same_buffers() {
        let pool = pool(2);
        let other = Arc::new(PoolMemory::open(pool.share()).unwrap());
        let mut buffer = SlotMut::take(&pool, 0).unwrap();
        buffer.bytes_mut()[..2].copy_from_slice(b"hi");
        let buffer = buffer.freeze(2);
        let there = SlotRef::upgrade(&other, buffer.slot(), buffer.generation(), 2).unwrap();
        assert_eq!(there.bytes(), b"hi");
        drop(buffer);
        assert_eq!(other.free(), 1);
        drop(there);
        assert_eq!(other.free(), 2);
    }

    /// Threads take, clone, lease and drop buffers while another clears
    /// the references of a process that "ended" (holder 9, leased to and
    /// never reading): no buffer is ever given to a second writer while
    /// someone still reads it, and at the end every buffer is free.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn concurrent_holders_and_clears_never_free_a_buffer_early() {
        const DEAD: u32 = 9;
        const ROUNDS: u64 = 5_000;
        /// Ends the clearing thread however the workers end.
        struct Done<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let pool = pool(6);
        let done = std::sync::atomic::AtomicBool::new(false);
        let checked = std::thread::scope(|scope| {
            let _done = Done(&done);
            scope.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    pool.clear_holders(|holder| holder == DEAD);
                    std::thread::yield_now();
                }
            });
            let workers: Vec<_> = (1..=3u64)
                .map(|me| {
                    let pool = &pool;
                    scope.spawn(move || {
                        let mut checked = 0u64;
                        // Buffers run out while leases to the ended holder
                        // wait for the next clear: try again until enough
                        // rounds got one (bounded, should clears stop).
                        for round in 0..5_000_000u64 {
                            if checked == ROUNDS {
                                break;
                            }
                            let Some(mut buffer) = SlotMut::take(pool, round as usize) else {
                                std::thread::yield_now();
                                continue;
                            };
                            buffer.bytes_mut()[..8].copy_from_slice(&me.to_le_bytes());
                            let buffer = buffer.freeze(8);
                            if round % 3 == 0 {
                                pool.lease(buffer.slot(), DEAD).unwrap();
                            }
                            let copy = buffer.clone();
                            let again =
                                SlotRef::upgrade(pool, buffer.slot(), buffer.generation(), 8)
                                    .expect("alive while held");
                            drop(buffer);
                            assert_eq!(copy.bytes(), me.to_le_bytes());
                            drop(copy);
                            std::thread::yield_now();
                            assert_eq!(again.bytes(), me.to_le_bytes(), "freed early");
                            checked += 1;
                        }
                        checked
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|worker| worker.join())
                .collect::<Result<Vec<u64>, _>>()
        });
        let checked = checked.expect("a worker failed");
        assert_eq!(checked, [ROUNDS; 3], "rounds that got a buffer");
        pool.clear_holders(|holder| holder == DEAD);
        assert_eq!(pool.free(), 6);
        for slot in 0..6 {
            assert_eq!(unpack(pool.state(slot).load(Ordering::Relaxed)).1, 0);
            for column in 0..COLUMNS {
                assert_eq!(
                    unpack(pool.column(slot, column).load(Ordering::Relaxed)).1,
                    0
                );
            }
            assert_eq!(pool.local[slot].load(Ordering::Relaxed), 0);
        }
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn bad_sizes_are_refused() {
        assert!(PoolMemory::create(0, 10).is_err());
        assert!(PoolMemory::create(10, 0).is_err());
        assert!(PoolMemory::create(MAX_SLOTS + 1, 10).is_err());
        assert!(PoolMemory::create(2, usize::MAX / 2).is_err());
    }
}
