//! The workloads of `BENCHMARKS.md`, for signal-slot and for the raw
//! transports under it, on the same protocol.
//!
//! ```text
//! cargo run --release --example bench                 # the table
//! cargo run --release --example bench -- --json       # and JSON lines
//! cargo run --release --example bench -- --quick      # small N, one run
//! cargo run --release --example bench -- --only W2    # one workload
//! ```
//!
//! | id | what |
//! |---|---|
//! | W1 | ping-pong: `ping(seq)` / `pong(seq)` until N round trips |
//! | W2 | one-way `data(seq)`, one emit at a time, ack every 1,000, window 10,000 |
//! | W2b | as W2 with `emit_many` batches of 100 |
//! | W3 | fan-out to 4 receivers on each of 2 loops, window 10,000 |
//! | W4 | 64 KiB `Vec<u8>` payloads, window 64, ack every 16 |
//!
//! Placements: `thread` (the receiving loops on threads of this process) and
//! `process` (in child processes). Each figure is the median of 3 timed runs
//! after one untimed warm-up; time runs from the first emission to the final
//! ack. Every receiver checks order and count: a lost or reordered signal
//! fails the run. The raw baselines are plain `crossbeam-channel` between two
//! threads and plain `ipc-channel` between two processes, sending single
//! messages on the same protocol.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use signal_slot::{
    Context, EventLoop, EventLoopProcess, EventLoopThread, LoopHandle, Timer, event_loop_object,
};

const WINDOW: u64 = 10_000;
const ACK_EVERY: u64 = 1_000;
const BATCH: u64 = 100;
const BLOB: usize = 64 * 1024;
const BLOB_WINDOW: u64 = 64;
const BLOB_ACK_EVERY: u64 = 16;
const RUN_LIMIT: Duration = Duration::from_secs(120);

type Outcome = Arc<Mutex<Option<Result<Duration, String>>>>;

fn finish(outcome: &Outcome, result: Result<Duration, String>) {
    *outcome.lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
}

// ---------------------------------------------------------------------------
// signal-slot objects

#[event_loop_object]
struct Pinger {
    rounds: u64,
    started: Option<Instant>,
    outcome: Outcome,
}

#[event_loop_object]
impl Pinger {
    #[signal]
    fn ping(seq: u64);

    #[slot]
    fn go(&mut self, ctx: &mut Context<Self>) {
        self.started = Some(Instant::now());
        ctx.ping().emit(0);
    }

    #[slot]
    fn on_pong(&mut self, ctx: &mut Context<Self>, seq: u64) {
        if seq + 1 < self.rounds {
            ctx.ping().emit(seq + 1);
            return;
        }
        let elapsed = self.started.map(|started| started.elapsed());
        let result = match (seq + 1 == self.rounds, elapsed) {
            (true, Some(elapsed)) => Ok(elapsed),
            _ => Err(format!("pong {seq} out of order")),
        };
        finish(&self.outcome, result);
        ctx.stop_loop();
    }
}

#[event_loop_object]
struct Ponger;

#[event_loop_object]
impl Ponger {
    #[signal]
    fn pong(seq: u64);

    #[slot]
    fn on_ping(&mut self, ctx: &mut Context<Self>, seq: u64) {
        ctx.pong().emit(seq);
    }
}

/// Sends N signals within a window of un-acked ones.
#[event_loop_object]
struct Source {
    n: u64,
    batch: u64,
    window: u64,
    blob: bool,
    sent: u64,
    acked: HashMap<String, u64>,
    ackers: usize,
    started: Option<Instant>,
    outcome: Outcome,
}

#[event_loop_object]
impl Source {
    #[signal]
    fn data(seq: u64);

    #[signal]
    fn blob(data: Vec<u8>);

    #[slot]
    fn go(&mut self, ctx: &mut Context<Self>) {
        self.started = Some(Instant::now());
        self.pump(ctx);
    }

