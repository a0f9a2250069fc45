//! W5's floor: what sending a large payload from one process to another
//! cannot avoid, done in one process: the payload made as W5's emitter
//! makes it (a new vector for each signal, as a signal's argument is), and
//! two copies of it (into memory the other side can read, and out of it
//! into the receiver's own vector), into memory that is already there.

use std::time::Instant;

use crate::protocol::{RunResult, Workload, blob, read_blob};

pub const NAME: &str = "two copies in one process";

/// `n` payloads of `workload`'s size, each made and copied twice.
pub fn run(workload: Workload, n: u64) -> RunResult {
    let mut shared = blob(workload, 0);
    shared.fill(1);
    let mut received = shared.clone();
    let started = Instant::now();
    for seq in 0..n {
        let payload = blob(workload, seq);
        shared.copy_from_slice(&payload);
        drop(payload);
        received.copy_from_slice(std::hint::black_box(&shared));
        if read_blob(std::hint::black_box(&received)) != Some(seq) {
            return Err(format!("payload {seq} came back wrong"));
        }
    }
    Ok(started.elapsed())
}
