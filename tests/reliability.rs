//! Reliability under load and faults: soak, chaos (SIGKILL, SIGSTOP),
//! shutdown with signals in flight, leaks, orphans. Through the public API,
//! with real child processes.
//!
//! `cargo test --test reliability` runs the short soak (five million
//! deliveries); `cargo test --test reliability -- --ignored` the full one
//! (ten million). `SOAK_N` overrides the signals per stream of the short one.
#![cfg(unix)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use common::harness::{self, Test, wait_until};
use common::{Log, sender_id};
use signal_slot::{
    Context, EventLoop, EventLoopProcess, EventLoopThread, ExitStatus, LoopHandle, ObjectHandle,
    ProcessExit, event_loop_object,
};

const ACK_EVERY: u64 = 1_000;
const WINDOW: u64 = 20_000;

/// Records reports; lives on a thread of the parent.
#[event_loop_object]
struct Probe {
    log: Log,
}

#[event_loop_object]
impl Probe {
    #[slot]
    fn report(&mut self, text: String) {
        self.log.push(text);
    }

    #[slot]
    fn on_exit(&mut self, exit: ProcessExit) {
        self.log.push(format!("exit: {exit}"));
    }
}

/// Sends `n` signals to every connected checker, within a window of
/// un-acknowledged ones, then says so.
#[event_loop_object]
struct Stream {
    n: u64,
    sent: u64,
    acked: HashMap<String, u64>,
    checkers: usize,
    done: bool,
}

#[event_loop_object]
impl Stream {
    #[signal]
    fn data(seq: u64);

    #[signal]
    fn finished(text: String);

    #[slot]
    fn go(&mut self, ctx: &mut Context<Self>) {
        self.pump(ctx);
    }

    #[slot]
    fn on_ack(&mut self, ctx: &mut Context<Self>, stream: String, count: u64) {
        if stream != ctx.id() {
            return;
        }
        let checker = sender_id(ctx);
        self.acked.insert(checker, count);
        if !self.done && self.acked.len() == self.checkers && self.floor() == self.n {
            self.done = true;
            let text = format!("{} done", ctx.id());
            ctx.finished().emit(text);
        } else {
            self.pump(ctx);
        }
    }
}

impl Stream {
    fn new(n: u64, checkers: usize) -> Self {
        Stream {
            n,
            sent: 0,
            acked: HashMap::new(),
            checkers,
            done: false,
        }
    }

    fn floor(&self) -> u64 {
        if self.acked.len() < self.checkers {
            return 0;
        }
        self.acked.values().copied().min().unwrap_or(0)
    }

    fn pump(&mut self, ctx: &Context<Self>) {
        let floor = self.floor();
        while self.sent < self.n && self.sent - floor < WINDOW {
            ctx.data().emit(self.sent);
            self.sent += 1;
        }
    }
}

/// Checks order per emitter, counts, acknowledges, reports.
#[event_loop_object]
struct Checker {
    next: HashMap<String, u64>,
    out_of_order: u64,
}

#[event_loop_object]
impl Checker {
    #[signal]
    fn ack(stream: String, count: u64);

    #[signal]
    fn counts(text: String);

    #[slot]
    fn on_data(&mut self, ctx: &mut Context<Self>, seq: u64) {
        let sender = sender_id(ctx);
        let next = self.next.entry(sender.clone()).or_default();
        if seq != *next {
            self.out_of_order += 1;
        }
        *next = seq + 1;
        if *next % ACK_EVERY == 0 {
            let count = *next;
            ctx.ack().emit(sender, count);
        }
    }

    #[slot]
    fn report(&mut self, ctx: &mut Context<Self>) {
        let counts: BTreeMap<&String, &u64> = self.next.iter().collect();
        let text = format!(
            "{}: {counts:?} out_of_order={}",
            ctx.id(),
            self.out_of_order
        );
        ctx.counts().emit(text);
    }
}

/// A loop of the soak: a thread or a child process.
enum Place {
    Thread(EventLoopThread),
    Process(EventLoopProcess),
}

impl Place {
    fn handle(&self) -> &LoopHandle {
        match self {
            Place::Thread(thread) => thread,
            Place::Process(process) => process,
        }
    }

    fn start(&mut self) {
        match self {
            Place::Thread(thread) => thread.start().unwrap(),
            Place::Process(process) => process.start().unwrap(),
        }
    }