    #[slot]
    fn on_ack(&mut self, ctx: &mut Context<Self>, count: u64, errors: u64) {
        let acker = ctx
            .sender()
            .map(|sender| sender.id().to_owned())
            .unwrap_or_default();
        if errors > 0 {
            finish(
                &self.outcome,
                Err(format!("{acker} saw {errors} signals out of order")),
            );
            ctx.stop_loop();
            return;
        }
        self.acked.insert(acker, count);
        let acked = self.acked_by_all();
        if acked == self.n {
            let elapsed = self
                .started
                .map_or(Duration::ZERO, |started| started.elapsed());
            finish(&self.outcome, Ok(elapsed));
            ctx.stop_loop();
        } else {
            self.pump(ctx);
        }
    }
}

impl Source {
    fn acked_by_all(&self) -> u64 {
        if self.acked.len() < self.ackers {
            return 0;
        }
        self.acked.values().copied().min().unwrap_or(0)
    }

    fn pump(&mut self, ctx: &Context<Self>) {
        let acked = self.acked_by_all();
        while self.sent < self.n && self.sent - acked < self.window {
            let room = (self.window - (self.sent - acked)).min(self.n - self.sent);
            if self.blob {
                let mut data = vec![0u8; BLOB];
                data[..8].copy_from_slice(&self.sent.to_le_bytes());
                ctx.blob().emit(data);
                self.sent += 1;
            } else if self.batch > 1 {
                let count = room.min(self.batch);
                ctx.data()
                    .emit_many((self.sent..self.sent + count).map(|seq| (seq,)));
                self.sent += count;
            } else {
                ctx.data().emit(self.sent);
                self.sent += 1;
            }
        }
    }
}

/// Counts, checks order, acks (if it is the loop's acker).
#[event_loop_object]
struct Sink {
    next: u64,
    count: u64,
    errors: u64,
    ack_every: u64,
    acks: bool,
}

#[event_loop_object]
impl Sink {
    #[signal]
    fn ack(count: u64, errors: u64);

    #[slot]
    fn on_data(&mut self, ctx: &mut Context<Self>, seq: u64) {
        self.received(ctx, seq);
    }

    #[slot]
    fn on_blob(&mut self, ctx: &mut Context<Self>, data: Vec<u8>) {
        let seq = data
            .get(..8)
            .map(|head| u64::from_le_bytes(head.try_into().unwrap_or([0xff; 8])))
            .filter(|_| data.len() == BLOB)
            .unwrap_or(u64::MAX);
        self.received(ctx, seq);
    }
}

impl Sink {
    fn new(ack_every: u64, acks: bool) -> Self {
        Sink {
            next: 0,
            count: 0,
            errors: 0,
            ack_every,
            acks,
        }
    }

    fn received(&mut self, ctx: &Context<Self>, seq: u64) {
        if seq != self.next {
            self.errors += 1;
        }
        self.next = seq.wrapping_add(1);
        self.count += 1;
        if self.acks && self.count % self.ack_every == 0 {
            ctx.ack().emit(self.count, self.errors);
        }
    }
}

// ---------------------------------------------------------------------------
// Runs

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Workload {
    W1,
    W2,
    W2b,
    W3,
    W4,
}

impl Workload {
    const ALL: [Workload; 5] = [
        Workload::W1,
        Workload::W2,
        Workload::W2b,
        Workload::W3,
        Workload::W4,
    ];

