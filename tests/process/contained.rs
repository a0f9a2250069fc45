//! Values of the user's types that the library drops, whose `Drop` panics,
//! and keep-latest values read in the pass that meets a stop: what a
//! sceptic tried, each in fork and spawn children.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::common::harness::logged;
use crate::common::process::{join, probe_thread};
use signal_slot::{Context, EventLoop, EventLoopProcess, EventLoopThread, event_loop_object};

/// Emits from the parent.
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Pitcher;

#[event_loop_object]
impl Pitcher {
    #[signal]
    pub fn value(value: u64);

    #[signal]
    pub fn grenade(value: Grenade);

    #[signal]
    pub fn far_grenade(value: Grenade);

    #[signal]
    pub fn lonely_grenade(value: Grenade);
}

fn lname<T: signal_slot::EventLoopObject>(ctx: &Context<'_, T>) -> String {
    ctx.event_loop().name().to_string()
}

/// Its `Drop` panics for 7.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Grenade(pub u32);

impl Drop for Grenade {
    fn drop(&mut self) {
        if self.0 == 7 && !std::thread::panicking() {
            panic!("grenade 7 went off");
        }
    }
}

/// Takes a grenade without dropping it in its slot, or ignores it (a slot
/// that takes no argument: the library drops it).
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Catcher;

#[event_loop_object]
impl Catcher {
    #[signal]
    pub fn said(text: String);

    #[slot]
    pub fn catch(&mut self, ctx: &mut Context<Self>, value: Grenade) {
        let text = format!("{} caught {}", lname(ctx), value.0);
        std::mem::forget(value);
        ctx.said().emit(text);
    }

    #[slot]
    pub fn ignore(&mut self, ctx: &mut Context<Self>) {
        let text = format!("{} ignored", lname(ctx));
        ctx.said().emit(text);
    }
}

/// A `Drop` of an argument that panics where the library drops it: in the
/// emitter after encoding for a child; in a child for a slot that takes no
/// argument; in a loop of this process for a slot that takes none; for a
/// loop that ended. Emitter and loops go on; children end well.
pub fn a_panicking_drop_of_an_argument_is_contained() {
    let (log, mut home, probe) = probe_thread("grenade_home");
    let local = home.add_with_id("local", Catcher).unwrap();
    local.said().connect(probe.report()).unwrap();
    let feeders = EventLoop::new("grenade_feeders").unwrap();
    let pitcher = feeders.add_with_id("pitcher", Pitcher).unwrap();
    let mut child = EventLoopProcess::new("grenade_child").unwrap();
    let catcher = child.add_with_id("c", Catcher).unwrap();
    let mut other = EventLoopProcess::new("grenade_other").unwrap();
    let ignorer = other.add_with_id("c", Catcher).unwrap();
    let mut ended = EventLoopThread::new("grenade_ended").unwrap();
    let gone = ended.add_with_id("c", Catcher).unwrap();
    pitcher.grenade().connect(catcher.catch()).unwrap();
    pitcher.grenade().connect(ignorer.ignore()).unwrap();
    pitcher.grenade().connect(local.ignore()).unwrap();
    pitcher.grenade().connect(gone.catch()).unwrap();
    pitcher.far_grenade().connect(catcher.catch()).unwrap();
    catcher.said().connect(probe.report()).unwrap();
    ignorer.said().connect(probe.report()).unwrap();
    child.start().unwrap();
    other.start().unwrap();
    ended.start().unwrap();
    ended.stop();
    ended.join().unwrap();
    let emitted = std::thread::spawn({
        let pitcher = pitcher.clone();
        move || {
            pitcher.grenade().emit(Grenade(7));
            // To a child only: the emitter drops it after encoding.
            pitcher.far_grenade().emit(Grenade(7));
            pitcher.grenade().emit(Grenade(1));
        }
    })
    .join();
    assert!(
        emitted.is_ok(),
        "the emitting thread survived a panicking Drop"
    );
    let wanted = [
        "grenade_child caught 7",
        "grenade_child caught 7",
        "grenade_child caught 1",
        "grenade_other ignored",
        "grenade_other ignored",
        "grenade_home ignored",
        "grenade_home ignored",
    ];
    let ok = log.wait_for(wanted.len(), Duration::from_secs(10));
    let mut entries = log.entries();
    entries.sort();
    let mut sorted = wanted.map(str::to_owned).to_vec();
    sorted.sort();
    assert!(ok && entries == sorted, "{entries:?}");
    assert!(!home.has_ended(), "the parent's loop went on");
    for process in [&mut child, &mut other] {
        assert!(process.is_alive(), "{}", process.name());
        process.stop();
        let exit = join(process);
        assert!(exit.success(), "{}: {exit}", process.name());
    }
    assert!(logged().contains("grenade 7 went off"), "reported");
    home.stop();
    home.join().unwrap();
}