    fn stop_and_join(&mut self) {
        self.handle().stop();
        match self {
            Place::Thread(thread) => assert_eq!(thread.join().unwrap(), ExitStatus::Normal),
            Place::Process(process) => {
                let exit = process.join_timeout(Duration::from_secs(30)).unwrap();
                assert!(exit.as_ref().is_some_and(ProcessExit::success), "{exit:?}");
            }
        }
    }
}

/// Four loops (two threads, two processes), each with a stream and a
/// checker; every stream sends `n` signals to the three checkers of the
/// other loops. Every signal must arrive, in order per stream.
fn soak_with(n: u64) {
    let tag = n;
    let log = Log::default();
    let mut collector = EventLoopThread::new(format!("soak_collector_{tag}")).unwrap();
    let probe = collector
        .add_with_id("probe", Probe { log: log.clone() })
        .unwrap();
    collector.start().unwrap();
    let mut places = vec![
        Place::Thread(EventLoopThread::new(format!("soak_thread_a_{tag}")).unwrap()),
        Place::Thread(EventLoopThread::new(format!("soak_thread_b_{tag}")).unwrap()),
        Place::Process(EventLoopProcess::new(format!("soak_process_a_{tag}")).unwrap()),
        Place::Process(EventLoopProcess::new(format!("soak_process_b_{tag}")).unwrap()),
    ];
    let mut streams = Vec::new();
    let mut checkers = Vec::new();
    for (index, place) in places.iter().enumerate() {
        streams.push(
            place
                .handle()
                .add_with_id(format!("stream{index}"), Stream::new(n, 3))
                .unwrap(),
        );
        checkers.push(
            place
                .handle()
                .add_with_id(
                    format!("checker{index}"),
                    Checker {
                        next: HashMap::new(),
                        out_of_order: 0,
                    },
                )
                .unwrap(),
        );
    }
    for (from, stream) in streams.iter().enumerate() {
        stream.finished().connect(probe.report()).unwrap();
        for (to, checker) in checkers.iter().enumerate() {
            if from != to {
                stream.data().connect(checker.on_data()).unwrap();
                checker.ack().connect(stream.on_ack()).unwrap();
            }
        }
    }
    for checker in &checkers {
        checker.counts().connect(probe.report()).unwrap();
    }
    for place in &mut places {
        place.start();
    }
    for stream in &streams {
        stream.go().invoke(()).unwrap();
    }
    let limit = Duration::from_secs(600);
    assert!(
        log.wait_for(4, limit),
        "streams did not finish: {:?}",
        log.entries()
    );
    for checker in &checkers {
        checker.report().invoke(()).unwrap();
    }
    assert!(
        log.wait_for(8, Duration::from_secs(30)),
        "{:?}",
        log.entries()
    );
    let mut entries = log.entries();
    entries.sort();
    let mut expected = Vec::new();
    for index in 0..4 {
        let others: Vec<String> = (0..4)
            .filter(|other| *other != index)
            .map(|other| format!("\"stream{other}\": {n}"))
            .collect();
        expected.push(format!(
            "checker{index}: {{{}}} out_of_order=0",
            others.join(", ")
        ));
    }
    for index in 0..4 {
        expected.push(format!("stream{index} done"));
    }
    expected.sort();
    assert_eq!(entries, expected);
    for place in &mut places {
        assert_eq!(place.handle().dropped_signals(), 0);
        place.stop_and_join();
    }
    collector.stop();
    collector.join().unwrap();
}

fn soak() {
    // Five million deliveries (4 streams × 3 checkers × n).
    soak_with(
        std::env::var("SOAK_N")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(417_000),
    );
}

fn soak_ten_million() {
    // 4 × 3 × 834,000: ten million deliveries.
    soak_with(834_000);
}

/// Counts what it receives; at `kill_at` it kills its own process.
#[event_loop_object]
struct Victim {
    received: u64,
    kill_at: u64,
}

#[event_loop_object]
impl Victim {
    #[signal]
    fn counted(text: String);

    #[slot]
    fn on_value(&mut self, _value: u64) {
        self.received += 1;
        if self.received == self.kill_at {
            // SIGKILL arrives before this slot can return: nothing after
            // this signal is handled.
            let pid = std::process::id().to_string();
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid])
                .status();
            unreachable!("killed");
        }
    }

    #[slot]
    fn report(&mut self, ctx: &mut Context<Self>) {
        let text = format!("{}: received {}", ctx.id(), self.received);
        ctx.counted().emit(text);
    }

    #[slot]
    fn echo(&mut self, ctx: &mut Context<Self>, value: u64) {
        let text = format!("{}: echo {value}", ctx.id());
        ctx.counted().emit(text);
    }
}