    fn name(self) -> &'static str {
        match self {
            Workload::W1 => "W1",
            Workload::W2 => "W2",
            Workload::W2b => "W2b",
            Workload::W3 => "W3",
            Workload::W4 => "W4",
        }
    }

    fn default_n(self) -> u64 {
        match self {
            Workload::W1 => 200_000,
            Workload::W2 | Workload::W2b => 2_000_000,
            Workload::W3 => 500_000,
            Workload::W4 => 20_000,
        }
    }

    /// The figure for `n` items in `elapsed`, and its unit.
    fn value(self, n: u64, elapsed: Duration) -> (f64, &'static str) {
        let seconds = elapsed.as_secs_f64();
        match self {
            Workload::W1 => (n as f64 / seconds, "round_trips/s"),
            Workload::W2 | Workload::W2b => (n as f64 / seconds, "signals/s"),
            Workload::W3 => (n as f64 * 8.0 / seconds, "deliveries/s"),
            Workload::W4 => (n as f64 * BLOB as f64 / seconds / 1e6, "MB/s"),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Placement {
    Thread,
    Process,
}

impl Placement {
    fn name(self) -> &'static str {
        match self {
            Placement::Thread => "thread",
            Placement::Process => "process",
        }
    }
}

/// A receiving loop: a thread or a child process.
enum Remote {
    Thread(EventLoopThread),
    Process(EventLoopProcess),
}

impl Remote {
    fn new(placement: Placement, name: String) -> Remote {
        match placement {
            Placement::Thread => Remote::Thread(EventLoopThread::new(name).expect("thread loop")),
            Placement::Process => {
                Remote::Process(EventLoopProcess::new(name).expect("process loop"))
            }
        }
    }

    fn handle(&self) -> &LoopHandle {
        match self {
            Remote::Thread(thread) => thread,
            Remote::Process(process) => process,
        }
    }

    fn start(&mut self) {
        match self {
            Remote::Thread(thread) => thread.start().expect("start thread"),
            Remote::Process(process) => process.start().expect("start process"),
        }
    }

    fn finish(mut self) -> Result<(), String> {
        self.handle().stop();
        match &mut self {
            Remote::Thread(thread) => thread.join().map(|_| ()).map_err(|error| error.to_string()),
            Remote::Process(process) => match process.join_timeout(Duration::from_secs(20)) {
                Ok(Some(exit)) if exit.success() => Ok(()),
                Ok(Some(exit)) => Err(format!("receiver process {exit}")),
                Ok(None) => {
                    let _ = process.kill();
                    Err("receiver process did not stop".to_owned())
                }
                Err(error) => Err(error.to_string()),
            },
        }
    }
}

/// One timed run of a workload through signal-slot.
fn run_signal_slot(
    workload: Workload,
    placement: Placement,
    n: u64,
    run: usize,
) -> Result<Duration, String> {
    let tag = format!("{}_{}_{run}", workload.name(), placement.name());
    let outcome = Outcome::default();
    let mut main = EventLoop::builder(format!("bench_main_{tag}"))
        .catch_interrupt(false)
        .build()
        .map_err(|error| error.to_string())?;
    let limit = Timer::single_shot(&main, RUN_LIMIT).map_err(|error| error.to_string())?;
    limit
        .timeout()
        .connect(main.stop_slot())
        .map_err(|error| error.to_string())?;
    limit.start();
    let mut remotes = Vec::new();
    match workload {
        Workload::W1 => {
            let remote = Remote::new(placement, format!("bench_remote_{tag}"));
            let pinger = main
                .add_with_id(
                    "pinger",
                    Pinger {
                        rounds: n,
                        started: None,
                        outcome: outcome.clone(),
                    },
                )
                .map_err(|error| error.to_string())?;
            let ponger = remote
                .handle()
                .add_with_id("ponger", Ponger)
                .map_err(|error| error.to_string())?;
            pinger
                .ping()
                .connect(ponger.on_ping())
                .map_err(|error| error.to_string())?;
            ponger
                .pong()
                .connect(pinger.on_pong())
                .map_err(|error| error.to_string())?;
            main.start_signal()
                .connect(pinger.go())
                .map_err(|error| error.to_string())?;
            remotes.push(remote);
        }
        _ => {
            let (loops, per_loop, blob) = match workload {
                Workload::W3 => (2, 4, false),
                Workload::W4 => (1, 1, true),
                _ => (1, 1, false),
            };
            let (window, ack_every) = if blob {
                (BLOB_WINDOW, BLOB_ACK_EVERY)
            } else {
                (WINDOW, ACK_EVERY)
            };
            let source = main
                .add_with_id(
                    "source",
                    Source {
                        n,
                        batch: if workload == Workload::W2b { BATCH } else { 1 },
                        window,
                        blob,
                        sent: 0,
                        acked: HashMap::new(),
                        ackers: loops,
                        started: None,
                        outcome: outcome.clone(),
                    },
                )
                .map_err(|error| error.to_string())?;
            for index in 0..loops {
                let remote = Remote::new(placement, format!("bench_remote_{tag}_{index}"));
                for receiver in 0..per_loop {
                    let sink = remote
                        .handle()
                        .add_with_id(
                            format!("sink{index}_{receiver}"),
                            Sink::new(ack_every, receiver == 0),
                        )
                        .map_err(|error| error.to_string())?;
                    if blob {
                        source
                            .blob()
                            .connect(sink.on_blob())
                            .map_err(|error| error.to_string())?;
                    } else {
                        source
                            .data()
                            .connect(sink.on_data())
                            .map_err(|error| error.to_string())?;
                    }
                    if receiver == 0 {
                        sink.ack()
                            .connect(source.on_ack())
                            .map_err(|error| error.to_string())?;
                    }
                }
                remotes.push(remote);
            }
            main.start_signal()
                .connect(source.go())
                .map_err(|error| error.to_string())?;
        }
    }
    for remote in &mut remotes {
        remote.start();
    }
    main.exec();
    let mut result = outcome
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
        .unwrap_or_else(|| Err(format!("no result within {RUN_LIMIT:?}: a signal was lost")));
    for remote in remotes {
        if let Err(error) = remote.finish() {
            result = result.and(Err(error));
        }
    }
    result
}

// ---------------------------------------------------------------------------
// Raw crossbeam-channel between two threads, same protocol.

fn run_crossbeam(workload: Workload, n: u64) -> Result<Duration, String> {
    use crossbeam_channel::unbounded;
    match workload {
        Workload::W1 => {
            let (ping_tx, ping_rx) = unbounded::<u64>();
            let (pong_tx, pong_rx) = unbounded::<u64>();
            let peer = std::thread::spawn(move || {
                while let Ok(seq) = ping_rx.recv() {
                    if pong_tx.send(seq).is_err() {
                        break;
                    }
                }
            });
            let started = Instant::now();
            ping_tx.send(0).map_err(|error| error.to_string())?;
            loop {
                let seq = pong_rx.recv().map_err(|error| error.to_string())?;
                if seq + 1 == n {
                    break;
                }
                ping_tx.send(seq + 1).map_err(|error| error.to_string())?;
            }
            let elapsed = started.elapsed();
            drop(ping_tx);
            peer.join().map_err(|_| "peer panicked")?;
            Ok(elapsed)
        }
        Workload::W2 | Workload::W2b | Workload::W4 => {
            let blob = workload == Workload::W4;
            let (window, ack_every) = if blob {
                (BLOB_WINDOW, BLOB_ACK_EVERY)
            } else {
                (WINDOW, ACK_EVERY)
            };
            let (data_tx, data_rx) = unbounded::<(u64, Vec<u8>)>();
            let (ack_tx, ack_rx) = unbounded::<(u64, u64)>();
            let peer = std::thread::spawn(move || {
                let (mut next, mut count, mut errors) = (0, 0, 0);
                while let Ok((seq, data)) = data_rx.recv() {
                    if seq != next || (blob && data.len() != BLOB) {
                        errors += 1;
                    }
                    next = seq + 1;
                    count += 1;
                    if count % ack_every == 0 && ack_tx.send((count, errors)).is_err() {
                        break;
                    }
                }
            });
            let started = Instant::now();
            let (mut sent, mut acked) = (0, 0);
            while acked < n {
                while sent < n && sent - acked < window {
                    let data = if blob { vec![0u8; BLOB] } else { Vec::new() };
                    data_tx
                        .send((sent, data))
                        .map_err(|error| error.to_string())?;
                    sent += 1;
                }
                let (count, errors) = ack_rx.recv().map_err(|error| error.to_string())?;
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
        Workload::W3 => {
            // Two receiving threads ("loops"), each handing every item to
            // four receivers (counters).
            let mut peers = Vec::new();
            let mut senders = Vec::new();
            let (ack_tx, ack_rx) = unbounded::<(usize, u64)>();
            for index in 0..2 {
                let (tx, rx) = unbounded::<u64>();
                let ack_tx = ack_tx.clone();
                senders.push(tx);
                peers.push(std::thread::spawn(move || {
                    let mut counts = [0u64; 4];
                    let mut next = 0;
                    while let Ok(seq) = rx.recv() {
                        if seq != next {
                            return Err(format!("out of order at {seq}"));
                        }
                        next = seq + 1;
                        for count in &mut counts {
                            *count += std::hint::black_box(1);
                        }
                        if counts[0] % ACK_EVERY == 0 && ack_tx.send((index, counts[0])).is_err() {
                            break;
                        }
                    }
                    Ok(())
                }));
            }
            drop(ack_tx);
            let started = Instant::now();
            let (mut sent, mut acked) = (0, [0u64; 2]);
            while acked.iter().min().copied().unwrap_or(0) < n {
                let floor = acked.iter().min().copied().unwrap_or(0);
                while sent < n && sent - floor < WINDOW {
                    for tx in &senders {
                        tx.send(sent).map_err(|error| error.to_string())?;
                    }
                    sent += 1;
                }
                let (index, count) = ack_rx.recv().map_err(|error| error.to_string())?;
                acked[index] = count;
            }
            let elapsed = started.elapsed();
            drop(senders);
            for peer in peers {
                peer.join().map_err(|_| "peer panicked")??;
            }
            Ok(elapsed)
        }
    }
}

// ---------------------------------------------------------------------------
// Raw ipc-channel between two processes, same protocol.

mod raw_ipc {
    use super::*;
    use ipc_channel::ipc::{self, IpcBytesReceiver, IpcBytesSender, IpcOneShotServer, IpcSender};

    /// What a raw child sends its parent on connecting.
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Hello {
        data: IpcBytesSender,
        acks: IpcSender<IpcBytesSender>,
    }

    /// The child's side: `bench --raw-child SERVER WORKLOAD`.
    pub fn child(server: String, workload: &str) -> Result<(), String> {
        let hello_tx: IpcSender<Hello> =
            IpcSender::connect(server).map_err(|error| error.to_string())?;
        let (data_tx, data_rx) = ipc::bytes_channel().map_err(|error| error.to_string())?;
        let (acks_tx, acks_rx) =
            ipc::channel::<IpcBytesSender>().map_err(|error| error.to_string())?;
        hello_tx
            .send(Hello {
                data: data_tx,
                acks: acks_tx,
            })
            .map_err(|error| error.to_string())?;
        let back = acks_rx.recv().map_err(|error| error.to_string())?;
        let (blob, ack_every) = match workload {
            "W1" => {
                while let Ok(message) = data_rx.recv() {
                    if back.send(&message).is_err() {
                        break;
                    }
                }
                return Ok(());
            }
            "W4" => (true, BLOB_ACK_EVERY),
            _ => (false, ACK_EVERY),
        };
        let (mut next, mut count, mut errors) = (0u64, 0u64, 0u64);
        while let Ok(message) = data_rx.recv() {
            let seq = message
                .get(..8)
                .map(|head| u64::from_le_bytes(head.try_into().unwrap_or([0xff; 8])))
                .unwrap_or(u64::MAX);
            if seq != next || (blob && message.len() != BLOB) {
                errors += 1;
            }
            next = seq.wrapping_add(1);
            count += 1;
            if count % ack_every == 0 {
                let mut ack = count.to_le_bytes().to_vec();
                ack.extend_from_slice(&errors.to_le_bytes());
                if back.send(&ack).is_err() {
                    break;
                }
            }
        }
        Ok(())
    }

    struct Child {
        process: std::process::Child,
        data: IpcBytesSender,
        acks: IpcBytesReceiver,
    }

    fn spawn(workload: Workload) -> Result<Child, String> {
        let (server, name) = IpcOneShotServer::<Hello>::new().map_err(|error| error.to_string())?;
        let exe = std::env::current_exe().map_err(|error| error.to_string())?;
        let process = std::process::Command::new(exe)
            .args(["--raw-child", &name, workload.name()])
            .spawn()
            .map_err(|error| error.to_string())?;
        let (_, hello) = server.accept().map_err(|error| error.to_string())?;
        let (ack_tx, ack_rx) = ipc::bytes_channel().map_err(|error| error.to_string())?;
        hello.acks.send(ack_tx).map_err(|error| error.to_string())?;
        Ok(Child {
            process,
            data: hello.data,
            acks: ack_rx,
        })
    }

    fn ack(message: &[u8]) -> (u64, u64) {
        let word = |range: std::ops::Range<usize>| {
            message.get(range).map_or(0, |bytes| {
                u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8]))
            })
        };
        (word(0..8), word(8..16))
    }

    pub fn run(workload: Workload, n: u64) -> Result<Duration, String> {
        let fan = if workload == Workload::W3 { 2 } else { 1 };
        let children: Vec<Child> = (0..fan)
            .map(|_| spawn(workload))
            .collect::<Result<_, _>>()?;
        let result = drive(workload, n, &children);
        for mut child in children {
            drop(child.data);
            let _ = child.process.wait();
        }
        result
    }

    fn drive(workload: Workload, n: u64, children: &[Child]) -> Result<Duration, String> {
        let started = Instant::now();
        if workload == Workload::W1 {
            let child = &children[0];
            for seq in 0..n {
                child
                    .data
                    .send(&seq.to_le_bytes())
                    .map_err(|error| error.to_string())?;
                let pong = child.acks.recv().map_err(|error| error.to_string())?;
                if ack(&pong).0 != seq {
                    return Err(format!("pong out of order at {seq}"));
                }
            }
            return Ok(started.elapsed());
        }
        let blob = workload == Workload::W4;
        let window = if blob { BLOB_WINDOW } else { WINDOW };
        let mut sent = 0u64;
        let mut acked = vec![0u64; children.len()];
        let mut message = if blob { vec![0u8; BLOB] } else { vec![0u8; 8] };
        loop {
            let floor = acked.iter().min().copied().unwrap_or(0);
            if floor == n {
                return Ok(started.elapsed());
            }
            while sent < n && sent - floor < window {
                message[..8].copy_from_slice(&sent.to_le_bytes());
                for child in children {
                    child
                        .data
                        .send(&message)
                        .map_err(|error| error.to_string())?;
                }
                sent += 1;
            }
            // The laggard gates the window: wait for its next ack (the others'
            // wait in their channels).
            let (index, _) = acked
                .iter()
                .enumerate()
                .min_by_key(|(_, count)| **count)
                .unwrap_or((0, &0));
            let (count, errors) = ack(&children[index]
                .acks
                .recv()
                .map_err(|error| error.to_string())?);
            if errors > 0 {
                return Err(format!("{errors} out of order"));
            }
            acked[index] = count;
        }
    }
}

