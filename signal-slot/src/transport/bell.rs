//! A loop's doorbell: the one thing a loop waits on, rung by whoever gives
//! it work, in this process or another.
//!
//! The bell is a word in a small shared region. A loop about to sleep
//! announces it (`SLEEPING`), looks once more for work, and sleeps on the
//! word; whoever makes work visible (a message in the loop's queue, a
//! record in one of its rings) looks at the word afterwards and wakes the
//! loop only if it sleeps. Both sides order "announce, then look" with a
//! `SeqCst` fence, so that at least one of them sees the other: either
//! the loop finds the work, or the sender finds it sleeping (no lost
//! wake-up). A sender that finds the loop awake pays one load.
//!
//! The region also says whether the loop has ended, for senders in other
//! processes.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{Ordering, fence};
use std::time::{Duration, Instant};

use ipc_channel::ipc::IpcSharedMemory;

use crate::sys::futex;
use crate::sys::shm::SharedRegion;

const MAGIC: u64 = u64::from_le_bytes(*b"sigbell1");
const STATE: usize = 64;
const CLOSED: usize = 128;
const SIZE: usize = 4096;

const AWAKE: u32 = 0;
const SLEEPING: u32 = 1;

/// A loop's doorbell, shared with every process that sends to the loop.
#[derive(Clone)]
pub(crate) struct Bell {
    region: Arc<SharedRegion>,
}

impl Bell {
    /// A new bell, for a new loop.
    pub(crate) fn create() -> io::Result<Bell> {
        let region = SharedRegion::create(SIZE)?;
        region.atomic_u64(0).store(MAGIC, Ordering::Release);
        Ok(Bell {
            region: Arc::new(region),
        })
    }

    /// The bell of a loop of another process.
    pub(crate) fn open(memory: IpcSharedMemory) -> io::Result<Bell> {
        let region = SharedRegion::open(memory)?;
        if region.len() < SIZE || region.atomic_u64(0).load(Ordering::Acquire) != MAGIC {
            return Err(io::Error::other("not a loop's doorbell"));
        }
        Ok(Bell {
            region: Arc::new(region),
        })
    }

    /// A handle to send to another process.
    pub(crate) fn share(&self) -> IpcSharedMemory {
        self.region.share()
    }

    fn state(&self) -> &std::sync::atomic::AtomicU32 {
        self.region.atomic_u32(STATE)
    }

    /// Wakes the loop if it sleeps. Call after making work visible.
    #[inline]
    pub(crate) fn ring(&self) {
        fence(Ordering::SeqCst);
        let state = self.state();
        if state.load(Ordering::Relaxed) == SLEEPING
            && state.swap(AWAKE, Ordering::AcqRel) == SLEEPING
        {
            futex::wake(state);
        }
    }

    /// Sleeps until the bell rings or `deadline` passes, unless `has_work`
    /// finds work once the sleep is announced. May return early.
    pub(crate) fn sleep(&self, deadline: Option<Instant>, has_work: impl FnOnce() -> bool) {
        let state = self.state();
        state.store(SLEEPING, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if !has_work() {
            let timeout = deadline.map(|deadline| {
                deadline
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_micros(1))
            });
            futex::wait(state, SLEEPING, timeout);
        }
        state.store(AWAKE, Ordering::Relaxed);
    }

    /// Marks the loop as ended, for senders in other processes.
    pub(crate) fn close(&self) {
        self.region.atomic_u32(CLOSED).store(1, Ordering::Release);
    }

    /// True once the loop has ended.
    pub(crate) fn is_closed(&self) -> bool {
        self.region.atomic_u32(CLOSED).load(Ordering::Acquire) != 0
    }
}

impl std::fmt::Debug for Bell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bell")
            .field("closed", &self.is_closed())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU64};

    #[test]
    #[cfg_attr(miri, ignore)]
    fn no_wake_up_is_lost() {
        // A sender sets a flag and rings; the sleeper sleeps unless it sees
        // the flag. Every round must end well before the long deadline.
        let bell = Bell::create().unwrap();
        let remote = Bell::open(bell.share()).unwrap();
        let work = Arc::new(AtomicBool::new(false));
        let rounds = Arc::new(AtomicU64::new(0));
        let sender = {
            let (work, rounds) = (work.clone(), rounds.clone());
            std::thread::spawn(move || {
                for round in 0..2_000u64 {
                    while rounds.load(Ordering::Acquire) != round {
                        std::hint::spin_loop();
                    }
                    work.store(true, Ordering::Release);
                    remote.ring();
                }
            })
        };
        let started = Instant::now();
        for round in 0..2_000u64 {
            rounds.store(round, Ordering::Release);
            while !work.swap(false, Ordering::AcqRel) {
                bell.sleep(Some(Instant::now() + Duration::from_secs(5)), || {
                    work.load(Ordering::Acquire)
                });
            }
        }
        sender.join().unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "a wake-up was lost: {:?}",
            started.elapsed()
        );
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn closing_is_seen_elsewhere_and_foreign_regions_are_refused() {
        let bell = Bell::create().unwrap();
        let remote = Bell::open(bell.share()).unwrap();
        assert!(!remote.is_closed());
        bell.close();
        assert!(remote.is_closed());
        let plain = SharedRegion::create(SIZE).unwrap();
        assert!(Bell::open(plain.share()).is_err());
    }
}
