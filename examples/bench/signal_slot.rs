//! The workloads through signal-slot: the objects at both ends, and one run
//! with the receiving loops on threads or in child processes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

// `::`: the crate, not this module of the same name.
use ::signal_slot::{
    BufferPool, Context, Error, EventLoop, EventLoopProcess, EventLoopThread, IdleWait, LoopHandle,
    SharedBuffer, Timer, event_loop_object,
};

use crate::protocol::{
    BLOB, Placement, Receipts, RunResult, Workload, blob, error_text, read_blob, stamp,
};

pub const NAME: &str = "signal-slot";

/// How long a run may take before it counts as having lost a signal (which
/// would leave the emitter waiting for an ack forever).
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// Where the emitting object reports the run's result, for [`run`] to read
/// once the main loop has stopped.
#[derive(Clone, Default)]
struct Outcome(Arc<Mutex<Option<RunResult>>>);

impl Outcome {
    fn report(&self, result: RunResult) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
    }

    fn take(&self) -> Option<RunResult> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// W1's emitter: pings, and pings again on each pong until N round trips.
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
        self.outcome.report(result);
        ctx.stop_loop();
    }
}

/// W1's receiver: answers each ping.
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

/// The emitter of W2-W4: sends N signals within a window of un-acked ones.
#[event_loop_object]
struct Source {
    workload: Workload,
    n: u64,
    sent: u64,
    /// The count each acking receiver last acked, by its object id.
    acked: HashMap<String, u64>,
    started: Option<Instant>,
    outcome: Outcome,
    /// W4z's buffers: a window's worth, and some.
    pool: Option<BufferPool>,
}

#[event_loop_object]
impl Source {
    #[signal]
    fn data(seq: u64);

    #[signal]
    fn blob(data: Vec<u8>);

    #[signal]
    fn frame(data: SharedBuffer);

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
            self.outcome
                .report(Err(format!("{acker} saw {errors} signals out of order")));
            ctx.stop_loop();
            return;
        }
        self.acked.insert(acker, count);
        if self.acked_by_all() == self.n {
            let elapsed = self
                .started
                .map_or(Duration::ZERO, |started| started.elapsed());
            self.outcome.report(Ok(elapsed));
            ctx.stop_loop();
        } else {
            self.pump(ctx);
        }
    }
}

impl Source {
    fn new(workload: Workload, n: u64, outcome: Outcome) -> Result<Self, Error> {
        let pool = match workload {
            Workload::W4z => Some(BufferPool::new(BLOB, workload.window() as usize + 32)?),
            _ => None,
        };
        Ok(Source {
            workload,
            n,
            sent: 0,
            acked: HashMap::new(),
            started: None,
            outcome,
            pool,
        })
    }

    /// The count every acking receiver has acked.
    fn acked_by_all(&self) -> u64 {
        if self.acked.len() < self.workload.receiving_loops() {
            return 0;
        }
        self.acked.values().copied().min().unwrap_or(0)
    }