// ---------------------------------------------------------------------------
// Driver

struct Options {
    json: bool,
    quick: bool,
    only: Option<String>,
    placements: Vec<Placement>,
    runs: usize,
    scale: f64,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        json: false,
        quick: false,
        only: None,
        placements: vec![Placement::Thread, Placement::Process],
        runs: 3,
        scale: 1.0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => options.json = true,
            "--quick" => {
                options.quick = true;
                options.runs = 1;
                options.scale = 0.02;
            }
            "--only" => options.only = args.next(),
            "--thread" => options.placements = vec![Placement::Thread],
            "--process" => options.placements = vec![Placement::Process],
            "--runs" => {
                options.runs = args
                    .next()
                    .and_then(|runs| runs.parse().ok())
                    .filter(|runs| *runs > 0)
                    .ok_or("--runs takes a positive number")?;
            }
            "--scale" => {
                options.scale = args
                    .next()
                    .and_then(|scale| scale.parse().ok())
                    .filter(|scale: &f64| *scale > 0.0)
                    .ok_or("--scale takes a positive number")?;
            }
            other => {
                return Err(format!(
                    "unknown argument `{other}`; usage: bench [--json] [--quick] [--only W1|W2|W2b|W3|W4] \
                     [--thread|--process] [--runs N] [--scale X]"
                ));
            }
        }
    }
    Ok(options)
}

