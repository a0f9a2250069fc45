//! Behaviour across real child processes, through the public API only.
//!
//! A test binary of its own with its own harness: the tests fork, so they run
//! one at a time on one thread, each under a watchdog that aborts the binary
//! (and with it, through the parent-death signal, its children) if a test
//! hangs.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use common::harness::{self, Test, logged, wait_for_log};
use common::{Log, sender_id};
use serde::{Deserialize, Serialize};
use signal_slot::{
    Context, EventLoop, EventLoopProcess, EventLoopThread, ExitStatus, ProcessExit, Timer,
    event_loop_object,
};

/// Records reports in the parent; stops its loop after `expected` of them.
#[event_loop_object]
struct Probe {
    log: Log,
    expected: usize,
}

#[event_loop_object]
impl Probe {
    #[slot]
    fn report(&mut self, ctx: &mut Context<Self>, text: String) {
        self.log.push(text);
        if self.log.len() == self.expected {
            ctx.stop_loop();
        }
    }

    #[slot]
    fn report_value(&mut self, ctx: &mut Context<Self>, value: u64) {
        self.report(ctx, format!("value {value}"));
    }

    #[slot]
    fn on_exit(&mut self, ctx: &mut Context<Self>, exit: ProcessExit) {
        self.report(ctx, format!("exit: {exit}"));
    }
}

/// Lives in children: counts values (checking their order per emitter),
/// echoes texts with its process id, reports on request.
#[event_loop_object]
struct Worker {
    received: u64,
    last: HashMap<String, u64>,
    out_of_order: u64,
}

impl Worker {
    fn new() -> Self {
        Worker {
            received: 0,
            last: HashMap::new(),
            out_of_order: 0,
        }
    }
}

#[event_loop_object]
impl Worker {
    #[signal]
    fn reply(text: String);

    #[signal]
    fn value_out(value: u64);

    #[slot]
    fn on_value(&mut self, ctx: &mut Context<Self>, value: u64) {
        let sender = sender_id(ctx);
        let expected = self.last.get(&sender).map_or(0, |last| last + 1);
        if value != expected {
            self.out_of_order += 1;
        }
        self.last.insert(sender, value);
        self.received += 1;
    }

    #[slot]
    fn on_text(&mut self, ctx: &mut Context<Self>, text: String) {
        let reply = format!("{}@{}:{text}", ctx.id(), std::process::id());
        ctx.reply().emit(reply);
    }

    #[slot]
    fn forward(&mut self, ctx: &mut Context<Self>, value: u64) {
        ctx.value_out().emit(value + 1);
    }

    #[slot]
    fn report(&mut self, ctx: &mut Context<Self>) {
        let text = format!(
            "{}: received={} out_of_order={}",
            ctx.id(),
            self.received,
            self.out_of_order
        );
        ctx.reply().emit(text);
    }

    #[slot]
    fn on_terminate(&mut self, ctx: &mut Context<Self>) {
        let text = format!("{}: terminate", ctx.id());
        ctx.reply().emit(text);
    }

    #[slot]
    fn explode(&mut self, value: u64) {
        panic!("worker cannot take {value}");
    }
}

/// Emits from the parent (or anywhere).
#[event_loop_object]
struct Source;

#[event_loop_object]
impl Source {
    #[signal]
    fn value(value: u64);

    #[signal]
    fn text(text: String);

    #[signal]
    fn event();

    #[signal]
    fn telemetry(frame: Telemetry, tags: BTreeMap<String, Vec<i64>>, note: Option<String>);

