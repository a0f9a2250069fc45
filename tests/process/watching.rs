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
    let from_child = slowpoke.handled().connect(until.on_handled()).unwrap();
    // Its emitter's connections live in the child: counted there.
    assert_eq!((from_child.emitted(), from_child.dropped()), (None, None));
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

/// Lives in a child: a slot that never returns, and one that works a while
/// (on the CPU) for each signal.
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
struct Labourer;

#[event_loop_object]
impl Labourer {
    #[slot]
    fn forever(&mut self) {
        loop {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[slot]
    fn work(&mut self, micros: u64) {
        let until = Instant::now() + Duration::from_micros(micros);
        while Instant::now() < until {
            std::hint::spin_loop();
        }
    }
}

/// Records each deafness it hears of, and stops its loop at the first.
#[event_loop_object]
struct Supervisor {
    log: Log,
}

#[event_loop_object]
impl Supervisor {
    #[slot]
    fn on_deaf(&mut self, ctx: &mut Context<Self>, deaf: signal_slot::Deaf) {
        self.log.push(format!("{:?} {}", deaf.why, deaf.process));
        ctx.stop_loop();
    }
}

/// A parent's loop with a supervisor of `child`, which stops the loop at
/// the first deafness, or after `limit`.
fn supervise(
    name: &str,
    child: &EventLoopProcess,
    limit: Duration,
) -> (EventLoop, Log, signal_slot::Timer) {
    let log = Log::default();
    let main = EventLoop::new(name).unwrap();
    let supervisor = main
        .add_with_id("supervisor", Supervisor { log: log.clone() })
        .unwrap();
    child.deaf().connect(supervisor.on_deaf()).unwrap();
    let timer = signal_slot::Timer::single_shot(&main, limit).unwrap();
    timer.timeout().connect(main.stop_slot()).unwrap();
    timer.start();
    (main, log, timer)
}

pub fn a_child_stuck_in_an_endless_slot_is_found_deaf() {
    let mut child = EventLoopProcess::new("deaf_stuck")
        .unwrap()
        .deaf_after(Duration::from_millis(200));
    let labourer = child.add_with_id("labourer", Labourer).unwrap();
    let (mut main, log, _limit) = supervise("deaf_stuck_main", &child, Duration::from_secs(20));
    child.start().unwrap();
    labourer.forever().invoke(()).unwrap();
    let started = Instant::now();
    assert!(main.exec().is_normal());
    assert_eq!(log.entries(), ["InSlot deaf_stuck"]);
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert!(child.is_deaf());
    // Its numbers say so too (from its agent, which answers).
    assert!(child.stats().unwrap().deaf);
    let topology = Topology::capture().unwrap();
    let (_, stats) = topology
        .loop_stats()
        .find(|(_, stats)| stats.name == "deaf_stuck")
        .expect("the child answers");
    assert!(stats.deaf && stats.running >= Duration::from_millis(200));
    child.kill().unwrap();
    assert!(!join(&mut child).success());
}

pub fn a_full_ring_shows_in_its_senders_fill_and_its_connections_drops() {
    const SENT: u64 = 20;
    let main = EventLoop::new("ring_fill_main").unwrap();
    let feeder = main.add_with_id("feeder", Emitter).unwrap();
    let options = EventLoop::builder("ring_fill").capacity(8);
    let mut child = EventLoopProcess::with_options(options).unwrap();
    let labourer = child.add_with_id("labourer", Labourer).unwrap();
    let the_connection = feeder.value().connect(labourer.work()).unwrap();
    child.start().unwrap();
    // The child's loop runs, then stays in a slot: nothing more is taken.
    labourer.work().call(0, Duration::from_secs(10)).unwrap();
    labourer.forever().invoke(()).unwrap();
    assert!(wait_until(Duration::from_secs(10), || {
        child
            .stats()
            .is_ok_and(|stats| stats.running > Duration::ZERO)
    }));
    let empty = Topology::capture().unwrap();
    for value in 0..SENT {
        feeder.value().emit(value);
    }
    let full = Topology::capture().unwrap();
    // The parent's ring to the child's loop: full to its signal limit.
    let rings: Vec<_> = full.rings_to("ring_fill").collect();
    assert_eq!(rings.len(), 1, "{rings:?}");
    let (process, ring) = rings[0];
    assert_eq!(process, 0, "written by the root");
    assert_eq!(ring.signals, ring.max_signals, "{ring:?}");
    assert!(ring.max_signals >= 8 && ring.max_signals < SENT, "{ring:?}");
    assert!(ring.bytes > 0 && ring.bytes <= ring.max_bytes, "{ring:?}");
    assert_eq!(ring.fraction(), 1.0);
    // What found no room: on the connection, on the loop, in the diagram.
    let lost = SENT - ring.max_signals;
    let connection = full.processes[0]
        .loops
        .iter()
        .flat_map(|event_loop| &event_loop.objects)
        .find(|object| object.id == "feeder")
        .map(|feeder| &feeder.connections[0])
        .expect("the feeder's connection");
    assert_eq!(connection.emitted, SENT);
    assert_eq!(connection.dropped.get(DropReason::Full), lost);
    assert_eq!(connection.dropped.total(), lost);
    assert_eq!(the_connection.emitted(), Some(SENT));
    assert_eq!(the_connection.dropped(), Some(connection.dropped));
    assert_eq!(full.processes[0].drops["ring_fill"].total(), lost);
    let diagram = full.to_mermaid();
    assert!(
        diagram.contains(&format!(
            "value → work · {SENT} sent · {lost} dropped (full {lost})"
        )),
        "{diagram}"
    );
    // Exported: how full the ring is, by receiving loop and sending process.
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let scrape = prometheus.handle();
    metrics::with_local_recorder(&prometheus, || {
        signal_slot::metrics::record_topology(&full);
    });
    let text = scrape.render();
    for line in [
        r#"signal_slot_ring_fill{loop="ring_fill",process="0"} 1"#.to_owned(),
        format!(
            r#"signal_slot_ring_signals{{loop="ring_fill",process="0"}} {}"#,
            ring.signals
        ),
    ] {
        assert!(
            text.lines().any(|scraped| scraped == line),
            "no `{line}` in:\n{text}"
        );
    }
    // Rates between two captures: every emission since `empty` dropped.
    let rated = full.with_rates(&empty);
    let rates = rated.processes[0]
        .loops
        .iter()
        .flat_map(|event_loop| &event_loop.objects)
        .find(|object| object.id == "feeder")
        .and_then(|feeder| feeder.connections[0].rates)
        .expect("rates between two captures");
    assert!(rates.emitted > 0.0 && rates.dropped > 0.0, "{rates:?}");
    assert!(rates.dropped < rates.emitted, "{rates:?}");
    assert!(rated.to_mermaid().contains("dropped/s"));
    child.kill().unwrap();
    assert!(!join(&mut child).success());
}

pub fn a_stopped_child_is_found_deaf_and_heard_again_once_continued() {
    let mut child = EventLoopProcess::new("deaf_stopped")
        .unwrap()
        .deaf_after(Duration::from_millis(200));
    let labourer = child.add_with_id("labourer", Labourer).unwrap();
    let (mut main, log, _limit) = supervise("deaf_stopped_main", &child, Duration::from_secs(20));
    child.start().unwrap();
    labourer.work().call(0, Duration::from_secs(10)).unwrap();
    // Stopped from outside (not through `suspend`, which the parent knows
    // of): its agent cannot answer.
    let pid = child.pid().unwrap().to_string();
    let stopped = std::process::Command::new("kill")
        .args(["-STOP", &pid])
        .status();
    assert!(stopped.unwrap().success());
    assert!(main.exec().is_normal());
    assert_eq!(log.entries(), ["NoAnswer deaf_stopped"]);
    assert!(child.is_deaf());
    let continued = std::process::Command::new("kill")
        .args(["-CONT", &pid])
        .status();
    assert!(continued.unwrap().success());
    assert!(wait_until(Duration::from_secs(10), || !child.is_deaf()));
    assert!(!child.stats().unwrap().deaf);
    // Working again.
    labourer.work().call(0, Duration::from_secs(10)).unwrap();
    child.stop();
    assert!(join(&mut child).success());
}

pub fn a_busy_child_under_load_is_never_deaf() {
    // Two programs' worth of load on the two cores, for the whole test.
    let burning = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let burners: Vec<_> = (0..2)
        .map(|_| {
            let burning = burning.clone();
            std::thread::spawn(move || {
                while burning.load(std::sync::atomic::Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    let mut child = EventLoopProcess::new("deaf_busy")
        .unwrap()
        .deaf_after(Duration::from_millis(300));
    let labourer = child.add_with_id("labourer", Labourer).unwrap();
    let (mut main, log, _limit) = supervise("deaf_busy_main", &child, Duration::from_millis(1500));
    // A signal of 2 ms of work every 2 ms: the child is busy all along.
    let tick = signal_slot::Timer::new(&main, Duration::from_millis(2)).unwrap();
    let pace = main.add_with_id("pace", Pace).unwrap();
    tick.timeout().connect(pace.on_tick()).unwrap();
    pace.work().connect(labourer.work()).unwrap();
    child.start().unwrap();
    tick.start();
    assert!(main.exec().is_normal());
    burning.store(false, std::sync::atomic::Ordering::Relaxed);
    for burner in burners {
        burner.join().unwrap();
    }
    assert!(log.entries().is_empty(), "{:?}", log.entries());
    assert!(!child.is_deaf());
    let worked = child.stats().unwrap().handled;
    assert!(worked > 100, "the child worked: {worked} signals");
    child.stop();
    assert!(join(&mut child).success());
}

/// Asks for 2 ms of work at each tick.
#[event_loop_object]
struct Pace;

#[event_loop_object]
impl Pace {
    #[signal]
    fn work(micros: u64);

    #[slot]
    fn on_tick(&mut self, ctx: &mut Context<Self>) {
        ctx.work().emit(2000);
    }
}

/// (Here, where tests run one at a time: tracing caches what each
/// callsite's subscribers want, and other tests' subscribers on other
/// threads change that.)
pub fn each_slot_run_is_a_tracing_span_with_its_loop_object_slot_and_sender() {
    let log = Log::default();
    let ((), text) = crate::common::capture_spans(|| {
        let mut main = EventLoop::new("stats_spans").unwrap();
        let emitter = main.add_with_id("ticker", Emitter).unwrap();
        let recorder = main
            .add_with_id("recorder", Recorder::stopping_after(&log, 2))
            .unwrap();
        emitter.value().connect(recorder.on_value()).unwrap();
        emitter.value().emit(1);
        emitter.value().emit(2);
        assert!(main.exec().is_normal());
    });
    let closed = text
        .lines()
        .filter(|line| {
            line.contains("slot{event_loop=\"stats_spans\" object=\"recorder\" slot=\"on_value\" signal=\"value\" emitter=\"ticker\"}")
                && line.contains("close")
        })
        .count();
    assert_eq!(closed, 2, "{text}");
}
