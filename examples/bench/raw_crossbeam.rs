//! The raw floor of the `thread` placement: plain crossbeam-channel between
//! threads, one message per signal, on the same protocol.

use std::thread;
use std::time::Instant;

use crossbeam_channel::unbounded;

use crate::protocol::{
    FAN_OUT_LOOPS, FAN_OUT_RECEIVERS_PER_LOOP, Receipts, RunResult, Workload, error_text,
};

pub const NAME: &str = "crossbeam-channel";

/// One run of `workload` with N = `n`.
pub fn run(workload: Workload, n: u64) -> RunResult {
    match workload {
        Workload::W1 => ping_pong(n),
        // The raw floor of W2b is single sends, as for W2.
        Workload::W2 | Workload::W2b | Workload::W4 | Workload::W4z | Workload::W5 => {
            stream(workload, n)
        }
        Workload::W3 => fan_out(workload, n),
    }
}

fn ping_pong(n: u64) -> RunResult {
    let (ping_tx, ping_rx) = unbounded::<u64>();
    let (pong_tx, pong_rx) = unbounded::<u64>();
    let peer = thread::spawn(move || {
        while let Ok(seq) = ping_rx.recv() {
            if pong_tx.send(seq).is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    ping_tx.send(0).map_err(error_text)?;
    loop {
        let seq = pong_rx.recv().map_err(error_text)?;
        if seq + 1 == n {
            break;
        }
        ping_tx.send(seq + 1).map_err(error_text)?;
    }
    let elapsed = started.elapsed();
    drop(ping_tx);
    peer.join().map_err(|_| "peer panicked")?;
    Ok(elapsed)
}

/// W2, W2b, W4 and W5: one receiving thread.
fn stream(workload: Workload, n: u64) -> RunResult {
    let blob = workload.sends_blobs();
    let size = workload.blob_bytes();
    let (window, ack_every) = (workload.window(), workload.ack_every());
    let (data_tx, data_rx) = unbounded::<(u64, Vec<u8>)>();
    let (ack_tx, ack_rx) = unbounded::<(u64, u64)>();
    let peer = thread::spawn(move || {
        let mut receipts = Receipts::new(ack_every);
        while let Ok((seq, data)) = data_rx.recv() {
            let intact = !blob || data.len() == size;
            let Some(ack) = receipts.record(Some(seq).filter(|_| intact)) else {
                continue;
            };
            if ack_tx.send(ack).is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    let (mut sent, mut acked) = (0, 0);
    while acked < n {
        while sent < n && sent - acked < window {
            let data = if blob { vec![0u8; size] } else { Vec::new() };
            data_tx.send((sent, data)).map_err(error_text)?;
            sent += 1;
        }
        let (count, errors) = ack_rx.recv().map_err(error_text)?;
        if errors > 0 {
            return Err(format!("{errors} out of order"));
        }
        acked = count;
    }
    let elapsed = started.elapsed();
    drop(data_tx);
    peer.join().map_err(|_| "peer panicked")?;
    Ok(elapsed)
}

/// W3: receiving threads in place of loops, each handing every signal to its
/// receivers (counters).
fn fan_out(workload: Workload, n: u64) -> RunResult {
    let (ack_tx, ack_rx) = unbounded::<(usize, (u64, u64))>();
    let mut senders = Vec::new();
    let mut peers = Vec::new();
    for index in 0..FAN_OUT_LOOPS {
        let (tx, rx) = unbounded::<u64>();
        let ack_tx = ack_tx.clone();
        senders.push(tx);
        peers.push(thread::spawn(move || {
            let mut receipts = Receipts::new(workload.ack_every());
            let mut deliveries = [0u64; FAN_OUT_RECEIVERS_PER_LOOP];
            while let Ok(seq) = rx.recv() {
                // `black_box` keeps the deliveries from being folded into one
                // addition.
                for count in &mut deliveries {
                    *count += std::hint::black_box(1);
                }
                let Some(ack) = receipts.record(Some(seq)) else {
                    continue;
                };
                if ack_tx.send((index, ack)).is_err() {
                    break;
                }
            }
        }));
    }
    // Only the peers' clones remain: the ack channel closes if they all end.
    drop(ack_tx);
    let started = Instant::now();
    let (mut sent, mut acked) = (0, [0u64; FAN_OUT_LOOPS]);
    loop {
        let floor = acked.iter().min().copied().unwrap_or(0);
        if floor == n {
            break;
        }
        while sent < n && sent - floor < workload.window() {
            for tx in &senders {
                tx.send(sent).map_err(error_text)?;
            }
            sent += 1;
        }
        let (index, (count, errors)) = ack_rx.recv().map_err(error_text)?;
        if errors > 0 {
            return Err(format!("receiving thread {index}: {errors} out of order"));
        }
        acked[index] = count;
    }
    let elapsed = started.elapsed();
    drop(senders);
    for peer in peers {
        peer.join().map_err(|_| "peer panicked")?;
    }
    Ok(elapsed)
}
