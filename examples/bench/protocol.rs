//! The workloads of `BENCHMARKS.md` as every system runs them: sizes, windows,
//! acks, the receivers' order check, and how a run's time becomes a figure.

use std::time::Duration;

/// Un-acked signals in flight at most, W4 apart.
const WINDOW: u64 = 10_000;
/// How often a receiver acks, W4 apart.
const ACK_EVERY: u64 = 1_000;
/// Signals per `emit_many` in W2b.
const BATCH: u64 = 100;
/// Bytes in a W4 payload.
pub const BLOB: usize = 64 * 1024;
const BLOB_WINDOW: u64 = 64;
const BLOB_ACK_EVERY: u64 = 16;
/// Bytes in a W5 payload.
pub const LARGE_BLOB: usize = 64 << 20;
const LARGE_WINDOW: u64 = 4;
const LARGE_ACK_EVERY: u64 = 2;
/// W3's receiving loops.
pub const FAN_OUT_LOOPS: usize = 2;
/// Receivers on each of W3's loops.
pub const FAN_OUT_RECEIVERS_PER_LOOP: usize = 4;

/// The result of one run: the time from the first emission to the final ack,
/// or why the run failed.
pub type RunResult = Result<Duration, String>;

/// The text of an error, for a [`RunResult`]: the runners meet errors of four
/// libraries, and all the driver does with them is print them.
pub fn error_text(error: impl std::fmt::Display) -> String {
    error.to_string()
}

/// A workload of `BENCHMARKS.md`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Workload {
    /// Ping-pong: `ping(seq)` / `pong(seq)` until N round trips.
    W1,
    /// One-way `data(seq)`, one emit at a time, ack every 1,000, window 10,000.
    W2,
    /// As W2 with `emit_many` batches of 100.
    W2b,
    /// Fan-out to 4 receivers on each of 2 loops, window 10,000.
    W3,
    /// 64 KiB `Vec<u8>` payloads, window 64, ack every 16.
    W4,
    /// As W4, each payload a [`SharedBuffer`](::signal_slot::SharedBuffer)
    /// of a pool, filled in place and read in place (the raw baselines
    /// send it as W4 does: they have no such thing).
    W4z,
    /// 64 MiB `Vec<u8>` payloads, window 4, ack every 2.
    W5,
}

impl Workload {
    pub const ALL: [Workload; 7] = [
        Workload::W1,
        Workload::W2,
        Workload::W2b,
        Workload::W3,
        Workload::W4,
        Workload::W4z,
        Workload::W5,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::W1 => "W1",
            Workload::W2 => "W2",
            Workload::W2b => "W2b",
            Workload::W3 => "W3",
            Workload::W4 => "W4",
            Workload::W4z => "W4z",
            Workload::W5 => "W5",
        }
    }

    /// The workload called `name` (as [`Workload::name`] spells it).
    pub fn from_name(name: &str) -> Option<Workload> {
        Workload::ALL
            .into_iter()
            .find(|workload| workload.name() == name)
    }

    /// N at `scale` times the suggested size, in whole ack intervals so that
    /// the last ack is the last signal.
    pub fn scaled_n(self, scale: f64) -> u64 {
        let suggested = match self {
            Workload::W1 => 200_000,
            Workload::W2 | Workload::W2b => 2_000_000,
            Workload::W3 => 500_000,
            Workload::W4 | Workload::W4z => 20_000,
            Workload::W5 => 64,
        };
        let n = ((suggested as f64 * scale) as u64).max(1);
        (n / self.ack_every()).max(1) * self.ack_every()
    }

    /// Whether the signals carry byte payloads instead of a bare sequence
    /// number.
    pub fn sends_blobs(self) -> bool {
        matches!(self, Workload::W4 | Workload::W4z | Workload::W5)
    }

    /// The size of a payload, for those that send them.
    pub fn blob_bytes(self) -> usize {
        if self == Workload::W5 {
            LARGE_BLOB
        } else {
            BLOB
        }
    }

    /// Un-acked signals in flight at most (W1: the one ping).
    pub fn window(self) -> u64 {
        match self {
            Workload::W1 => 1,
            Workload::W4 | Workload::W4z => BLOB_WINDOW,
            Workload::W5 => LARGE_WINDOW,
            _ => WINDOW,
        }
    }

    /// How often a receiver acks (W1: each pong acks its ping).
    pub fn ack_every(self) -> u64 {
        match self {
            Workload::W1 => 1,
            Workload::W4 | Workload::W4z => BLOB_ACK_EVERY,
            Workload::W5 => LARGE_ACK_EVERY,
            _ => ACK_EVERY,
        }
    }

    /// Signals per emission.
    pub fn batch(self) -> u64 {
        if self == Workload::W2b { BATCH } else { 1 }
    }

    /// The loops that receive the signals; one receiver on each acks.
    pub fn receiving_loops(self) -> usize {
        if self == Workload::W3 {
            FAN_OUT_LOOPS
        } else {
            1
        }
    }

    pub fn receivers_per_loop(self) -> usize {
        if self == Workload::W3 {
            FAN_OUT_RECEIVERS_PER_LOOP
        } else {
            1
        }
    }

    /// The figure for `n` signals in `elapsed`, and its unit.
    pub fn value(self, n: u64, elapsed: Duration) -> (f64, &'static str) {
        let seconds = elapsed.as_secs_f64();
        match self {
            Workload::W1 => (n as f64 / seconds, "round_trips/s"),
            Workload::W2 | Workload::W2b => (n as f64 / seconds, "signals/s"),
            Workload::W3 => {
                let receivers = self.receiving_loops() * self.receivers_per_loop();
                (n as f64 * receivers as f64 / seconds, "deliveries/s")
            }
            Workload::W4 | Workload::W4z | Workload::W5 => {
                (n as f64 * self.blob_bytes() as f64 / seconds / 1e6, "MB/s")
            }
        }
    }
}