/// A probe on a collector thread, and a feeder on a loop of this thread.
fn fixture(tag: &str) -> (Log, EventLoopThread, ProbeHandle, EventLoop, FeederHandle) {
    let log = Log::default();
    let collector = EventLoopThread::new(format!("{tag}_collector")).unwrap();
    let probe = collector
        .add_with_id("probe", Probe { log: log.clone() })
        .unwrap();
    let feeders = EventLoop::new(format!("{tag}_feeders")).unwrap();
    let feeder = feeders.add_with_id("feeder", Feeder).unwrap();
    (log, collector, probe, feeders, feeder)
}

impl Victim {
    /// A victim that is never killed: it only counts.
    fn counting() -> Self {
        Victim {
            received: 0,
            kill_at: 0,
        }
    }
}

/// Emits from the parent.
#[event_loop_object]
struct Feeder;

#[event_loop_object]
impl Feeder {
    #[signal]
    fn value(value: u64);

    #[signal]
    fn other(value: u64);
}

fn a_child_killed_mid_stream() {
    const SENT: u64 = 50_000;
    const KILL_AT: u64 = 12_345;
    let (log, mut collector, probe, _feeders, feeder) = fixture("kill");
    let mut victim = EventLoopProcess::new("kill_victim").unwrap();
    let mut bystander = EventLoopProcess::new("kill_bystander").unwrap();
    let doomed = victim
        .add_with_id(
            "doomed",
            Victim {
                received: 0,
                kill_at: KILL_AT,
            },
        )
        .unwrap();
    let survivor = bystander
        .add_with_id("survivor", Victim::counting())
        .unwrap();
    feeder.value().connect(doomed.on_value()).unwrap();
    feeder.other().connect(survivor.echo()).unwrap();
    survivor.counted().connect(probe.report()).unwrap();
    victim.finished().connect(probe.on_exit()).unwrap();
    collector.start().unwrap();
    victim.start().unwrap();
    bystander.start().unwrap();

    for value in 0..SENT {
        feeder.value().emit(value);
    }
    // The parent is told of the death.
    assert!(
        log.wait_for(1, Duration::from_secs(30)),
        "{:?}",
        log.entries()
    );
    assert_eq!(log.entries(), ["exit: killed by SIGKILL (9)"]);
    // What was lost: sent, minus what the child took before dying. The drop
    // counter says exactly that once the outbox has reckoned its losses.
    let lost = SENT - KILL_AT;
    let counted = wait_until(Duration::from_secs(10), || victim.dropped_signals() == lost);
    assert!(
        counted,
        "dropped {} of {lost} lost",
        victim.dropped_signals()
    );
    // Emitting to the dead process neither blocks nor fails, and counts.
    feeder.value().emit(0);
    assert_eq!(victim.dropped_signals(), lost + 1);
    // The other child and the parent keep running.
    feeder.other().emit(7);
    assert!(log.wait_for(2, Duration::from_secs(10)));
    assert_eq!(log.entries()[1], "survivor: echo 7");
    bystander.stop();
    assert!(bystander.join().unwrap().success());
    collector.stop();
    collector.join().unwrap();
}

fn a_child_stopped_until_its_inbox_fills() {
    const BURST: u64 = 60_000;
    let (log, mut collector, probe, _feeders, feeder) = fixture("stop");
    // A small inbox (and outbox, on the parent's side) fills quickly.
    let mut sleeper =
        EventLoopProcess::with_options(EventLoop::builder("stop_sleeper").capacity(5_000)).unwrap();
    let mut bystander = EventLoopProcess::new("stop_bystander").unwrap();
    let counter = sleeper.add_with_id("counter", Victim::counting()).unwrap();
    let survivor = bystander
        .add_with_id("survivor", Victim::counting())
        .unwrap();
    feeder.value().connect(counter.on_value()).unwrap();
    feeder.other().connect(survivor.echo()).unwrap();
    counter.counted().connect(probe.report()).unwrap();
    survivor.counted().connect(probe.report()).unwrap();
    collector.start().unwrap();
    sleeper.start().unwrap();
    bystander.start().unwrap();

    sleeper.suspend(true).unwrap();
    for value in 0..BURST {
        feeder.value().emit(value);
    }
    let dropped = sleeper.dropped_signals();
    assert!(dropped > 0, "the inbox of a stopped process fills");
    // Meanwhile the others run.
    feeder.other().emit(1);
    assert!(log.wait_for(1, Duration::from_secs(10)));
    assert_eq!(log.entries(), ["survivor: echo 1"]);
    // Continued, it handles what it holds, then reports.
    sleeper.suspend(false).unwrap();
    counter.report().invoke(()).unwrap();
    assert!(
        log.wait_for(2, Duration::from_secs(30)),
        "{:?}",
        log.entries()
    );
    let received: u64 = log.entries()[1]
        .strip_prefix("counter: received ")
        .and_then(|count| count.parse().ok())
        .expect("a count");
    assert_eq!(received + sleeper.dropped_signals(), BURST);
    assert_eq!(
        sleeper.dropped_signals(),
        dropped,
        "no drop after the continue"
    );
    for process in [&mut sleeper, &mut bystander] {
        process.stop();
        assert!(process.join().unwrap().success());
    }
    collector.stop();
    collector.join().unwrap();
}

