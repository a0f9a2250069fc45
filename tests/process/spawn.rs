//! What the spawn start method adds: what travels to a fresh run of the
//! executable (objects' state, init functions by name with their
//! arguments), and what cannot, which `start` refuses with an error that
//! names it, leaving everything as it was.

use std::time::{Duration, Instant};

use crate::common::process::{Worker, join, parent, run};
use signal_slot::{Context, EventLoopProcess, LoopHandle, StartMethod, event_loop_object};

/// Counts from where it was left, and says in which process.
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
struct Tally {
    count: u64,
    label: String,
}

#[event_loop_object]
impl Tally {
    #[signal]
    fn counted(text: String);

    #[slot]
    fn bump(&mut self, ctx: &mut Context<Self>) {
        self.count += 1;
        let text = format!("{} {} in {}", self.label, self.count, std::process::id());
        ctx.counted().emit(text);
    }
}

/// Holds what cannot travel: an instant of this process's clock.
#[event_loop_object]
struct Stopwatch {
    started: Instant,
}

#[event_loop_object]
impl Stopwatch {
    #[signal]
    fn lap(text: String);

    #[slot]
    fn read(&mut self, ctx: &mut Context<Self>) {
        let text = format!("lap after {:?}", self.started.elapsed() >= Duration::ZERO);
        ctx.lap().emit(text);
    }
}

#[signal_slot::init]
fn add_tally(event_loop: &LoopHandle, label: String, count: u64) {
    event_loop
        .add_with_id("made_there", Tally { count, label })
        .expect("a fresh id");
}

pub fn object_state_and_init_arguments_reach_a_spawned_child() {
    let (log, mut main, probe, source) = parent("travel_main", 2);
    let mut child = EventLoopProcess::new("travel_child")
        .unwrap()
        .start_method(StartMethod::Spawn)
        .init_with(add_tally, ("born there".to_owned(), 9));
    let tally = child
        .add_with_id(
            "moved",
            Tally {
                count: 41,
                label: "moved".to_owned(),
            },
        )
        .unwrap();
    tally.counted().connect(probe.report()).unwrap();
    source.event().connect(tally.bump()).unwrap();
    // Queued before the start: it travels with the loop.
    source.event().emit();
    child.start().unwrap();
    assert_eq!(child.method(), StartMethod::Spawn);
    // An object the init function made there, reached by name.
    let made_there = child.object::<Tally>("made_there").unwrap();
    made_there.counted().connect(probe.report()).unwrap();
    made_there.bump().invoke(()).unwrap();
    run(&mut main, Duration::from_secs(20));
    let pid = child.pid().unwrap();
    let mut entries = log.entries();
    entries.sort();
    assert_eq!(
        entries,
        [
            format!("born there 10 in {pid}"),
            format!("moved 42 in {pid}")
        ]
    );
    child.stop();
    assert!(join(&mut child).success());
}

pub fn what_cannot_travel_fails_at_start_and_changes_nothing() {
    let (log, mut main, probe, source) = parent("stays_main", 1);
    let mut child = EventLoopProcess::new("stays_child")
        .unwrap()
        .start_method(StartMethod::Spawn);
    let stopwatch = child
        .add_with_id(
            "stopwatch",
            Stopwatch {
                started: Instant::now(),
            },
        )
        .unwrap();
    stopwatch.lap().connect(probe.report()).unwrap();
    source.event().connect(stopwatch.read()).unwrap();
    source.event().emit();
    let error = child.start().unwrap_err().to_string();
    assert!(
        error.contains("`stopwatch`")
            && error.contains("Stopwatch")
            && error.contains("does not implement `Serialize` and `Deserialize`"),
        "{error}"
    );
    assert!(!child.is_alive());
    assert!(child.pid().is_none());
    // Nothing changed: forked, the same process runs the object and gets
    // the signal queued before the failed start.
    if cfg!(target_os = "linux") {
        let mut child = child.start_method(StartMethod::Fork);
        child.start().unwrap();
        run(&mut main, Duration::from_secs(20));
        assert_eq!(log.entries(), ["lap after true"]);
        child.stop();
        assert!(join(&mut child).success());
    }
}

/// A spawn start refused for an object that cannot travel goes once that
/// object is detached (by `detach` or `detach_now`), and the rest travels.
pub fn a_refused_spawn_start_is_fixed_by_detaching_what_cannot_travel() {
    let (log, mut main, probe, source) = parent("fixed_main", 1);
    let mut child = EventLoopProcess::new("fixed_child")
        .unwrap()
        .start_method(StartMethod::Spawn);
    let first = child
        .add_with_id(
            "first",
            Stopwatch {
                started: Instant::now(),
            },
        )
        .unwrap();
    let second = child
        .add_with_id(
            "second",
            Stopwatch {
                started: Instant::now(),
            },
        )
        .unwrap();
    let worker = child.add_with_id("worker", Worker::new()).unwrap();
    source.text().connect(worker.on_text()).unwrap();
    worker.reply().connect(probe.report()).unwrap();
    let error = child.start().unwrap_err().to_string();
    assert!(error.contains("`first`"), "{error}");
    first.detach().unwrap();
    let error = child.start().unwrap_err().to_string();
    assert!(error.contains("`second`"), "{error}");
    second.detach_now().unwrap();
    child.start().unwrap();
    source.text().emit("travelled".to_owned());
    run(&mut main, Duration::from_secs(20));
    let entries = log.entries();
    assert_eq!(entries.len(), 1);
    assert!(entries[0].ends_with(":travelled"), "{entries:?}");
    child.stop();
    assert!(join(&mut child).success());
}