/// Median of `runs` timed runs after one warm-up; any failed run fails all.
fn measure(
    runs: usize,
    quick: bool,
    mut run: impl FnMut(usize) -> Result<Duration, String>,
) -> Result<Duration, String> {
    if !quick {
        run(0)?;
    }
    let mut times = (1..=runs).map(&mut run).collect::<Result<Vec<_>, _>>()?;
    times.sort();
    Ok(times[times.len() / 2])
}

fn describe(workload: Workload, n: u64, elapsed: Duration) -> String {
    let (value, unit) = workload.value(n, elapsed);
    match workload {
        Workload::W1 => format!(
            "{:>7.1}k rt/s ({:.1} µs)",
            value / 1e3,
            elapsed.as_secs_f64() * 1e6 / n as f64
        ),
        Workload::W4 => format!("{:>9.0} MB/s", value),
        _ => format!("{:>7.2}M {}", value / 1e6, unit.trim_end_matches("/s")),
    }
}

fn json(
    system: &str,
    workload: Workload,
    placement: Placement,
    n: u64,
    elapsed: Duration,
) -> String {
    let (value, unit) = workload.value(n, elapsed);
    let extra = if workload == Workload::W1 {
        format!(
            ",\"mean_round_trip_us\":{:.3}",
            elapsed.as_secs_f64() * 1e6 / n as f64
        )
    } else {
        String::new()
    };
    format!(
        "{{\"system\":\"{system}\",\"workload\":\"{}\",\"placement\":\"{}\",\"n\":{n},\"value\":{value:.1},\"unit\":\"{unit}\"{extra}}}",
        workload.name(),
        placement.name()
    )
}