fn stopping_with_signals_in_flight_loses_none_queued_before() {
    const SENT: u64 = 30_000;
    let (log, mut collector, probe, _feeders, feeder) = fixture("flight");
    let mut child = EventLoopProcess::new("flight_child").unwrap();
    let mut thread = EventLoopThread::new("flight_thread").unwrap();
    let in_child = child.add_with_id("in_child", Victim::counting()).unwrap();
    let in_thread = thread.add_with_id("in_thread", Victim::counting()).unwrap();
    for receiver in [&in_child, &in_thread] {
        feeder.value().connect(receiver.on_value()).unwrap();
        receiver.counted().connect(probe.report()).unwrap();
    }
    // Each reports when its loop ends: after what was queued before the stop.
    child.terminate_signal().connect(in_child.report()).unwrap();
    thread
        .terminate_signal()
        .connect(in_thread.report())
        .unwrap();
    collector.start().unwrap();
    child.start().unwrap();
    thread.start().unwrap();
    for value in 0..SENT {
        feeder.value().emit(value);
    }
    child.stop();
    thread.stop();
    assert!(
        log.wait_for(2, Duration::from_secs(30)),
        "{:?}",
        log.entries()
    );
    let mut entries = log.entries();
    entries.sort();
    assert_eq!(
        entries,
        [
            format!("in_child: received {SENT}"),
            format!("in_thread: received {SENT}")
        ]
    );
    assert!(child.join().unwrap().success());
    assert_eq!(thread.join().unwrap(), ExitStatus::Normal);
    collector.stop();
    collector.join().unwrap();
}

/// The threads of this process.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |tasks| tasks.count())
}

fn alive(pid: u32) -> bool {
    // A reaped process has no /proc entry; a zombie is not alive either.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z'))
    })
}

/// A small system: a loop on this thread, one on a thread, two processes,
/// wired together and used.
struct System {
    main: Option<EventLoop>,
    thread: Option<EventLoopThread>,
    processes: Vec<EventLoopProcess>,
    handles: Vec<ObjectHandle>,
    pids: Vec<u32>,
}

fn system(tag: &str) -> System {
    let log = Log::default();
    let main = EventLoop::new(format!("leak_main_{tag}")).unwrap();
    let mut thread = EventLoopThread::new(format!("leak_thread_{tag}")).unwrap();
    let probe = thread
        .add_with_id("probe", Probe { log: log.clone() })
        .unwrap();
    let feeder = main.add_with_id("feeder", Feeder).unwrap();
    let mut processes = Vec::new();
    let mut handles = vec![
        ObjectHandle::from(feeder.clone()),
        ObjectHandle::from(probe.clone()),
    ];
    for index in 0..2 {
        let process = EventLoopProcess::new(format!("leak_process_{tag}_{index}")).unwrap();
        let worker = process.add_with_id("worker", Victim::counting()).unwrap();
        feeder.other().connect(worker.echo()).unwrap();
        worker.counted().connect(probe.report()).unwrap();
        handles.push(ObjectHandle::from(worker.clone()));
        processes.push(process);
    }
    thread.start().unwrap();
    for process in &mut processes {
        process.start().unwrap();
    }
    feeder.other().emit(1);
    assert!(
        log.wait_for(2, Duration::from_secs(10)),
        "{:?}",
        log.entries()
    );
    let pids = processes.iter().filter_map(EventLoopProcess::pid).collect();
    System {
        main: Some(main),
        thread: Some(thread),
        processes,
        handles,
        pids,
    }
}

