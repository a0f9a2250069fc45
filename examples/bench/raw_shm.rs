//! The floor of a round trip between two processes: two processes spinning
//! on shared cache lines, with nothing else on the way (no encoding, no
//! queue, no wake-up). What busy-polling loops are measured against.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ipc_channel::ipc::{self, IpcOneShotServer, IpcSender, IpcSharedMemory};

use crate::protocol::{RunResult, error_text};

pub const NAME: &str = "shared memory, spinning";

/// The first argument of a child: `bench --shm-child SERVER`.
pub const CHILD_FLAG: &str = "--shm-child";

/// The ping's and the pong's cache lines, apart.
const PING: usize = 0;
const PONG: usize = 128;
const SIZE: usize = 256;

/// Tells the child to end.
const DONE: u64 = u64::MAX;

/// The two words, in a region both processes map.
struct Lines {
    /// Keeps the mapping alive.
    _memory: IpcSharedMemory,
    ping: *const AtomicU64,
    pong: *const AtomicU64,
}

impl Lines {
    fn new(mut memory: IpcSharedMemory) -> Result<Lines, String> {
        // SAFETY: `memory` is owned here, and no other handle to its
        // mapping is left in this process (the parent's copy went to the
        // child); the pointer taken from the unique reference is the only
        // way the bytes are reached from now on.
        let base = unsafe { memory.deref_mut() }.as_mut_ptr();
        if memory.len() < SIZE || base.align_offset(8) != 0 {
            return Err("a shared region too small or misaligned".to_owned());
        }
        Ok(Lines {
            _memory: memory,
            // SAFETY: both offsets are 8-aligned and inside the region
            // (checked above).
            ping: unsafe { base.add(PING) }.cast(),
            // SAFETY: as above.
            pong: unsafe { base.add(PONG) }.cast(),
        })
    }

    fn ping(&self) -> &AtomicU64 {
        // SAFETY: an aligned word of the mapping, which lives as long as
        // `self`; other processes reach it only atomically too.
        unsafe { &*self.ping }
    }

    fn pong(&self) -> &AtomicU64 {
        // SAFETY: as for `ping`.
        unsafe { &*self.pong }
    }
}

/// The child's side: echoes every ping into the pong line until told to
/// end.
pub fn child(server: String) -> Result<(), String> {
    let hello: IpcSender<IpcSender<IpcSharedMemory>> =
        IpcSender::connect(server).map_err(error_text)?;
    let (tx, rx) = ipc::channel().map_err(error_text)?;
    hello.send(tx).map_err(error_text)?;
    let lines = Lines::new(rx.recv().map_err(error_text)?)?;
    let mut last = 0;
    loop {
        let ping = lines.ping().load(Ordering::Acquire);
        if ping == last {
            std::hint::spin_loop();
            continue;
        }
        if ping == DONE {
            return Ok(());
        }
        lines.pong().store(ping, Ordering::Release);
        last = ping;
    }
}

/// `n` round trips with a child spinning on the other side.
pub fn run(n: u64) -> RunResult {
    let (server, name) =
        IpcOneShotServer::<IpcSender<IpcSharedMemory>>::new().map_err(error_text)?;
    let mut process = Command::new(std::env::current_exe().map_err(error_text)?)
        .args([CHILD_FLAG, &name])
        .stdin(Stdio::null())
        .spawn()
        .map_err(error_text)?;
    let (_, reply) = server.accept().map_err(error_text)?;
    let memory = IpcSharedMemory::from_byte(0, SIZE);
    reply.send(memory.clone()).map_err(error_text)?;
    let lines = Lines::new(memory)?;
    let started = Instant::now();
    for seq in 1..=n {
        lines.ping().store(seq, Ordering::Release);
        while lines.pong().load(Ordering::Acquire) != seq {
            std::hint::spin_loop();
        }
    }
    let elapsed = started.elapsed();
    lines.ping().store(DONE, Ordering::Release);
    let _ = process.wait();
    Ok(elapsed)
}