/// A signal nobody is connected to, with an argument whose `Drop` panics:
/// emitting it must not unwind out of `emit`.
pub fn a_panicking_drop_of_an_unconnected_argument_is_contained() {
    let feeders = EventLoop::new("lonely_feeders").unwrap();
    let pitcher = feeders.add_with_id("pitcher", Pitcher).unwrap();
    let emitted = std::thread::spawn({
        let pitcher = pitcher.clone();
        move || pitcher.lonely_grenade().emit(Grenade(7))
    })
    .join();
    assert!(
        emitted.is_ok(),
        "emit unwound a panicking Drop to the emitter"
    );
}

/// The three places of `a_panicking_drop_of_an_argument_is_contained`, one
/// by one: to a child only (dropped by the emitter after encoding), to a
/// slot of a loop of this process that takes no argument, to a loop of this
/// process that ended.
pub fn a_panicking_drop_of_an_argument_place_by_place() {
    let (log, mut home, probe) = probe_thread("grenade2_home");
    let local = home.add_with_id("local", Catcher).unwrap();
    local.said().connect(probe.report()).unwrap();
    let feeders = EventLoop::new("grenade2_feeders").unwrap();
    let pitcher = feeders.add_with_id("pitcher", Pitcher).unwrap();
    let mut child = EventLoopProcess::new("grenade2_child").unwrap();
    let catcher = child.add_with_id("c", Catcher).unwrap();
    catcher.said().connect(probe.report()).unwrap();
    let mut ended = EventLoopThread::new("grenade2_ended").unwrap();
    let gone = ended.add_with_id("c", Catcher).unwrap();
    pitcher.far_grenade().connect(catcher.catch()).unwrap();
    pitcher.grenade().connect(local.ignore()).unwrap();
    pitcher.lonely_grenade().connect(gone.catch()).unwrap();
    child.start().unwrap();
    ended.start().unwrap();
    ended.stop();
    ended.join().unwrap();
    let mut failed = Vec::new();
    for (place, emit) in [
        ("to a child only", 0),
        ("to a slot of this process that takes none", 1),
        ("to a loop of this process that ended", 2),
    ] {
        let emitted = std::thread::spawn({
            let pitcher = pitcher.clone();
            move || match emit {
                0 => pitcher.far_grenade().emit(Grenade(7)),
                1 => pitcher.grenade().emit(Grenade(7)),
                _ => pitcher.lonely_grenade().emit(Grenade(7)),
            }
        })
        .join();
        if emitted.is_err() {
            failed.push(place);
        }
    }
    let _ = log.wait_for(2, Duration::from_secs(5));
    eprintln!("grenade2: log {:?}", log.entries());
    assert!(
        failed.is_empty(),
        "emit unwound a panicking Drop: {failed:?}"
    );
    child.stop();
    let exit = join(&mut child);
    assert!(exit.success(), "{exit}");
    home.stop();
    home.join().unwrap();
}

/// A slot of a loop on a thread that takes none of the signal's arguments,
/// whose `Drop` panics: the loop goes on (the slot runs, later signals come).
pub fn a_panicking_drop_of_an_ignored_argument_in_a_thread_loop() {
    let (log, mut home, probe) = probe_thread("grenade3_home");
    let local = home.add_with_id("local", Catcher).unwrap();
    local.said().connect(probe.report()).unwrap();
    let feeders = EventLoop::new("grenade3_feeders").unwrap();
    let pitcher = feeders.add_with_id("pitcher", Pitcher).unwrap();
    pitcher.grenade().connect(local.ignore()).unwrap();
    pitcher.grenade().emit(Grenade(7));
    pitcher.grenade().emit(Grenade(1));
    let arrived = log.wait_for(2, Duration::from_secs(5));
    let ended = home.has_ended();
    home.stop();
    let status = home.join();
    assert!(
        arrived && !ended,
        "log {:?}, loop ended: {ended}, join: {status:?}",
        log.entries()
    );
}

/// In a child, a slot that takes none of the signal's arguments, whose
/// `Drop` panics there (after decoding): the child's loop goes on.
pub fn a_panicking_drop_of_an_ignored_argument_in_a_child() {
    let (log, mut home, probe) = probe_thread("grenade4_home");
    let feeders = EventLoop::new("grenade4_feeders").unwrap();
    let pitcher = feeders.add_with_id("pitcher", Pitcher).unwrap();
    let mut child = EventLoopProcess::new("grenade4_child").unwrap();
    let ignorer = child.add_with_id("c", Catcher).unwrap();
    ignorer.said().connect(probe.report()).unwrap();
    pitcher.far_grenade().connect(ignorer.ignore()).unwrap();
    child.start().unwrap();
    // The emitter's own drop of it may unwind (see the test above): caught
    // here, so that the child's side is tested alone.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pitcher.far_grenade().emit(Grenade(7))
    }));
    pitcher.far_grenade().emit(Grenade(1));
    let arrived = log.wait_for(2, Duration::from_secs(5));
    let alive = child.is_alive();
    child.stop();
    let exit = join(&mut child);
    assert!(
        arrived && alive && exit.success(),
        "log {:?}, alive {alive}, exit {exit}",
        log.entries()
    );
    home.stop();
    home.join().unwrap();
}

/// Counts values, keeps the last.
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize, Default)]
pub struct Tally {
    values: u64,
    last: Option<u64>,
}