fn dropping_in_any_order_leaks_no_thread_and_no_process() {
    // What runs before (this harness's threads, whatever earlier tests leave
    // winding down) is the baseline: every system must leave no more.
    let baseline = threads();
    let orders: [&dyn Fn(&mut System); 4] = [
        &|system| {
            system.processes.clear();
            system.thread.take();
            system.main.take();
            system.handles.clear();
        },
        &|system| {
            system.handles.clear();
            system.main.take();
            system.thread.take();
            system.processes.clear();
        },
        &|system| {
            system.thread.take();
            system.processes.reverse();
            system.processes.clear();
            system.handles.clear();
            system.main.take();
        },
        &|system| {
            system.main.take();
            system.handles.clear();
            system.processes.pop();
            system.thread.take();
            system.processes.clear();
        },
    ];
    for (index, order) in orders.iter().enumerate() {
        let mut system = system(&format!("order{index}"));
        let pids = system.pids.clone();
        assert!(pids.iter().all(|pid| alive(*pid)));
        order(&mut system);
        drop(system);
        assert!(
            wait_until(Duration::from_secs(10), || pids
                .iter()
                .all(|pid| !alive(*pid))),
            "order {index}: a child process outlived its handle"
        );
        assert!(
            wait_until(Duration::from_secs(10), || threads() <= baseline),
            "order {index}: {} threads, {baseline} before",
            threads()
        );
    }
}

fn a_child_outlives_the_thread_that_started_it() {
    let (log, mut collector, probe, _feeders, feeder) = fixture("outlive");
    let mut child = EventLoopProcess::new("outlive_child").unwrap();
    let worker = child.add_with_id("worker", Victim::counting()).unwrap();
    feeder.other().connect(worker.echo()).unwrap();
    worker.counted().connect(probe.report()).unwrap();
    collector.start().unwrap();
    // Started from a thread that ends right after: the child belongs to the
    // process, not to that thread.
    let mut child = std::thread::spawn(move || {
        child.start().unwrap();
        child
    })
    .join()
    .unwrap();
    let pid = child.pid().unwrap();
    feeder.other().emit(5);
    assert!(
        log.wait_for(1, Duration::from_secs(10)),
        "the child died with the thread"
    );
    assert_eq!(log.entries(), ["worker: echo 5"]);
    assert!(alive(pid));
    child.stop();
    assert!(child.join().unwrap().success());
    collector.stop();
    collector.join().unwrap();
}

/// Run as a separate process by the orphan test: starts a child process,
/// prints its pid, and panics.
fn panicking_parent() -> ! {
    let mut child = EventLoopProcess::new("orphan_child").unwrap();
    child.start().unwrap();
    println!("{}", child.pid().unwrap());
    // A panic that does not unwind through the handle's drop.
    std::mem::forget(child);
    panic!("the parent fails");
}

fn a_panicking_parent_leaves_no_orphans() {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .env("SIGNAL_SLOT_PANICKING_PARENT", "1")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let pid: u32 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("a pid");
    assert!(
        wait_until(Duration::from_secs(10), || !alive(pid)),
        "child {pid} outlived its panicking parent"
    );
}

fn main() {
    if std::env::var_os("SIGNAL_SLOT_PANICKING_PARENT").is_some() {
        panicking_parent();
    }
    harness::run(
        "reliability",
        vec![
            Test::new("soak", soak).limit(Duration::from_secs(900)),
            Test::new("soak_ten_million", soak_ten_million)
                .ignored()
                .limit(Duration::from_secs(3600)),
            Test::new("a_child_killed_mid_stream", a_child_killed_mid_stream),
            Test::new(
                "a_child_stopped_until_its_inbox_fills",
                a_child_stopped_until_its_inbox_fills,
            ),
            Test::new(
                "stopping_with_signals_in_flight_loses_none_queued_before",
                stopping_with_signals_in_flight_loses_none_queued_before,
            ),
            Test::new(
                "dropping_in_any_order_leaks_no_thread_and_no_process",
                dropping_in_any_order_leaks_no_thread_and_no_process,
            ),
            Test::new(
                "a_child_outlives_the_thread_that_started_it",
                a_child_outlives_the_thread_that_started_it,
            ),
            Test::new(
                "a_panicking_parent_leaves_no_orphans",
                a_panicking_parent_leaves_no_orphans,
            ),
        ],
    )
}
