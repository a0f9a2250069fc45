//! Faults of a child process: killed, sent what it cannot decode, a panicking
//! slot, an inbox flooded before it starts, an init function that fails.

use std::time::{Duration, Instant};

use crate::common::harness::{logged, wait_for_log};
use crate::common::process::{TelemetrySink, Worker, join, parent, probe, run};
use crate::common::{Log, capture_logs};
use signal_slot::{
    Context, EventLoop, EventLoopProcess, ExitStatus, ProcessExit, event_loop_object,
};

pub fn a_killed_receiver_is_reported_and_costs_nothing() {
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
    let ((), logs) = capture_logs(|| {
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

/// Written by one version of a type, read by another: a count on the way
/// out, text on the way in.
#[derive(Debug, Clone)]
pub struct Skewed;

impl serde::Serialize for Skewed {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(7)
    }
}

impl<'de> serde::Deserialize<'de> for Skewed {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|_| Skewed)
    }
}

#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
struct SkewSource;

#[event_loop_object]
impl SkewSource {
    #[signal]
    fn skewed(value: Skewed);
}

#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
struct SkewSink;

#[event_loop_object]
impl SkewSink {
    #[slot]
    fn on_skewed(&mut self, value: Skewed) {
        let _ = value;
    }
}

pub fn undecodable_payloads_are_reported_and_the_loop_goes_on() {
    let (log, mut main, probe, source) = parent("garbled_main", 1);
    let skew = main.add_with_id("skew", SkewSource).unwrap();
    let mut child = EventLoopProcess::new("garbled_child").unwrap();
    let worker = child.add_with_id("w", Worker::new()).unwrap();
    let sink = child.add_with_id("sink", SkewSink).unwrap();
    worker.reply().connect(probe.report()).unwrap();
    source.text().connect(worker.on_text()).unwrap();
    skew.skewed().connect(sink.on_skewed()).unwrap();
    child.start().unwrap();
    // A handle that takes `w` for what it is not is refused: a connection
    // to the wrong slot is not even made.
    let wrong = child.object::<TelemetrySink>("w").unwrap_err();
    assert!(
        wrong
            .to_string()
            .contains("`w` on event loop `garbled_child` is a `Worker`, not a `TelemetrySink`"),
        "{wrong}"
    );
    skew.skewed().emit(Skewed);
    source.text().emit("still here".to_owned());
    run(&mut main, Duration::from_secs(10));
    assert_eq!(
        log.entries(),
        [format!("w@{}:still here", child.pid().unwrap())]
    );
    assert!(
        wait_for_log(
            "signal `skewed` from `skew` not delivered to `sink.on_skewed` on event loop `garbled_child`"
        ),
        "{}",
        logged()
    );
    child.stop();
    assert!(join(&mut child).success());
}

