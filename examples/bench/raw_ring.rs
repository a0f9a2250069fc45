//! signal-slot's shared-memory ring alone between two processes, spinning:
//! a record of one word (or of a small signal frame's size) each way, written, published, read and freed as a
//! loop's ring does (with the doorbell's fence), and nothing else (no
//! frame, no loop, no dispatch). Between the floor (`raw_shm`) and a
//! busy-polling loop: what the transport itself costs a round trip.

use std::process::{Command, Stdio};
use std::time::Instant;

use ::signal_slot::__private::ring::{self, RingReceiver, RingSender};
use ipc_channel::ipc::{self, IpcOneShotServer, IpcSender, IpcSharedMemory};

use crate::protocol::{RunResult, error_text};

pub const NAME: &str = "signal-slot's ring alone";

/// The size of a small signal's record (its frame, the names in it).
pub const FRAME_BYTES: usize = 96;

/// The first argument of a child: `bench --ring-child SERVER BYTES`.
pub const CHILD_FLAG: &str = "--ring-child";

/// Each ring's data bytes.
const BYTES: usize = 1 << 16;

/// Tells the child to end.
const DONE: u64 = u64::MAX;

/// What the child sends first: where the parent's ring goes, and the
/// child's ring to the parent.
type Hello = (IpcSender<IpcSharedMemory>, IpcSharedMemory);

fn receive(receiver: &mut RingReceiver) -> u64 {
    loop {
        if let Some(value) = receiver.try_recv() {
            return value;
        }
        std::hint::spin_loop();
    }
}

fn send(sender: &mut RingSender, value: u64, body: usize) -> Result<(), String> {
    if sender.send(value, body) {
        Ok(())
    } else {
        Err("the ring refused a record".to_owned())
    }
}

/// The child's side: echoes every value, in records of `body` bytes, until
/// told to end.
pub fn child(server: String, body: usize) -> Result<(), String> {
    let hello: IpcSender<Hello> = IpcSender::connect(server).map_err(error_text)?;
    let (mut sender, shared) = ring::ring(BYTES).map_err(error_text)?;
    let (tx, rx) = ipc::channel().map_err(error_text)?;
    hello.send((tx, shared)).map_err(error_text)?;
    let mut receiver = ring::open(rx.recv().map_err(error_text)?)?;
    loop {
        let value = receive(&mut receiver);
        if value == DONE {
            return Ok(());
        }
        send(&mut sender, value, body)?;
    }
}

/// `n` round trips in records of `body` bytes, with a child echoing on the
/// other side.
pub fn run(n: u64, body: usize) -> RunResult {
    let (server, name) = IpcOneShotServer::<Hello>::new().map_err(error_text)?;
    let mut process = Command::new(std::env::current_exe().map_err(error_text)?)
        .args([CHILD_FLAG, &name, &body.to_string()])
        .stdin(Stdio::null())
        .spawn()
        .map_err(error_text)?;
    let (_, (reply, shared)) = server.accept().map_err(error_text)?;
    let mut receiver = ring::open(shared)?;
    let (mut sender, shared) = ring::ring(BYTES).map_err(error_text)?;
    reply.send(shared).map_err(error_text)?;
    let started = Instant::now();
    let mut result = Ok(());
    for seq in 1..=n {
        result = send(&mut sender, seq, body);
        if result.is_err() {
            break;
        }
        let echo = receive(&mut receiver);
        if echo != seq {
            result = Err(format!("echo {echo} for {seq}"));
            break;
        }
    }
    let elapsed = started.elapsed();
    let _ = sender.send(DONE, 8);
    let _ = process.wait();
    result.map(|()| elapsed)
}