    /// Emits until the window is full or all N are sent.
    fn pump(&mut self, ctx: &Context<Self>) {
        let window = self.workload.window();
        let batch = self.workload.batch();
        let acked = self.acked_by_all();
        while self.sent < self.n && self.sent - acked < window {
            if let Some(pool) = &self.pool {
                // Filled in place, as W4's payload is made: zeros, stamped.
                let Some(mut buffer) = pool.try_take() else {
                    // All out (never, with a window's worth and some): the
                    // next ack pumps again.
                    break;
                };
                buffer[..BLOB].fill(0);
                stamp(&mut buffer, self.sent);
                ctx.frame().emit(buffer.freeze(BLOB));
                self.sent += 1;
            } else if self.workload.sends_blobs() {
                ctx.blob().emit(blob(self.workload, self.sent));
                self.sent += 1;
            } else if batch > 1 {
                let room = (window - (self.sent - acked)).min(self.n - self.sent);
                let count = room.min(batch);
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

/// A receiver of W2-W4: checks order, counts, and acks if it is its loop's
/// acker.
#[event_loop_object]
struct Sink {
    receipts: Receipts,
    acks: bool,
}

#[event_loop_object]
impl Sink {
    #[signal]
    fn ack(count: u64, errors: u64);

    #[slot]
    fn on_data(&mut self, ctx: &mut Context<Self>, seq: u64) {
        self.received(ctx, Some(seq));
    }

    #[slot]
    fn on_blob(&mut self, ctx: &mut Context<Self>, data: Vec<u8>) {
        self.received(ctx, read_blob(&data));
    }

    #[slot]
    fn on_frame(&mut self, ctx: &mut Context<Self>, data: SharedBuffer) {
        self.received(ctx, read_blob(&data));
    }
}

impl Sink {
    fn received(&mut self, ctx: &Context<Self>, seq: Option<u64>) {
        let due = self.receipts.record(seq);
        if let Some((count, errors)) = due.filter(|_| self.acks) {
            ctx.ack().emit(count, errors);
        }
    }
}

/// A receiving loop: a thread, a child process, or a loop of another
/// program over the network.
enum Remote {
    Thread(EventLoopThread),
    Process(EventLoopProcess),
    #[cfg(feature = "zenoh")]
    Network(crate::network::Program),
}

impl Remote {
    /// The loop `name`, receiving `workload` as its `index`th loop.
    fn new(
        placement: Placement,
        name: String,
        idle: IdleWait,
        workload: Workload,
        index: usize,
    ) -> Result<Remote, Error> {
        let builder = EventLoop::builder(name).idle_wait(idle);
        Ok(match placement {
            Placement::Thread => Remote::Thread(EventLoopThread::with_options(builder)?),
            Placement::Process => Remote::Process(EventLoopProcess::with_options(builder)?),
            #[cfg(feature = "zenoh")]
            Placement::Network => Remote::Network(crate::network::Program::start(
                builder.name(),
                workload,
                index,
            )?),
            #[cfg(not(feature = "zenoh"))]
            Placement::Network => {
                let _ = (workload, index);
                return Err(Error::Unsupported(
                    "the network placement (build with `--features zenoh`)",
                ));
            }
        })
    }

    fn handle(&self) -> &LoopHandle {
        match self {
            Remote::Thread(thread) => thread,
            Remote::Process(process) => process,
            #[cfg(feature = "zenoh")]
            Remote::Network(program) => program.handle(),
        }
    }

    /// The receiving object `id`: added here, or (over the network) the
    /// one its program added as [`add_receivers`] says.
    fn receiver<T: ::signal_slot::EventLoopObject>(
        &self,
        id: &str,
        object: impl FnOnce() -> T,
    ) -> Result<::signal_slot::Handle<T>, Error> {
        match self {
            #[cfg(feature = "zenoh")]
            Remote::Network(program) => program.handle().object::<T>(id),
            _ => self.handle().add_with_id(id, object()),
        }
    }

    fn start(&mut self) -> Result<(), Error> {
        match self {
            Remote::Thread(thread) => thread.start(),
            Remote::Process(process) => process.start(),
            #[cfg(feature = "zenoh")]
            Remote::Network(_) => Ok(()),
        }
    }

    /// Stops the loop and waits for it to end.
    fn finish(mut self) -> Result<(), String> {
        self.handle().stop();
        match &mut self {
            Remote::Thread(thread) => thread.join().map(|_| ()).map_err(error_text),
            Remote::Process(process) => match process.join_timeout(Duration::from_secs(20)) {
                Ok(Some(exit)) if exit.success() => Ok(()),
                Ok(Some(exit)) => Err(format!("receiver process {exit}")),
                Ok(None) => {
                    let _ = process.kill();
                    Err("receiver process did not stop".to_owned())
                }
                Err(error) => Err(error_text(error)),
            },
            #[cfg(feature = "zenoh")]
            Remote::Network(program) => program.finish(),
        }
    }
}

/// Adds the receiving objects of `workload`'s `index`th loop to
/// `event_loop`, as the network placement's programs do for themselves.
#[cfg(feature = "zenoh")]
pub fn add_receivers(
    event_loop: &LoopHandle,
    workload: Workload,
    index: usize,
) -> Result<(), Error> {
    let _ = index;
    if workload == Workload::W1 {
        event_loop.add_with_id("ponger", Ponger)?;
        return Ok(());
    }
    for receiver in 0..workload.receivers_per_loop() {
        event_loop.add_with_id(sink_id(index, receiver), sink(workload, receiver))?;
    }
    Ok(())
}

fn sink_id(index: usize, receiver: usize) -> String {
    format!("sink{index}_{receiver}")
}

/// The receiver `receiver` of a loop: the first one acks.
fn sink(workload: Workload, receiver: usize) -> Sink {
    Sink {
        receipts: Receipts::new(workload.ack_every()),
        acks: receiver == 0,
    }
}

/// One run of `workload` with N = `n`, every loop waiting as `idle` says;
/// `run` numbers the run, so that each run's loops have names of their own.
pub fn run(
    workload: Workload,
    placement: Placement,
    n: u64,
    run: usize,
    idle: IdleWait,
) -> RunResult {
    let busy = if idle == IdleWait::BusyPoll {
        "_busy"
    } else {
        ""
    };
    let tag = format!("{}_{}{busy}_{run}", workload.name(), placement.name());
    let outcome = Outcome::default();
    let mut main = EventLoop::builder(format!("bench_main_{tag}"))
        .catch_interrupt(false)
        .idle_wait(idle)
        .build()
        .map_err(error_text)?;
    #[cfg(feature = "zenoh")]
    if placement == Placement::Network {
        crate::network::export(&main).map_err(error_text)?;
    }
    let limit = Timer::single_shot(&main, RUN_LIMIT).map_err(error_text)?;
    limit
        .timeout()
        .connect(main.stop_slot())
        .map_err(error_text)?;
    limit.start();
    let mut remotes = match workload {
        Workload::W1 => set_up_ping_pong(&main, placement, &tag, n, &outcome, idle),
        _ => set_up_stream(&main, workload, placement, &tag, n, &outcome, idle),
    }
    .map_err(error_text)?;
    for remote in &mut remotes {
        remote.start().map_err(error_text)?;
    }
    main.exec();
    let mut result = outcome
        .take()
        .unwrap_or_else(|| Err(format!("no result within {RUN_LIMIT:?}: a signal was lost")));
    for remote in remotes {
        if let Err(error) = remote.finish() {
            result = result.and(Err(error));
        }
    }
    result
}

/// W1: a [`Pinger`] on `main`, a [`Ponger`] on a remote loop.
fn set_up_ping_pong(
    main: &LoopHandle,
    placement: Placement,
    tag: &str,
    n: u64,
    outcome: &Outcome,
    idle: IdleWait,
) -> Result<Vec<Remote>, Error> {
    let remote = Remote::new(
        placement,
        format!("bench_remote_{tag}"),
        idle,
        Workload::W1,
        0,
    )?;
    let pinger = main.add_with_id(
        "pinger",
        Pinger {
            rounds: n,
            started: None,
            outcome: outcome.clone(),
        },
    )?;
    let ponger = remote.receiver("ponger", || Ponger)?;
    pinger.ping().connect(ponger.on_ping())?;
    ponger.pong().connect(pinger.on_pong())?;
    main.start_signal().connect(pinger.go())?;
    Ok(vec![remote])
}

/// W2-W4: a [`Source`] on `main`, [`Sink`]s on the remote loops, the first
/// sink of each loop acking.
fn set_up_stream(
    main: &LoopHandle,
    workload: Workload,
    placement: Placement,
    tag: &str,
    n: u64,
    outcome: &Outcome,
    idle: IdleWait,
) -> Result<Vec<Remote>, Error> {
    let source = main.add_with_id("source", Source::new(workload, n, outcome.clone())?)?;
    let mut remotes = Vec::new();
    for index in 0..workload.receiving_loops() {
        let remote = Remote::new(
            placement,
            format!("bench_remote_{tag}_{index}"),
            idle,
            workload,
            index,
        )?;
        for receiver in 0..workload.receivers_per_loop() {
            let acks = receiver == 0;
            let sink = remote.receiver(&sink_id(index, receiver), || sink(workload, receiver))?;
            if workload == Workload::W4z {
                source.frame().connect(sink.on_frame())?;
            } else if workload.sends_blobs() {
                source.blob().connect(sink.on_blob())?;
            } else {
                source.data().connect(sink.on_data())?;
            }
            if acks {
                sink.ack().connect(source.on_ack())?;
            }
        }
        remotes.push(remote);
    }
    main.start_signal().connect(source.go())?;
    Ok(remotes)
}