pub fn a_panicking_slot_in_a_child_ends_it_with_the_failure() {
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
#[derive(serde::Serialize, serde::Deserialize)]
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
#[derive(serde::Serialize, serde::Deserialize)]
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

pub fn a_flood_before_the_receiver_starts() {
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
    // Room for the whole flood (80 MB), whenever it starts.
    let mut roomy =
        EventLoopProcess::with_options(EventLoop::builder("flood_roomy").inbox_bytes(128 << 20))
            .unwrap();
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

pub fn a_child_that_exits_early_is_seen_by_its_parent() {
    let (log, mut main, probe, source) = parent("early_main", 1);
    let mut child = EventLoopProcess::new("early_child")
        .unwrap()
        .init_with(fail_to_configure, ());
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

#[signal_slot::init]
fn fail_to_configure(_event_loop: &signal_slot::LoopHandle) {
    panic!("no configuration found");
}

/// Panics when dropped.
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
struct DropBomb;

impl Drop for DropBomb {
    fn drop(&mut self) {
        panic!("cannot let go");
    }
}

#[event_loop_object]
impl DropBomb {}

pub fn a_panicking_drop_in_a_child_stays_in_the_child() {
    let mut bomber = EventLoopProcess::new("drop_bomber").unwrap();
    let mut sibling = EventLoopProcess::new("drop_sibling").unwrap();
    bomber.add_with_id("bomb", DropBomb).unwrap();
    sibling.add_with_id("w", Worker::new()).unwrap();
    // The parent's copy goes when the child starts: its `Drop` panics here
    // too, and is reported, not raised.
    bomber.start().unwrap();
    sibling.start().unwrap();
    bomber.stop();
    let exit = join(&mut bomber);
    assert!(exit.success(), "{exit}");
    assert!(wait_for_log(
        "dropping object `bomb` panicked: cannot let go"
    ));
    // The sibling lives on: the panic did not run the parent's code in the
    // child (which would stop or kill its siblings).
    assert!(sibling.is_alive());
    sibling.stop();
    assert!(join(&mut sibling).success());
}

/// Serializes by panicking when asked to; deserializes by panicking when
/// it reads `13`.
#[derive(Debug, Clone)]
pub struct Touchy(u32);

impl serde::Serialize for Touchy {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0 == 666 {
            panic!("will not serialize 666");
        }
        serializer.serialize_u32(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Touchy {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = u32::deserialize(deserializer)?;
        if value == 13 {
            panic!("will not deserialize 13");
        }
        Ok(Touchy(value))
    }
}

/// A list linked by boxes, as deep as it is long.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Chain(Option<Box<Chain>>);

impl Chain {
    fn of_length(length: usize) -> Chain {
        let mut chain = Chain(None);
        for _ in 1..length {
            chain = Chain(Some(Box::new(chain)));
        }
        chain
    }
}

impl Drop for Chain {
    /// Without recursing.
    fn drop(&mut self) {
        let mut next = self.0.take();
        while let Some(mut node) = next {
            next = node.0.take();
        }
    }
}

#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
struct OddSource;

#[event_loop_object]
impl OddSource {
    #[signal]
    fn touchy(value: Touchy);

    #[signal]
    fn chain(value: Chain);
}

#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
struct OddSink;

#[event_loop_object]
impl OddSink {
    #[signal]
    fn said(text: String);

    #[slot]
    fn on_touchy(&mut self, ctx: &mut Context<Self>, value: Touchy) {
        ctx.said().emit(format!("touchy {}", value.0));
    }

    #[slot]
    fn on_chain(&mut self, ctx: &mut Context<Self>, value: Chain) {
        let _ = value;
        ctx.said().emit("chain".to_owned());
    }
}

pub fn user_serde_code_that_fails_is_contained_both_ways() {
    let (log, mut main, probe, _source) = parent("odd_main", 3);
    let source = main.add_with_id("odd_source", OddSource).unwrap();
    // Drops are reported at most once a second per loop: each kind of
    // failure goes to a loop of its own, so that each is reported.
    let mut child = EventLoopProcess::new("odd_child").unwrap();
    let mut deep_child = EventLoopProcess::new("odd_deep_child").unwrap();
    let sink = child.add_with_id("sink", OddSink).unwrap();
    let deep_sink = deep_child.add_with_id("sink", OddSink).unwrap();
    source.touchy().connect(sink.on_touchy()).unwrap();
    source.chain().connect(deep_sink.on_chain()).unwrap();
    sink.said().connect(probe.report()).unwrap();
    deep_sink.said().connect(probe.report()).unwrap();
    child.start().unwrap();
    deep_child.start().unwrap();
    let emitted = std::thread::Builder::new()
        // The default stack of a thread: 2 MiB.
        .stack_size(2 << 20)
        .spawn({
            let source = source.clone();
            move || {
                // Its `Serialize` panics: dropped and counted here.
                source.touchy().emit(Touchy(666));
                // Deeper than another process decodes: refused, not a stack
                // overflow.
                source.chain().emit(Chain::of_length(50_000));
                // Its `Deserialize` panics in the child: reported there.
                source.touchy().emit(Touchy(13));
                source.touchy().emit(Touchy(1));
                source.chain().emit(Chain::of_length(10));
                source.touchy().emit(Touchy(2));
            }
        })
        .unwrap()
        .join();
    assert!(emitted.is_ok(), "the emitting thread survived");
    run(&mut main, Duration::from_secs(10));
    let mut entries = log.entries();
    entries.sort();
    assert_eq!(entries, ["chain", "touchy 1", "touchy 2"]);
    assert_eq!(child.dropped_signals(), 1);
    assert_eq!(deep_child.dropped_signals(), 1);
    assert!(wait_for_log("will not serialize 666"));
    assert!(wait_for_log("nested deeper than 1024 levels"));
    assert!(wait_for_log("the `Deserialize` of"));
    assert!(wait_for_log("will not deserialize 13"));
    // The children are alive and well: a failing encoder is not a dead
    // process.
    for process in [&mut child, &mut deep_child] {
        assert!(process.is_alive());
        process.stop();
        let exit = join(process);
        assert!(exit.success(), "{exit}");
    }
}