    #[slot]
    fn emit_values(&mut self, ctx: &mut Context<Self>, count: u64) {
        for value in 0..count {
            ctx.value().emit(value);
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Telemetry {
    step: u64,
    position: (f64, f64),
    state: Mode,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Mode {
    Idle,
    Moving { speed: f32 },
}

/// Receives structured telemetry in a child and answers with what it saw.
#[event_loop_object]
struct TelemetrySink;

#[event_loop_object]
impl TelemetrySink {
    #[signal]
    fn seen(description: String);

    #[slot]
    fn on_telemetry(
        &mut self,
        ctx: &mut Context<Self>,
        frame: Telemetry,
        tags: BTreeMap<String, Vec<i64>>,
        note: Option<String>,
    ) {
        ctx.seen().emit(format!("{frame:?} {tags:?} {note:?}"));
    }
}

/// A probe on `main` that stops it after `expected` reports.
fn probe(main: &EventLoop, log: &Log, expected: usize) -> ProbeHandle {
    main.add_with_id(
        "probe",
        Probe {
            log: log.clone(),
            expected,
        },
    )
    .unwrap()
}

/// A parent loop with a probe that stops it after `expected` reports, and
/// a source of signals.
fn parent(name: &str, expected: usize) -> (Log, EventLoop, ProbeHandle, SourceHandle) {
    let log = Log::default();
    let main = EventLoop::new(name).unwrap();
    let probe = main
        .add_with_id(
            "probe",
            Probe {
                log: log.clone(),
                expected,
            },
        )
        .unwrap();
    let source = main.add_with_id("source", Source).unwrap();
    (log, main, probe, source)
}

/// Runs `main` until its probe stops it, or `limit` passes.
fn run(main: &mut EventLoop, limit: Duration) -> ExitStatus {
    let timer = Timer::single_shot(main, limit).expect("timer");
    timer.timeout().connect(main.stop_slot()).expect("connect");
    timer.start();
    main.exec()
}

fn join(process: &mut EventLoopProcess) -> ProcessExit {
    match process
        .join_timeout(Duration::from_secs(20))
        .expect("started")
    {
        Some(exit) => exit,
        None => {
            let _ = process.kill();
            panic!("process `{}` did not end", process.name());
        }
    }
}

fn the_usage_example() {
    let log = Log::default();
    let mut main = EventLoop::new("usage_main").unwrap();
    let probe = probe(&main, &log, 3);
    let source = main.add_with_id("object: a", Source).unwrap();
    let mut background = EventLoopProcess::new("usage_background").unwrap();
    let worker = background.add_with_id("object: b", Worker::new()).unwrap();
    source.text().connect(worker.on_text()).unwrap();
    worker.reply().connect(probe.report()).unwrap();
    source.text().emit("Initial hello from A".to_owned());
    source.text().emit("hello from A".to_owned());
    source.text().emit("hello again".to_owned());
    background.start().unwrap();
    assert!(background.is_alive());
    let child = background.pid().unwrap();
    assert_ne!(child, std::process::id());
    run(&mut main, Duration::from_secs(10));
    assert_eq!(
        log.entries(),
        [
            format!("object: b@{child}:Initial hello from A"),
            format!("object: b@{child}:hello from A"),
            format!("object: b@{child}:hello again"),
        ]
    );
    background.stop();
    let exit = join(&mut background);
    assert!(exit.success(), "{exit}");
    assert_eq!(exit.loop_status(), Some(&ExitStatus::Normal));
    assert!(!background.is_alive());
    assert_eq!(background.exit_code(), Some(0));
}

fn several_objects_in_two_processes_wired_together() {
    let (log, mut main, probe, source) = parent("wired_main", 3);
    let mut first = EventLoopProcess::new("wired_first").unwrap();
    let mut second = EventLoopProcess::new("wired_second").unwrap();
    // The same ids on different loops.
    let a1 = first.add_with_id("a", Worker::new()).unwrap();
    let b1 = first.add_with_id("b", Worker::new()).unwrap();
    let a2 = second.add_with_id("a", Worker::new()).unwrap();
    let b2 = second.add_with_id("b", Worker::new()).unwrap();
    // A chain source → a1 → a2 → b1 → b2 → probe, each hop adding one, back
    // and forth between the processes.
    source.value().connect(a1.forward()).unwrap();
    a1.value_out().connect(a2.forward()).unwrap();
    a2.value_out().connect(b1.forward()).unwrap();
    b1.value_out().connect(b2.forward()).unwrap();
    b2.value_out().connect(probe.report_value()).unwrap();
    // And a text echoed by both objects named `a`, one in each process.
    source.text().connect(a1.on_text()).unwrap();
    source.text().connect(a2.on_text()).unwrap();
    a1.reply().connect(probe.report()).unwrap();
    a2.reply().connect(probe.report()).unwrap();
    first.start().unwrap();
    second.start().unwrap();
    source.value().emit(10);
    source.text().emit("who".to_owned());
    run(&mut main, Duration::from_secs(10));
    let (first_pid, second_pid) = (first.pid().unwrap(), second.pid().unwrap());
    let mut entries = log.entries();
    entries.sort();
    let mut expected = vec![
        format!("a@{first_pid}:who"),
        format!("a@{second_pid}:who"),
        "value 14".to_owned(),
    ];
    expected.sort();
    assert_eq!(entries, expected);
    first.stop();
    second.stop();
    assert!(join(&mut first).success());
    assert!(join(&mut second).success());
}

fn struct_and_map_arguments_cross_processes() {
    let (log, mut main, probe, source) = parent("structs_main", 1);
    let mut child = EventLoopProcess::new("structs_child").unwrap();
    let sink = child.add_with_id("sink", TelemetrySink).unwrap();
    source.telemetry().connect(sink.on_telemetry()).unwrap();
    sink.seen().connect(probe.report()).unwrap();
    child.start().unwrap();
    let frame = Telemetry {
        step: 7,
        position: (1.5, -2.25),
        state: Mode::Moving { speed: 0.5 },
    };
    let tags = BTreeMap::from([
        ("ids".to_owned(), vec![1, -2, 3]),
        ("none".to_owned(), vec![]),
    ]);
    source
        .telemetry()
        .emit(frame.clone(), tags.clone(), Some("ok".to_owned()));
    run(&mut main, Duration::from_secs(10));
    assert_eq!(
        log.entries(),
        [format!("{frame:?} {tags:?} {:?}", Some("ok"))]
    );
    let _ = Mode::Idle;
    child.stop();
    assert!(join(&mut child).success());
}

fn fan_out_order_and_graceful_stop_across_processes() {
    const COUNT: u64 = 20_000;
    let (log, mut main, probe, source) = parent("fifo_main", 4);
    let mut first = EventLoopProcess::new("fifo_first").unwrap();
    let mut second = EventLoopProcess::new("fifo_second").unwrap();
    let receivers = [
        first.add_with_id("one", Worker::new()).unwrap(),
        first.add_with_id("two", Worker::new()).unwrap(),
        second.add_with_id("three", Worker::new()).unwrap(),
    ];
    let observer = main.add_with_id("observer", Worker::new()).unwrap();
    for receiver in &receivers {
        source.value().connect(receiver.on_value()).unwrap();
        // Reports when its loop ends: after everything queued before the stop.
        receiver.reply().connect(probe.report()).unwrap();
    }
    first
        .terminate_signal()
        .connect(receivers[0].report())
        .unwrap();
    first
        .terminate_signal()
        .connect(receivers[1].report())
        .unwrap();
    second
        .terminate_signal()
        .connect(receivers[2].report())
        .unwrap();
    // And the parent hears of the terminations too.
    first
        .terminate_signal()
        .connect(observer.on_terminate())
        .unwrap();
    observer.reply().connect(probe.report()).unwrap();
    first.start().unwrap();
    second.start().unwrap();
    // Half from this thread, half from the source's own slot on the main loop.
    for value in 0..COUNT / 2 {
        source.value().emit(value);
    }
    source
        .value()
        .emit_many((COUNT / 2..COUNT).map(|value| (value,)));
    first.stop();
    second.stop();
    run(&mut main, Duration::from_secs(20));
    let mut entries = log.entries();
    entries.sort();
    assert_eq!(
        entries,
        [
            "observer: terminate".to_owned(),
            format!("one: received={COUNT} out_of_order=0"),
            format!("three: received={COUNT} out_of_order=0"),
            format!("two: received={COUNT} out_of_order=0"),
        ]
    );
    assert!(join(&mut first).success());
    assert!(join(&mut second).success());
    assert_eq!(first.dropped_signals() + second.dropped_signals(), 0);
}

fn connections_at_any_time_between_running_processes() {
    let log = Log::default();
    let barrier = Log::default();
    // The parent's loop runs on a thread, so that this thread can wait.
    let mut main = EventLoopThread::new("anytime_main").unwrap();
    let probe = main
        .add_with_id(
            "probe",
            Probe {
                log: log.clone(),
                expected: usize::MAX,
            },
        )
        .unwrap();
    let gate = main
        .add_with_id(
            "gate",
            Probe {
                log: barrier.clone(),
                expected: usize::MAX,
            },
        )
        .unwrap();
    let source = main.add_with_id("source", Source).unwrap();
    let mut first = EventLoopProcess::new("anytime_first").unwrap();
    let mut second = EventLoopProcess::new("anytime_second").unwrap();
    let w1 = first.add_with_id("w1", Worker::new()).unwrap();
    let w2 = second.add_with_id("w2", Worker::new()).unwrap();
    main.start().unwrap();
    first.start().unwrap();
    second.start().unwrap();
    // Created after the others run: they learn its route, as does the
    // thread loop created even later.
    let mut third = EventLoopProcess::new("anytime_third").unwrap();
    let w3 = third.add_with_id("w3", Worker::new()).unwrap();
    third.start().unwrap();
    let mut late_thread = EventLoopThread::new("anytime_thread").unwrap();
    let relay = late_thread.add_with_id("relay", Worker::new()).unwrap();
    late_thread.start().unwrap();

    // Parent to child, child to child (both ways round), child to a thread
    // of the parent, thread to the parent's main loop: all made now.
    source.value().connect(w1.forward()).unwrap();
    w1.value_out().connect(w2.forward()).unwrap();
    w2.value_out().connect(w3.forward()).unwrap();
    w3.value_out().connect(relay.forward()).unwrap();
    relay.value_out().connect(probe.report_value()).unwrap();
    // Child to parent.
    w1.reply().connect(probe.report()).unwrap();
    source.text().connect(w1.on_text()).unwrap();
    // A connection of an emitter in another process takes effect in order
    // with what this process sends there later: a round trip to each
    // process shows that the changes above are in place everywhere.
    for worker in [&w2, &w3] {
        worker.reply().connect(gate.report()).unwrap();
        worker.report().invoke(()).unwrap();
    }
    assert!(
        barrier.wait_for(2, Duration::from_secs(10)),
        "{:?}",
        barrier.entries()
    );

    source.value().emit(100);
    source.text().emit("first".to_owned());
    // Disconnected before w1 handles the next text: its reply to that goes
    // nowhere, and the value it forwards after it still arrives.
    w1.reply().disconnect(probe.report()).unwrap();
    source.text().emit("unheard".to_owned());
    w1.value_out().connect(probe.report_value()).unwrap();
    source.value().emit(200);
    assert!(
        log.wait_for(4, Duration::from_secs(10)),
        "{:?}",
        log.entries()
    );
    // Whatever else arrives comes before the marker that follows it.
    source.text().connect(gate.report()).unwrap();
    source.text().emit("done".to_owned());
    assert!(barrier.wait_for(3, Duration::from_secs(10)));
    let mut entries = log.entries();
    entries.sort();
    let w1_pid = first.pid().unwrap();
    assert_eq!(
        entries,
        [
            "value 104".to_owned(),
            "value 201".to_owned(),
            "value 204".to_owned(),
            format!("w1@{w1_pid}:first"),
        ]
    );
    for process in [&mut first, &mut second, &mut third] {
        process.stop();
        assert!(join(process).success());
    }
    late_thread.stop();
    late_thread.join().unwrap();
    main.stop();
    main.join().unwrap();
}

fn a_killed_receiver_is_reported_and_costs_nothing() {
    let (log, mut main, probe, source) = parent("killed_main", 1);
    let mut victim = EventLoopProcess::new("killed_victim").unwrap();
    let worker = victim.add_with_id("w", Worker::new()).unwrap();
    source.value().connect(worker.on_value()).unwrap();
    victim.finished().connect(probe.on_exit()).unwrap();
    victim.start().unwrap();
    for value in 0..100 {
        source.value().emit(value);
    }
    victim.kill().unwrap();
    run(&mut main, Duration::from_secs(10));
    assert_eq!(log.entries(), ["exit: killed by SIGKILL (9)"]);
    let exit = victim
        .exit()
        .expect("finished was emitted after the exit was recorded");
    assert_eq!(
        exit,
        ProcessExit::Signaled {
            signal: 9,
            name: "SIGKILL".to_owned()
        }
    );
    assert!(!victim.is_alive());
    // Emitting to the dead process neither blocks nor fails: it counts.
    let before = victim.dropped_signals();
    let started = Instant::now();
    let ((), logs) = common::capture_logs(|| {
        for value in 0..10_000 {
            source.value().emit(value);
        }
    });
    assert!(started.elapsed() < Duration::from_secs(2));
    // All 10,000 count; so may, a moment late, those of the 100 sent before
    // the kill that its outbox still held when it found the process gone.
    let dropped = victim.dropped_signals() - before;
    assert!((10_000..=10_100).contains(&dropped), "{dropped} dropped");
    // Reported at most once a second per loop: here, or just before (when
    // the outbox found the process gone) in the shared log.
    let report = "on event loop `killed_victim`: it has ended or its process is gone";
    assert!(logs.contains(report) || logged().contains(report), "{logs}");
}

fn undecodable_payloads_are_reported_and_the_loop_goes_on() {
    let (log, mut main, probe, source) = parent("garbled_main", 1);
    let mut child = EventLoopProcess::new("garbled_child").unwrap();
    let worker = child.add_with_id("w", Worker::new()).unwrap();
    worker.reply().connect(probe.report()).unwrap();
    source.text().connect(worker.on_text()).unwrap();
    child.start().unwrap();
    // A handle that takes `w` for a `TelemetrySink`: its slot 0 is `on_value`
    // in truth, which cannot decode telemetry.
    let wrong = child.object::<TelemetrySink>("w").unwrap();
    source.telemetry().connect(wrong.on_telemetry()).unwrap();
    let frame = Telemetry {
        step: 1,
        position: (0.0, 0.0),
        state: Mode::Idle,
    };
    source.telemetry().emit(frame, BTreeMap::new(), None);
    source.text().emit("still here".to_owned());
    run(&mut main, Duration::from_secs(10));
    assert_eq!(
        log.entries(),
        [format!("w@{}:still here", child.pid().unwrap())]
    );
    assert!(
        wait_for_log(
            "signal `telemetry` from `source` not delivered to `w.on_value` on event loop `garbled_child`"
        ),
        "{}",
        logged()
    );
    child.stop();
    assert!(join(&mut child).success());
}

fn a_panicking_slot_in_a_child_ends_it_with_the_failure() {
    let (log, mut main, probe, source) = parent("child_panic_main", 1);
    let mut child = EventLoopProcess::new("child_panic").unwrap();
    let worker = child.add_with_id("w", Worker::new()).unwrap();
    source.value().connect(worker.explode()).unwrap();
    child.finished().connect(probe.on_exit()).unwrap();
    child.start().unwrap();
    source.value().emit(5);
    run(&mut main, Duration::from_secs(10));
    let exit = child.exit().expect("ended");
    assert_eq!(exit.code(), Some(70));
    let Some(ExitStatus::SlotFailed(failure)) = exit.loop_status() else {
        panic!("{exit:?}");
    };
    assert_eq!(
        (
            failure.event_loop.as_str(),
            failure.object.as_str(),
            failure.slot.as_str()
        ),
        ("child_panic", "w", "explode")
    );
    assert_eq!(failure.emitter.as_deref(), Some("source"));
    assert_eq!(failure.message, "worker cannot take 5");
    assert_eq!(log.len(), 1);
    assert!(log.entries()[0].starts_with("exit: exited with code 70"));
}

/// Floods a loop with big and small payloads.
#[event_loop_object]
struct Flooder;

#[event_loop_object]
impl Flooder {
    #[signal]
    fn big(values: Vec<u64>);

    #[signal]
    fn small(value: u64);

    #[signal]
    fn flooded();

    #[slot]
    fn flood(&mut self, ctx: &mut Context<Self>) {
        for _ in 0..100 {
            ctx.big().emit(vec![7; 100_000]);
        }
        for value in 0..5_000 {
            ctx.small().emit(value);
        }
        ctx.flooded().emit();
    }
}

/// Counts the flood, and reports when asked.
#[event_loop_object]
struct FloodCounter {
    big: u64,
    small: u64,
}

#[event_loop_object]
impl FloodCounter {
    #[signal]
    fn counted(text: String);

    #[slot]
    fn on_big(&mut self, values: Vec<u64>) {
        assert_eq!(values.len(), 100_000);
        self.big += 1;
    }

    #[slot]
    fn on_small(&mut self, _value: u64) {
        self.small += 1;
    }

    #[slot]
    fn report(&mut self, ctx: &mut Context<Self>) {
        let text = format!("{}: big={} small={}", ctx.id(), self.big, self.small);
        ctx.counted().emit(text);
    }
}

fn a_flood_before_the_receiver_starts() {
    let log = Log::default();
    let mut main = EventLoop::new("flood_main").unwrap();
    let probe = probe(&main, &log, 2);
    let flooder = main.add_with_id("flooder", Flooder).unwrap();
    let mut sender = EventLoopProcess::new("flood_sender").unwrap();
    let remote_flooder = sender.add_with_id("remote_flooder", Flooder).unwrap();
    // The parent floods one receiver whose inbox holds 1,000 messages; the
    // first child floods another; neither receiver has started.
    let mut tight =
        EventLoopProcess::with_options(EventLoop::builder("flood_tight").capacity(1_000)).unwrap();
    let mut roomy = EventLoopProcess::new("flood_roomy").unwrap();
    let tight_counter = tight
        .add_with_id("tight", FloodCounter { big: 0, small: 0 })
        .unwrap();
    let roomy_counter = roomy
        .add_with_id("roomy", FloodCounter { big: 0, small: 0 })
        .unwrap();
    flooder.big().connect(tight_counter.on_big()).unwrap();
    flooder.small().connect(tight_counter.on_small()).unwrap();
    remote_flooder
        .big()
        .connect(roomy_counter.on_big())
        .unwrap();
    remote_flooder
        .small()
        .connect(roomy_counter.on_small())
        .unwrap();
    for counter in [&tight_counter, &roomy_counter] {
        counter.counted().connect(probe.report()).unwrap();
    }
    // The child reports once its flood was handled (the report request comes
    // from the same emitter, after the flood).
    remote_flooder
        .flooded()
        .connect(roomy_counter.report())
        .unwrap();
    sender.start().unwrap();
    remote_flooder.flood().invoke(()).unwrap();
    flooder.flood().invoke(()).unwrap();
    // Runs the parent's flood, into a queue that holds 1,000 messages.
    main.process_events();
    let dropped = tight.dropped_signals();
    assert!(dropped > 4_000, "{dropped} dropped");
    // An invocation is never dropped for a full inbox: it comes after the
    // flood.
    tight_counter.report().invoke(()).unwrap();
    tight.start().unwrap();
    roomy.start().unwrap();
    run(&mut main, Duration::from_secs(30));
    let mut entries = log.entries();
    entries.sort();
    assert_eq!(
        entries,
        [
            "roomy: big=100 small=5000".to_owned(),
            format!("tight: big=100 small={}", 5_000 - dropped),
        ]
    );
    for process in [&mut sender, &mut tight, &mut roomy] {
        process.stop();
        assert!(join(process).success());
    }
}

fn a_child_that_exits_early_is_seen_by_its_parent() {
    let (log, mut main, probe, source) = parent("early_main", 1);
    let mut child = EventLoopProcess::new("early_child")
        .unwrap()
        .init(|_| panic!("no configuration found"));
    let worker = child.add_with_id("w", Worker::new()).unwrap();
    source.value().connect(worker.on_value()).unwrap();
    child.finished().connect(probe.on_exit()).unwrap();
    child.start().unwrap();
    run(&mut main, Duration::from_secs(10));
    assert_eq!(
        log.entries(),
        ["exit: exited with code 71 (the init function failed: no configuration found)"]
    );
    assert_eq!(child.exit_code(), Some(71));
    assert!(!child.is_alive());
    source.value().emit(1);
    assert_eq!(child.dropped_signals(), 1);
}

fn process_control() {
    let mut idle = EventLoopProcess::new("control_idle").unwrap();
    assert!(matches!(
        idle.join(),
        Err(signal_slot::Error::NotStarted(_))
    ));
    assert!(matches!(
        idle.kill(),
        Err(signal_slot::Error::NotStarted(_))
    ));
    assert_eq!(
        (idle.pid(), idle.is_alive(), idle.name()),
        (None, false, "control_idle")
    );
    idle.start().unwrap();
    assert!(matches!(
        idle.start(),
        Err(signal_slot::Error::AlreadyStarted(_))
    ));
    assert!(idle.is_alive());
    assert_eq!(idle.join_timeout(Duration::from_millis(50)).unwrap(), None);
    idle.terminate().unwrap();
    let exit = join(&mut idle);
    assert_eq!(
        exit,
        ProcessExit::Signaled {
            signal: 15,
            name: "SIGTERM".to_owned()
        }
    );
    assert_eq!(idle.exit_code(), None);
    assert!(
        idle.kill().is_ok(),
        "signalling an ended process does nothing"
    );
    // The name is free again once the handle is gone.
    drop(idle);
    let mut again = EventLoopProcess::new("control_idle").unwrap();
    again.start().unwrap();
    // Dropping a running process stops it.
    let pid = again.pid().unwrap();
    drop(again);
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

fn emitting_on_behalf_of_an_object_in_a_child() {
    let log = Log::default();
    let mut main = EventLoop::new("behalf_main").unwrap();
    let probe = probe(&main, &log, 2);
    let mut child = EventLoopProcess::new("behalf_child").unwrap();
    let worker = child.add_with_id("w", Worker::new()).unwrap();
    child.start().unwrap();
    // Connected after the start: the connection lives in the child, and an
    // emission from here goes through it.
    worker.reply().connect(probe.report()).unwrap();
    worker.reply().emit("from the parent".to_owned());
    worker.reply().emit_many(vec![("batch".to_owned(),)]);
    run(&mut main, Duration::from_secs(10));
    assert_eq!(log.entries(), ["from the parent", "batch"]);
    child.stop();
    assert!(join(&mut child).success());
}

fn serial_processes_run_on_this_thread() {
    let (log, mut main, probe, source) = parent("serial_proc_main", 2);
    let init_log = log.clone();
    let mut child = EventLoopProcess::new_serial("serial_proc_child")
        .unwrap()
        .init(move |event_loop| init_log.push(format!("init on {}", event_loop.name())));
    let worker = child.add_with_id("w", Worker::new()).unwrap();
    source.text().connect(worker.on_text()).unwrap();
    worker.reply().connect(probe.report()).unwrap();
    child.start().unwrap();
    source.text().emit("hi".to_owned());
    run(&mut main, Duration::from_secs(10));
    assert_eq!(
        log.entries(),
        [
            "init on serial_proc_child".to_owned(),
            format!("w@{}:hi", std::process::id())
        ]
    );
    child.stop();
    let exit = child.join().unwrap();
    assert!(exit.success());
}

/// Created in a child by its init function: counts ticks of a timer there,
/// and broadcasts when done.
#[event_loop_object]
struct TickCounter {
    ticks: u32,
}

#[event_loop_object]
impl TickCounter {
    #[signal]
    fn done(text: String);

    #[slot]
    fn on_tick(&mut self, ctx: &mut Context<Self>) {
        self.ticks += 1;
        if self.ticks == 5 {
            ctx.done()
                .emit(format!("{} ticks in {}", self.ticks, std::process::id()));
        }
    }
}

fn timers_broadcasts_and_loop_signals_in_a_child() {
    let log = Log::default();
    let mut main = EventLoop::new("child_timer_main").unwrap();
    let probe = probe(&main, &log, 2);
    let heard = Log::default();
    let listener = main
        .add_with_id(
            "listener",
            Probe {
                log: heard.clone(),
                expected: 0,
            },
        )
        .unwrap();
    listener.subscribe("done", listener.report()).unwrap();
    let main_handle = main.handle();
    let probe_in_child = probe.clone();
    let mut child = EventLoopProcess::new("child_timer")
        .unwrap()
        .init(move |event_loop| {
            let counter = event_loop
                .add_with_id("counter", TickCounter { ticks: 0 })
                .unwrap();
            let timer = Timer::new(event_loop, Duration::from_millis(5)).unwrap();
            timer.timeout().connect(counter.on_tick()).unwrap();
            timer.start();
            // To the parent: a direct connection and a broadcast on its loop.
            counter.done().connect(probe_in_child.report()).unwrap();
            counter.done().broadcast_on(&main_handle).unwrap();
        });
    let started = main.add_with_id("started", Worker::new()).unwrap();
    child
        .start_signal()
        .connect(started.on_terminate())
        .unwrap();
    started.reply().connect(probe.report()).unwrap();
    child.start().unwrap();
    run(&mut main, Duration::from_secs(10));
    let pid = child.pid().unwrap();
    let mut entries = log.entries();
    entries.sort();
    assert_eq!(
        entries,
        [format!("5 ticks in {pid}"), "started: terminate".to_owned()]
    );
    // The broadcast went out with the direct emission, before it.
    assert_eq!(heard.entries(), [format!("5 ticks in {pid}")]);
    child.stop();
    assert!(join(&mut child).success());
}

fn main() {
    let tests: Vec<(&'static str, fn())> = vec![
        ("the_usage_example", the_usage_example),
        (
            "several_objects_in_two_processes_wired_together",
            several_objects_in_two_processes_wired_together,
        ),
        (
            "struct_and_map_arguments_cross_processes",
            struct_and_map_arguments_cross_processes,
        ),
        (
            "fan_out_order_and_graceful_stop_across_processes",
            fan_out_order_and_graceful_stop_across_processes,
        ),
        (
            "connections_at_any_time_between_running_processes",
            connections_at_any_time_between_running_processes,
        ),
        (
            "a_killed_receiver_is_reported_and_costs_nothing",
            a_killed_receiver_is_reported_and_costs_nothing,
        ),
        (
            "undecodable_payloads_are_reported_and_the_loop_goes_on",
            undecodable_payloads_are_reported_and_the_loop_goes_on,
        ),
        (
            "a_panicking_slot_in_a_child_ends_it_with_the_failure",
            a_panicking_slot_in_a_child_ends_it_with_the_failure,
        ),
        (
            "a_flood_before_the_receiver_starts",
            a_flood_before_the_receiver_starts,
        ),
        (
            "a_child_that_exits_early_is_seen_by_its_parent",
            a_child_that_exits_early_is_seen_by_its_parent,
        ),
        ("process_control", process_control),
        (
            "emitting_on_behalf_of_an_object_in_a_child",
            emitting_on_behalf_of_an_object_in_a_child,
        ),
        (
            "serial_processes_run_on_this_thread",
            serial_processes_run_on_this_thread,
        ),
        (
            "timers_broadcasts_and_loop_signals_in_a_child",
            timers_broadcasts_and_loop_signals_in_a_child,
        ),
    ];
    harness::run(
        "process",
        tests
            .into_iter()
            .map(|(name, test)| Test::new(name, test))
            .collect(),
    )
}
