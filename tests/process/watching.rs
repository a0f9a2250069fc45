//! Watching a running system: a slow slot reported while it runs (here and
//! in a child), a loop that takes nothing reported as stuck, and a child's
//! numbers read from its parent, adding up with what it dropped.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::harness::{logged, wait_for_log, wait_until};
use crate::common::process::join;
use crate::common::{Emitter, Log, Recorder};
use signal_slot::{
    Context, DropReason, EventLoop, EventLoopProcess, EventLoopThread, Topology, event_loop_object,
};

/// Holds its loop in `hold` until the gate opens.
#[event_loop_object]
struct Holder {
    gate: mpsc::Receiver<()>,
}

#[event_loop_object]
impl Holder {
    #[slot]
    fn hold(&mut self) {
        let _ = self.gate.recv();
    }
}

/// How many times `text` is in the shared log.
fn logged_count(text: &str) -> usize {
    logged().matches(text).count()
}

pub fn a_slow_slot_is_reported_while_it_runs_and_once_it_returns() {
    let still = "slot `holder.hold` on event loop `watch_slow` has run for";
    let done = "slot `holder.hold` on event loop `watch_slow` ran for";
    let (still_before, done_before) = (logged_count(still), logged_count(done));
    let (open, gate) = mpsc::channel();
    let options = EventLoop::builder("watch_slow").slow_slot(Duration::from_millis(30));
    let mut worker = EventLoopThread::with_options(options).unwrap();
    let holder = worker.add_with_id("holder", Holder { gate }).unwrap();
    let emitters = EventLoop::new("watch_slow_emitters").unwrap();
    let alarm = emitters.add_with_id("alarm", Emitter).unwrap();
    alarm.event().connect(holder.hold()).unwrap();
    worker.start().unwrap();
    alarm.event().emit();
    // Reported while it runs, with what runs and for how long.
    assert!(wait_until(Duration::from_secs(10), || logged_count(still)
        > still_before));
    let stats = worker.stats().unwrap();
    assert!(stats.running >= Duration::from_millis(30), "{stats:?}");
    assert_eq!(stats.handled, 0);
    // Once only, however long it runs.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(logged_count(still), still_before + 1);
    open.send(()).unwrap();
    // And once it returned, with the signal and its sender.
    assert!(wait_until(Duration::from_secs(10), || logged_count(done) > done_before));
    assert!(wait_for_log("for the signal `event` from `alarm`"));
    assert!(wait_until(Duration::from_secs(10), || {
        worker
            .stats()
            .is_ok_and(|stats| stats.slow_runs == 1 && stats.handled == 1)
    }));
    worker.stop();
    worker.join().unwrap();
}

pub fn a_loop_that_takes_nothing_is_reported_stuck() {
    let stuck = "event loop `watch_stuck` is stuck: 3 signals wait for it";
    let before = logged_count(stuck);
    let log = Log::default();
    let mut idle = EventLoop::builder("watch_stuck")
        .stuck_after(Duration::from_millis(50))
        .build()
        .unwrap();
    let recorder = idle.add_with_id("recorder", Recorder::new(&log)).unwrap();
    // It runs (one pass), then its thread does something else.
    assert!(idle.process_events().is_none());
    let started = Instant::now();
    for value in 0..3 {
        recorder.on_value().invoke(value).unwrap();
    }
    assert!(wait_until(Duration::from_secs(10), || logged_count(stuck) > before));
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!(idle.stats().unwrap().queued, 3);
    // Driven again, it takes what waits.
    while log.len() < 3 {
        assert!(idle.process_events().is_none());
    }
    assert_eq!(logged_count(stuck), before + 1, "reported once");
    idle.stop();
    assert!(idle.exec().is_normal());
}

/// Lives in a child: each value takes it a while, and it says which it
/// handled.
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
struct Slowpoke {
    nap_micros: u64,
}

#[event_loop_object]
impl Slowpoke {
    #[signal]
    fn handled(value: u64);

    #[slot]
    fn on_value(&mut self, ctx: &mut Context<Self>, value: u64) {
        std::thread::sleep(Duration::from_micros(self.nap_micros));
        ctx.handled().emit(value);
    }
}

/// Stops its loop once it saw `last`.
#[event_loop_object]
struct Until {
    last: u64,
}

#[event_loop_object]
impl Until {
    #[slot]
    fn on_handled(&mut self, ctx: &mut Context<Self>, value: u64) {
        if value == self.last {
            ctx.stop_loop();
        }
    }
}

pub fn a_childs_slow_slot_is_reported_by_the_child() {
    let still = "slot `slowpoke.on_value` on event loop `watch_child` has run for";
    let before = logged_count(still);
    let options = EventLoop::builder("watch_child").slow_slot(Duration::from_millis(20));
    let mut child = EventLoopProcess::with_options(options).unwrap();
    let slowpoke = child
        .add_with_id(
            "slowpoke",
            Slowpoke {
                nap_micros: 300_000,
            },
        )
        .unwrap();
    child.start().unwrap();
    slowpoke.on_value().invoke(1).unwrap();
    assert!(wait_until(Duration::from_secs(10), || logged_count(still) > before));
    // Its numbers, from its agent, while the slot still runs.
    let stats = child.stats().unwrap();
    assert_eq!(stats.name, "watch_child");
    assert!(stats.running >= Duration::from_millis(20), "{stats:?}");
    assert!(wait_until(Duration::from_secs(10), || {
        child.stats().is_ok_and(|stats| stats.slow_runs == 1)
    }));
    child.stop();
    assert!(join(&mut child).success());
}

pub fn a_childs_numbers_add_up_with_what_it_replaced() {
    const VALUES: u64 = 400;
    let mut main = EventLoop::new("watch_latest_main").unwrap();
    let feeder = main.add_with_id("feeder", Emitter).unwrap();
    let until = main
        .add_with_id("until", Until { last: VALUES - 1 })
        .unwrap();
    let mut child = EventLoopProcess::new("watch_latest").unwrap();
    let slowpoke = child
        .add_with_id("slowpoke", Slowpoke { nap_micros: 200 })
        .unwrap();
    feeder.value().connect_latest(slowpoke.on_value()).unwrap();
    slowpoke.handled().connect(until.on_handled()).unwrap();
    child.start().unwrap();
    for value in 0..VALUES {
        feeder.value().emit(value);
    }
    // The newest always arrives: the loop ends when it did.
    assert!(main.exec().is_normal());
    // Every value ran or was replaced, none both (its run is counted as
    // its slot returns, just after it said so).
    let added_up = |stats: &signal_slot::LoopStats| {
        let runs = stats
            .slot("slowpoke", "on_value")
            .map_or(0, |slot| slot.runs);
        runs + stats.drops.get(DropReason::Replaced)
    };
    assert!(wait_until(Duration::from_secs(10), || {
        child.stats().is_ok_and(|stats| added_up(&stats) >= VALUES)
    }));
    let stats = child.stats().unwrap();
    assert_eq!(added_up(&stats), VALUES, "{stats:?}");
    let replaced = stats.drops.get(DropReason::Replaced);
    assert_eq!(stats.drops.total(), replaced);
    // The whole tree's drops, in one call, include the child's.
    let topology = Topology::capture().unwrap();
    let in_child = topology
        .processes
        .iter()
        .find(|process| process.pid == child.pid().unwrap())
        .expect("the child answers");
    assert_eq!(
        in_child.drops["watch_latest"].get(DropReason::Replaced),
        replaced
    );
    assert!(topology.drops().get(DropReason::Replaced) >= replaced);
    child.stop();
    assert!(join(&mut child).success());
}