/// Where the receiving loops run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Placement {
    /// On threads of this process.
    Thread,
    /// In child processes.
    Process,
    /// In other programs, over Zenoh on loopback TCP (with the `zenoh`
    /// feature).
    Network,
}

impl Placement {
    pub fn name(self) -> &'static str {
        match self {
            Placement::Thread => "thread",
            Placement::Process => "process",
            Placement::Network => "network",
        }
    }
}

/// A payload of `workload` (W4's [`BLOB`] bytes, W5's [`LARGE_BLOB`]),
/// stamped with `seq`.
pub fn blob(workload: Workload, seq: u64) -> Vec<u8> {
    let mut payload = vec![0u8; workload.blob_bytes()];
    stamp(&mut payload, seq);
    payload
}

/// Writes `seq` into the first 8 bytes of `payload`, little-endian.
pub fn stamp(payload: &mut [u8], seq: u64) {
    payload[..8].copy_from_slice(&seq.to_le_bytes());
}

/// The number [`stamp`] wrote, if `payload` is long enough to hold one.
pub fn read_stamp(payload: &[u8]) -> Option<u64> {
    payload.first_chunk().copied().map(u64::from_le_bytes)
}

/// The sequence number of a W4 or W5 payload, if it is one ([`BLOB`] or
/// [`LARGE_BLOB`] bytes).
pub fn read_blob(payload: &[u8]) -> Option<u64> {
    read_stamp(payload).filter(|_| [BLOB, LARGE_BLOB].contains(&payload.len()))
}

/// A receiver's count of what arrived and of what arrived out of order, and
/// the pace of its acks.
pub struct Receipts {
    ack_every: u64,
    next: u64,
    count: u64,
    errors: u64,
}

impl Receipts {
    pub fn new(ack_every: u64) -> Self {
        Receipts {
            ack_every,
            next: 0,
            count: 0,
            errors: 0,
        }
    }

    /// Records one arrival (`None`: a payload whose sequence number cannot be
    /// read) and returns the ack `(count, errors)` when one is due.
    pub fn record(&mut self, seq: Option<u64>) -> Option<(u64, u64)> {
        if seq != Some(self.next) {
            self.errors += 1;
        }
        if let Some(seq) = seq {
            // Resynchronize on what arrived, so that one lost signal counts
            // once and not for every signal after it.
            self.next = seq.wrapping_add(1);
        }
        self.count += 1;
        self.count
            .is_multiple_of(self.ack_every)
            .then_some((self.count, self.errors))
    }
}

/// Drives W1 over a raw transport: `ping(seq)` sends one, `pong()` waits
/// for the answer, which must carry the same number.
pub fn drive_ping_pong(
    n: u64,
    mut ping: impl FnMut(&[u8]) -> Result<(), String>,
    mut pong: impl FnMut() -> Result<Vec<u8>, String>,
) -> RunResult {
    let started = std::time::Instant::now();
    for seq in 0..n {
        ping(&seq.to_le_bytes())?;
        if read_stamp(&pong()?) != Some(seq) {
            return Err(format!("pong out of order at {seq}"));
        }
    }
    Ok(started.elapsed())
}

/// Drives W2-W4 over a raw transport: every message to each of `peers`
/// receivers, within the window, the laggard's acks (`(count, errors)` as
/// two little-endian words) pacing it. `send(peer, message)` sends one;
/// `ack(peer)` waits for that receiver's next ack.
pub fn drive_stream(
    workload: Workload,
    n: u64,
    peers: usize,
    mut send: impl FnMut(usize, &[u8]) -> Result<(), String>,
    mut ack: impl FnMut(usize) -> Result<Vec<u8>, String>,
) -> RunResult {
    let started = std::time::Instant::now();
    let window = workload.window();
    let mut sent = 0u64;
    let mut acked = vec![0u64; peers];
    // One buffer, stamped anew for each signal.
    let mut message = if workload.sends_blobs() {
        blob(workload, 0)
    } else {
        vec![0u8; 8]
    };
    loop {
        let floor = acked.iter().min().copied().unwrap_or(0);
        if floor == n {
            return Ok(started.elapsed());
        }
        while sent < n && sent - floor < window {
            stamp(&mut message, sent);
            for peer in 0..peers {
                send(peer, &message)?;
            }
            sent += 1;
        }
        // The laggard gates the window: wait for its next ack (the others'
        // wait in their channels).
        let (laggard, _) = acked
            .iter()
            .enumerate()
            .min_by_key(|(_, count)| **count)
            .unwrap_or((0, &0));
        let ack = ack(laggard)?;
        let (count, errors) = read_ack(&ack).ok_or("malformed ack")?;
        if errors > 0 {
            return Err(format!("{errors} out of order"));
        }
        acked[laggard] = count;
    }
}

/// An ack as a raw receiver sends it: `(count, errors)`.
pub fn ack_message(count: u64, errors: u64) -> Vec<u8> {
    let mut ack = count.to_le_bytes().to_vec();
    ack.extend_from_slice(&errors.to_le_bytes());
    ack
}

/// The `(count, errors)` of an ack.
fn read_ack(message: &[u8]) -> Option<(u64, u64)> {
    Some((read_stamp(message)?, read_stamp(message.get(8..)?)?))
}