fn main() {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("--raw-child") {
        let server = args.next().unwrap_or_default();
        let workload = args.next().unwrap_or_default();
        if let Err(error) = raw_ipc::child(server, &workload) {
            eprintln!("raw child: {error}");
            std::process::exit(1);
        }
        return;
    }
    let options = match options() {
        Ok(options) => options,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(2);
        }
    };
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!(
        "signal-slot benchmarks: {cores} cores, median of {} run(s){}",
        options.runs,
        if options.quick {
            " (quick: small N, no warm-up)"
        } else {
            " after a warm-up"
        }
    );
    println!(
        "{:<4} {:<8} {:>9}  {:>26}  {:>26}  {:>7}",
        "", "", "n", "signal-slot", "raw transport", "ratio"
    );
    let mut failed = false;
    let mut lines = Vec::new();
    for workload in Workload::ALL {
        if options
            .only
            .as_deref()
            .is_some_and(|only| !only.eq_ignore_ascii_case(workload.name()))
        {
            continue;
        }
        let n = ((workload.default_n() as f64 * options.scale) as u64).max(1);
        // Whole ack intervals, so that the last ack is the last signal.
        let step = if workload == Workload::W4 {
            BLOB_ACK_EVERY
        } else {
            ACK_EVERY
        };
        let n = if workload == Workload::W1 {
            n
        } else {
            (n / step).max(1) * step
        };
        for &placement in &options.placements {
            let ours = measure(options.runs, options.quick, |run| {
                run_signal_slot(workload, placement, n, run)
            });
            let (raw_name, raw) = match placement {
                Placement::Thread => (
                    "crossbeam-channel",
                    measure(options.runs, options.quick, |_| run_crossbeam(workload, n)),
                ),
                Placement::Process => (
                    "ipc-channel",
                    measure(options.runs, options.quick, |_| raw_ipc::run(workload, n)),
                ),
            };
            // The raw floor of W2b is single sends, as for W2.
            let show = |result: &Result<Duration, String>| match result {
                Ok(elapsed) => describe(workload, n, *elapsed),
                Err(error) => format!("FAILED: {error}"),
            };
            let ratio = match (&ours, &raw) {
                (Ok(ours), Ok(raw)) => {
                    let ratio = if workload == Workload::W1 {
                        ours.as_secs_f64() / raw.as_secs_f64()
                    } else {
                        raw.as_secs_f64() / ours.as_secs_f64()
                    };
                    format!("{ratio:.2}×")
                }
                _ => "-".to_owned(),
            };
            println!(
                "{:<4} {:<8} {:>9}  {:>26}  {:>26}  {:>7}",
                workload.name(),
                placement.name(),
                n,
                show(&ours),
                show(&raw),
                ratio
            );
            for (system, result) in [("signal-slot", &ours), (raw_name, &raw)] {
                match result {
                    Ok(elapsed) => lines.push(json(system, workload, placement, n, *elapsed)),
                    Err(_) => failed = true,
                }
            }
        }
    }
    println!("ratio: throughput over the raw transport's (W1: round-trip time over the raw one's)");
    if options.json {
        for line in lines {
            println!("{line}");
        }
    }
    if failed {
        eprintln!("some runs failed");
        std::process::exit(1);
    }
}
