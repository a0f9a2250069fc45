//! Behaviour across real child processes, through the public API only.
//!
//! A test binary of its own with its own harness: the tests fork, so they run
//! one at a time on one thread, each under a watchdog that aborts the binary
//! (and with it, through the parent-death signal, its children) if a test
//! hangs.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc;
use std::time::Duration;

use common::Log;
use serde::{Deserialize, Serialize};
use signal_slot::{
    Context, EventLoop, EventLoopProcess, ExitStatus, ProcessExit, Timer, event_loop_object,
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
        let sender = ctx
            .sender()
            .map(|sender| sender.id().to_owned())
            .unwrap_or_default();
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
    let probe = main
        .add_with_id(
            "probe",
            Probe {
                log: log.clone(),
                expected: 3,
            },
        )
        .unwrap();
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
    let log = Log::default();
    let mut main = EventLoop::new("wired_main").unwrap();
    let probe = main
        .add_with_id(
            "probe",
            Probe {
                log: log.clone(),
                expected: 3,
            },
        )
        .unwrap();
    let source = main.add_with_id("source", Source).unwrap();
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
    let log = Log::default();
    let mut main = EventLoop::new("structs_main").unwrap();
    let probe = main
        .add_with_id(
            "probe",
            Probe {
                log: log.clone(),
                expected: 1,
            },
        )
        .unwrap();
    let source = main.add_with_id("source", Source).unwrap();
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
    let log = Log::default();
    let mut main = EventLoop::new("fifo_main").unwrap();
    let probe = main
        .add_with_id(
            "probe",
            Probe {
                log: log.clone(),
                expected: 4,
            },
        )
        .unwrap();
    let source = main.add_with_id("source", Source).unwrap();
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

fn main() {
    // `RUST_LOG=debug` shows what the library reports, children included.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let mut args = libtest_mimic::Arguments::from_args();
    // Forking tests run one at a time, on the main thread.
    args.test_threads = Some(1);
    let tests: Vec<(&str, fn())> = vec![
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
    ];
    let trials = tests
        .into_iter()
        .map(|(name, test)| {
            libtest_mimic::Trial::test(name, move || {
                let _watchdog = Watchdog::new(name, Duration::from_secs(60));
                test();
                Ok(())
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

/// Aborts the test binary if a test runs past its limit.
struct Watchdog(Option<mpsc::Sender<()>>);

impl Watchdog {
    fn new(name: &'static str, limit: Duration) -> Self {
        let (done, wait) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(limit) {
                eprintln!("test `{name}` still runs after {limit:?}: aborting");
                std::process::abort();
            }
        });
        Watchdog(Some(done))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.take();
    }
}