#[event_loop_object]
impl Tally {
    #[slot]
    pub fn on_value(&mut self, value: u64) {
        self.values += 1;
        self.last = Some(value);
    }
}

/// Keep-latest into a loop on a thread of this process, stopped right after
/// the emissions: the newest, emitted before the stop, is delivered.
pub fn keep_latest_then_stop_in_a_thread_loop() {
    let feeders = EventLoop::new("latest_stop_feeders").unwrap();
    let pitcher = feeders.add_with_id("pitcher", Pitcher).unwrap();
    let mut thread = EventLoopThread::new("latest_stop_thread").unwrap();
    let tally = thread.add_with_id("t", Tally::default()).unwrap();
    pitcher.value().connect_latest(tally.on_value()).unwrap();
    let kept = thread.keep(&tally).unwrap();
    thread.start().unwrap();
    for value in 0..10_000 {
        pitcher.value().emit(value);
    }
    thread.stop();
    thread.join().unwrap();
    let state = kept.take().unwrap();
    assert_eq!(
        state.last,
        Some(9_999),
        "values {}, dropped {}",
        state.values,
        thread.dropped_signals()
    );
    assert_eq!(state.values + thread.dropped_signals(), 10_000);
}

/// The same, into a child that is stopped right after a small burst (no
/// slow slot): the newest arrives.
pub fn keep_latest_then_stop_in_a_child() {
    let feeders = EventLoop::new("latest_stop2_feeders").unwrap();
    let pitcher = feeders.add_with_id("pitcher", Pitcher).unwrap();
    let mut child = EventLoopProcess::new("latest_stop2_child").unwrap();
    let tally = child.add_with_id("t", Tally::default()).unwrap();
    pitcher.value().connect_latest(tally.on_value()).unwrap();
    let kept = child.keep(&tally).unwrap();
    child.start().unwrap();
    let mut misses = Vec::new();
    // Several rounds: the stop and the last values in one reading pass.
    pitcher.value().emit(0);
    for value in 1..=20u64 {
        pitcher.value().emit(value);
    }
    child.stop();
    assert!(join(&mut child).success());
    let state = kept.wait(Duration::from_secs(10)).unwrap();
    if state.last != Some(20) {
        misses.push(format!("{:?} after {} values", state.last, state.values));
    }
    eprintln!(
        "latest_stop2: parent counted {} dropped",
        child.dropped_signals()
    );
    // Control: the same with a fan-out connection delivers all 21.
    let mut control = EventLoopProcess::new("latest_stop2_control").unwrap();
    let tally = control.add_with_id("t", Tally::default()).unwrap();
    pitcher.value().connect(tally.on_value()).unwrap();
    let kept = control.keep(&tally).unwrap();
    control.start().unwrap();
    for value in 0..=20u64 {
        pitcher.value().emit(value);
    }
    control.stop();
    assert!(join(&mut control).success());
    let state = kept.wait(Duration::from_secs(10)).unwrap();
    assert_eq!((state.values, state.last), (21, Some(20)), "control");
    assert!(
        misses.is_empty(),
        "the newest emitted before stop() was not delivered: {misses:?}"
    );
}

/// Takes the standard error stream's lock when asked (as a log line does),
/// and says so.
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Talker;

#[event_loop_object]
impl Talker {
    #[signal]
    pub fn said(text: String);

    #[slot]
    pub fn speak(&mut self, ctx: &mut Context<Self>) {
        drop(std::io::stderr().lock());
        drop(std::io::stdout().lock());
        ctx.said().emit(lname(ctx));
    }
}

/// A thread of the parent holds the standard streams' locks most of the
/// time (as one that logs a lot does) while children start: each child can
/// take them (a log line of its own) and answers. A fork at an instant the
/// lock was held left it held forever in the child.
pub fn children_log_while_a_parent_thread_does() {
    let (log, mut home, probe) = probe_thread("talk_home");
    let quiet = Arc::new(AtomicBool::new(false));
    let chatter = std::thread::spawn({
        let quiet = quiet.clone();
        move || {
            while !quiet.load(Ordering::Relaxed) {
                let held = (std::io::stdout().lock(), std::io::stderr().lock());
                for _ in 0..2_000 {
                    std::hint::spin_loop();
                }
                drop(held);
            }
        }
    });
    for index in 0..10 {
        let mut child = EventLoopProcess::new(format!("talker_{index}")).unwrap();
        let talker = child.add_with_id("t", Talker).unwrap();
        talker.said().connect(probe.report()).unwrap();
        child.start().unwrap();
        talker.speak().invoke(()).unwrap();
        let answered = log.wait_for(index + 1, Duration::from_secs(10));
        if !answered {
            let _ = child.kill();
        }
        assert!(
            answered,
            "child {index} did not answer: {:?}",
            log.entries()
        );
        child.stop();
        let exit = join(&mut child);
        assert!(exit.success(), "{exit}");
    }
    quiet.store(true, Ordering::Relaxed);
    chatter.join().unwrap();
    home.stop();
    home.join().unwrap();
}