/// A tally labelled with the arguments its program was run with.
#[signal_slot::init]
fn add_arguments_tally(event_loop: &LoopHandle) {
    let label: Vec<String> = std::env::args().skip(1).collect();
    event_loop
        .add_with_id(
            "arguments",
            Tally {
                count: 0,
                label: label.join(" "),
            },
        )
        .expect("a fresh id");
}

pub fn a_spawned_child_runs_the_program_and_arguments_it_is_given() {
    let (log, mut main, probe, _source) = parent("program_main", 1);
    // This test program, as another program would be: its `main` calls
    // `init_process` first, whatever its arguments.
    let program = std::env::current_exe().unwrap();
    let mut child = EventLoopProcess::new("program_child")
        .unwrap()
        .spawn_program(&program, ["--given-by", "the parent"])
        .init_with(add_arguments_tally, ());
    assert_eq!(child.method(), StartMethod::Spawn);
    child.start().unwrap();
    let tally = child.object::<Tally>("arguments").unwrap();
    tally.counted().connect(probe.report()).unwrap();
    tally.bump().invoke(()).unwrap();
    run(&mut main, Duration::from_secs(20));
    let pid = child.pid().unwrap();
    assert_eq!(log.entries(), [format!("--given-by the parent 1 in {pid}")]);
    child.stop();
    assert!(join(&mut child).success());

    // A program that cannot be run: an error that names it, nothing
    // started.
    let mut missing = EventLoopProcess::new("program_missing")
        .unwrap()
        .spawn_program("/nonexistent/signal-slot-worker", ["--x"]);
    let error = missing.start().unwrap_err();
    assert!(matches!(error, signal_slot::Error::Io { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("/nonexistent/signal-slot-worker"),
        "{error}"
    );
    assert!(!missing.is_alive() && missing.pid().is_none());

    // A program that ends without taking its role: an error that says so.
    if cfg!(unix) {
        let mut other = EventLoopProcess::new("program_other")
            .unwrap()
            .spawn_program("sh", ["-c", "exit 0"]);
        let error = other.start().unwrap_err().to_string();
        assert!(
            error.contains("before taking its role") && error.contains("init_process"),
            "{error}"
        );
        assert!(other.pid().is_none());
    }

    // A program to run, but the start method set back to fork: refused.
    let mut forked = EventLoopProcess::new("program_forked")
        .unwrap()
        .spawn_program(&program, ["--x"])
        .start_method(StartMethod::Fork);
    let error = forked.start().unwrap_err().to_string();
    assert!(error.contains("spawn_program"), "{error}");
    assert!(forked.pid().is_none());
}

pub fn a_closure_init_cannot_travel_and_says_so() {
    let mut child = EventLoopProcess::new("closure_child")
        .unwrap()
        .start_method(StartMethod::Spawn)
        .init(|_| {});
    let error = child.start().unwrap_err().to_string();
    assert!(
        error.contains("closure") && error.contains("#[signal_slot::init]"),
        "{error}"
    );
    assert!(child.pid().is_none());
}

/// On a thread of its own inside a learner process: gathers values, from
/// anywhere, and reports them in pairs.
#[event_loop_object]
struct Batcher {
    values: Vec<u64>,
}

#[event_loop_object]
impl Batcher {
    #[signal]
    fn batched(text: String);

    #[slot]
    fn ready(&mut self, ctx: &mut Context<Self>) {
        ctx.batched().emit("batcher ready".to_owned());
    }

    #[slot]
    fn on_value(&mut self, ctx: &mut Context<Self>, value: u64) {
        self.values.push(value);
        if self.values.len() == 2 {
            self.values.sort_unstable();
            let text = format!("batch {:?} in {}", self.values, std::process::id());
            ctx.batched().emit(text);
            self.values.clear();
        }
    }
}

/// The learner: owns the thread its batcher runs on (made in the child,
/// so it need not travel).
#[event_loop_object]
struct Learner {
    batcher: signal_slot::EventLoopThread,
}

#[event_loop_object]
impl Learner {
    /// Stops its batcher's loop.
    #[slot]
    fn stop_batcher(&mut self) {
        self.batcher.stop();
    }
}

#[signal_slot::init]
fn start_batcher(event_loop: &LoopHandle, probe: crate::common::process::ProbeHandle) {
    let mut thread = signal_slot::EventLoopThread::new("learner_batcher").expect("a new loop");
    let batcher = thread
        .event_loop()
        .add_with_id("batcher", Batcher { values: Vec::new() })
        .expect("a fresh id");
    batcher
        .batched()
        .connect(probe.report())
        .expect("to the parent");
    thread
        .event_loop()
        .start_signal()
        .connect(batcher.ready())
        .expect("same loop");
    thread.start().expect("the thread starts");
    event_loop
        .add_with_id("learner", Learner { batcher: thread })
        .expect("a fresh id");
}

/// Forwards values, plus 100.
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
struct Relay;

#[event_loop_object]
impl Relay {
    #[signal]
    fn out(value: u64);

    #[slot]
    fn on_value(&mut self, ctx: &mut Context<Self>, value: u64) {
        ctx.out().emit(value + 100);
    }
}

/// Drives `main` until `log` holds `count` entries.
fn run_until(main: &mut signal_slot::EventLoop, log: &crate::common::Log, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while log.len() < count {
        assert!(Instant::now() < deadline, "{:?}", log.entries());
        assert!(main.process_events().is_none(), "the main loop ended");
        std::thread::sleep(Duration::from_micros(200));
    }
}

pub fn a_loop_on_a_thread_of_a_child_is_reachable_from_everywhere() {
    let (log, mut main, probe, source) = parent("thread_loop_main", usize::MAX);
    let mut rollout = EventLoopProcess::new("thread_loop_rollout").unwrap();
    let relay = rollout.add_with_id("relay", Relay).unwrap();
    source.value().connect(relay.on_value()).unwrap();
    rollout.start().unwrap();
    let mut learner = EventLoopProcess::new("thread_loop_learner")
        .unwrap()
        .init_with(start_batcher, probe.clone());
    learner.start().unwrap();
    // The batcher's loop starts in the learner and says so to the parent.
    run_until(&mut main, &log, 1);
    assert_eq!(log.entries(), ["batcher ready"]);
    let batcher_loop = LoopHandle::named("learner_batcher").unwrap();
    let batcher = batcher_loop.object::<Batcher>("batcher").unwrap();
    // From the parent, and from another child (wired from here).
    source.value().connect(batcher.on_value()).unwrap();
    relay.out().connect(batcher.on_value()).unwrap();
    source.value().emit(1);
    run_until(&mut main, &log, 2);
    let learner_pid = learner.pid().unwrap();
    assert_eq!(log.entries()[1], format!("batch [1, 101] in {learner_pid}"));
    // The learner ends, and its thread's loop with it: nothing reaches it
    // any more, and the others know.
    learner.stop();
    assert!(join(&mut learner).success());
    assert!(LoopHandle::named("learner_batcher").is_err());
    let dropped = batcher_loop.dropped_signals();
    source.value().emit(2);
    assert!(batcher_loop.dropped_signals() > dropped);
    rollout.stop();
    assert!(join(&mut rollout).success());
}

/// Objects asked back from a loop in a child (before it starts, so the
/// request travels with the loop, or after, so it goes to the child) come
/// back as their state when the child's loop ends; one whose state cannot
/// travel is refused with the reason.
pub fn objects_come_back_from_a_child() {
    for method in [StartMethod::Fork, StartMethod::Spawn] {
        let mut child = EventLoopProcess::new(format!("kept_{method:?}_child").to_lowercase())
            .unwrap()
            .start_method(method);
        let tally = |label: &str, count| Tally {
            count,
            label: label.to_owned(),
        };
        let before = child.add_with_id("before", tally("before", 10)).unwrap();
        let after = child.add_with_id("after", tally("after", 20)).unwrap();
        let kept_before = child.keep(&before).unwrap();
        child.start().unwrap();
        let kept_after = child.keep(&after).unwrap();
        // The slots run in the child; the states come back with their
        // changes.
        for _ in 0..3 {
            before.bump().invoke(()).unwrap();
        }
        after.bump().invoke(()).unwrap();
        // Detached while the loop runs: back at once.
        after.detach().unwrap();
        let after = kept_after.wait(Duration::from_secs(20)).unwrap();
        assert_eq!(
            (after.label.as_str(), after.count),
            ("after", 21),
            "{method:?}"
        );
        child.stop();
        assert!(join(&mut child).success());
        let before = kept_before.wait(Duration::from_secs(20)).unwrap();
        assert_eq!(
            (before.label.as_str(), before.count),
            ("before", 13),
            "{method:?}"
        );
    }
    // A state that cannot travel: refused, saying why (fork only: spawn
    // would not start with it).
    let mut child = EventLoopProcess::new("kept_stopwatch_child")
        .unwrap()
        .start_method(StartMethod::Fork);
    let watch = child
        .add(Stopwatch {
            started: Instant::now(),
        })
        .unwrap();
    let kept = child.keep(&watch).unwrap();
    child.start().unwrap();
    child.stop();
    assert!(join(&mut child).success());
    match kept.wait(Duration::from_secs(20)) {
        Err(signal_slot::Error::NotHandedBack { why, .. }) => {
            assert!(why.contains("cannot travel back"), "{why}");
        }
        Err(other) => panic!("expected a refusal, got {other}"),
        Ok(_) => panic!("an `Instant` came back from another process"),
    }
}
