//! Connections across processes: fan-out order and graceful stop, changes
//! while processes run, emitting on behalf of an object in a child, and
//! connections that end with their object.

use std::time::Duration;

use crate::common::Log;
use crate::common::process::{
    Probe, ProbeHandle, Source, Worker, join, parent, probe, probe_thread, run,
};
use signal_slot::{Context, EventLoop, EventLoopProcess, EventLoopThread, event_loop_object};

pub fn fan_out_order_and_graceful_stop_across_processes() {
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

pub fn connections_at_any_time_between_running_processes() {
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
    // Each of those calls returned once the emitter's process applied the
    // change: emissions from now on follow it.
    source.value().emit(100);
    source.text().emit("first".to_owned());
    assert!(
        log.wait_for(2, Duration::from_secs(10)),
        "{:?}",
        log.entries()
    );
    // Disconnected (in effect once `disconnect` returns): w1's reply to the
    // next text goes nowhere, and the value it forwards after it still
    // arrives, by the chain and by the connection made now.
    w1.reply().disconnect(probe.report()).unwrap();
    source.text().emit("unheard".to_owned());
    w1.value_out().connect(probe.report_value()).unwrap();
    source.value().emit(200);
    assert!(
        log.wait_for(4, Duration::from_secs(10)),
        "{:?}",
        log.entries()
    );
    // Whatever else arrives comes before the marker that follows it: w1
    // handled "unheard" before "done", and w1's replies go to the gate
    // only through the source's connection made now.
    source.text().connect(gate.report()).unwrap();
    source.text().emit("done".to_owned());
    assert!(barrier.wait_for(1, Duration::from_secs(10)));
    for worker in [&w1, &w2, &w3] {
        worker.reply().connect(gate.report()).unwrap();
        worker.report().invoke(()).unwrap();
    }
    assert!(barrier.wait_for(4, Duration::from_secs(10)));
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

pub fn emitting_on_behalf_of_an_object_in_a_child() {
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

/// In a child: says what it checked.
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
struct Checker;

#[event_loop_object]
impl Checker {
    #[signal]
    fn said(text: String);

    #[slot]
    fn on_seq(&mut self, ctx: &mut Context<Self>, seq: u64) {
        ctx.said().emit(format!("checked {seq}"));
    }
}

/// In a child, later under the checker's id: its slot 0 takes a `u64` too.
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
struct Launcher;

#[event_loop_object]
impl Launcher {
    #[signal]
    fn said(text: String);

    #[slot]
    fn launch_missiles(&mut self, ctx: &mut Context<Self>, count: u64) {
        ctx.said().emit(format!("launched {count}"));
    }
}

/// In a child: replaces the object `target` of its loop, on request.
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
struct Replacer {
    target: Option<CheckerHandle>,
    report_to: ProbeHandle,
}

#[event_loop_object]
impl Replacer {
    #[signal]
    fn said(text: String);

    /// Detaches the checker, then (once that is done: in order, through
    /// the loop's queue) puts a launcher under its id.
    #[slot]
    fn replace(&mut self, ctx: &mut Context<Self>) {
        if let Some(target) = self.target.take() {
            target.detach().expect("the loop runs");
        }
        ctx.make_launcher().invoke(()).expect("the loop runs");
    }

    #[slot]
    fn make_launcher(&mut self, ctx: &mut Context<Self>) {
        let launcher = ctx
            .event_loop()
            .add_with_id("target", Launcher)
            .expect("the id is free again");
        launcher
            .said()
            .connect(self.report_to.report())
            .expect("the parent's loop runs");
        ctx.said().emit("replaced".to_owned());
    }
}

pub fn a_connection_ends_with_its_object_across_processes() {
    let log = Log::default();
    // The parent's loop runs on a thread, so that this thread can wait.
    let mut main = EventLoopThread::new("instance_main").unwrap();
    let probe = main
        .add_with_id(
            "probe",
            Probe {
                log: log.clone(),
                expected: usize::MAX,
            },
        )
        .unwrap();
    let source = main.add_with_id("source", Source).unwrap();
    let mut child = EventLoopProcess::new("instance_child").unwrap();
    let checker = child.add_with_id("target", Checker).unwrap();
    let replacer = child
        .add_with_id(
            "replacer",
            Replacer {
                target: Some(checker.clone()),
                report_to: probe.clone(),
            },
        )
        .unwrap();
    let marker = child.add_with_id("marker", Worker::new()).unwrap();
    checker.said().connect(probe.report()).unwrap();
    replacer.said().connect(probe.report()).unwrap();
    marker.reply().connect(probe.report()).unwrap();
    source.text().connect(marker.on_text()).unwrap();
    // The parent's emitter to the checker: a connection the child never
    // sees (it lives here), to that object.
    source.value().connect(checker.on_seq()).unwrap();
    main.start().unwrap();
    child.start().unwrap();
    source.value().emit(1);
    assert!(
        log.wait_for(1, Duration::from_secs(10)),
        "{:?}",
        log.entries()
    );
    replacer.replace().invoke(()).unwrap();
    assert!(
        log.wait_for(2, Duration::from_secs(10)),
        "{:?}",
        log.entries()
    );
    // Through the connection to the checker: reaches the launcher that has
    // its id now? It must not.
    source.value().emit(2);
    source.text().emit("marker".to_owned());
    assert!(
        log.wait_for(3, Duration::from_secs(10)),
        "{:?}",
        log.entries()
    );
    let pid = child.pid().unwrap();
    assert_eq!(
        log.entries(),
        [
            "checked 1".to_owned(),
            "replaced".to_owned(),
            format!("marker@{pid}:marker")
        ]
    );
    // The handle's connections end with the object.
    assert!(source.value().connect(checker.on_seq()).is_err());
    child.stop();
    assert!(join(&mut child).success());
    main.stop();
    main.join().unwrap();
}

/// A chain wired after its processes started (parent -> child -> child ->
/// parent): `connect` returns once each emitter's process applied it, so
/// the first signal through it arrives, every time.
pub fn a_chain_wired_after_start_carries_its_first_signal() {
    const ROUNDS: u64 = 12;
    let log = Log::default();
    let mut main = EventLoopThread::new("chain_main").unwrap();
    let probe = main
        .add_with_id(
            "probe",
            Probe {
                log: log.clone(),
                expected: usize::MAX,
            },
        )
        .unwrap();
    let source = main.add_with_id("source", Source).unwrap();
    main.start().unwrap();
    for round in 0..ROUNDS {
        let mut first = EventLoopProcess::new(format!("chain_first_{round}")).unwrap();
        let mut second = EventLoopProcess::new(format!("chain_second_{round}")).unwrap();
        let w1 = first.add_with_id("w1", Worker::new()).unwrap();
        let w2 = second.add_with_id("w2", Worker::new()).unwrap();
        first.start().unwrap();
        second.start().unwrap();
        // Wired now, while both run; emitted at once.
        source.value().connect(w1.forward()).unwrap();
        w1.value_out().connect(w2.forward()).unwrap();
        w2.value_out().connect(probe.report_value()).unwrap();
        source.value().emit(round * 10);
        let expected = usize::try_from(round).unwrap() + 1;
        assert!(
            log.wait_for(expected, Duration::from_secs(10)),
            "round {round}: {:?}",
            log.entries()
        );
        assert_eq!(
            log.entries()[expected - 1],
            format!("value {}", round * 10 + 2)
        );
        source.value().disconnect(w1.forward()).unwrap();
        for process in [&mut first, &mut second] {
            process.stop();
            assert!(join(process).success());
        }
    }
    main.stop();
    main.join().unwrap();
}

/// Says which values reach it, to the parent.
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
struct Follower;

#[event_loop_object]
impl Follower {
    #[signal]
    fn seen(text: String);

    #[slot]
    fn on_value(&mut self, ctx: &mut Context<Self>, value: u64) {
        ctx.seen().emit(format!("latest {value}"));
    }
}

/// True once the process `pid` is stopped (SIGSTOP took effect).
fn is_stopped(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('T'))
    })
}

/// A keep-latest connection into a child (made before the start, so it
/// travels with the loop): of what waits for the child when it reads, its
/// slot gets only the newest.
pub fn keep_latest_into_a_stopped_child() {
    let (log, mut home, probe) = probe_thread("latest_home");
    let source = home.add_with_id("source", Source).unwrap();
    let mut child = EventLoopProcess::new("latest_child").unwrap();
    let follower = child.add_with_id("follower", Follower).unwrap();
    source.value().connect_latest(follower.on_value()).unwrap();
    follower.seen().connect(probe.report()).unwrap();
    child.start().unwrap();
    source.value().emit(0);
    assert!(log.wait_for(1, Duration::from_secs(10)));

    child.suspend(true).unwrap();
    let pid = child.pid().unwrap();
    assert!(crate::common::harness::wait_until(
        Duration::from_secs(10),
        || is_stopped(pid)
    ));
    for value in 1..=100 {
        source.value().emit(value);
    }
    child.suspend(false).unwrap();
    assert!(log.wait_for(2, Duration::from_secs(10)));
    child.stop();
    assert!(join(&mut child).success());
    home.stop();
    home.join().unwrap();
    assert_eq!(log.entries(), ["latest 0", "latest 100"]);
    assert_eq!(child.dropped_signals(), 0);
}

/// Single-shot connections of an emitter in a child: one made before the
/// start (it travels with the loop), one made while the child runs (the
/// change goes there); each delivers the next emission only.
pub fn single_shot_connections_of_an_emitter_in_a_child() {
    let (log, mut home, probe) = probe_thread("once_home");
    let mut child = EventLoopProcess::new("once_child").unwrap();
    let source = child.add_with_id("source", Source).unwrap();
    source.value().connect_once(probe.report_value()).unwrap();
    source.text().connect(probe.report()).unwrap();
    child.start().unwrap();
    // Emitted in the child (on the parent's behalf), in order.
    source.emit_values().invoke(3).unwrap();
    // Once this is handled there, the slot above has emitted its three.
    source.text().emit("done".to_owned());
    assert!(log.wait_for(2, Duration::from_secs(10)));
    source.value().connect_once(probe.report_value()).unwrap();
    source.emit_values().invoke(3).unwrap();
    assert!(log.wait_for(3, Duration::from_secs(10)));
    child.stop();
    assert!(join(&mut child).success());
    home.stop();
    home.join().unwrap();
    assert_eq!(log.entries(), ["value 0", "done", "value 0"]);
}

/// A signal blocker on an object of a child: what its slots emit while
/// the blocker lives reaches nobody; afterwards it flows again.
pub fn a_signal_blocker_on_an_object_of_a_child() {
    let (log, mut home, probe) = probe_thread("blocker_home");
    let mut child = EventLoopProcess::new("blocker_child").unwrap();
    let source = child.add_with_id("source", Source).unwrap();
    source.value().connect(probe.report_value()).unwrap();
    child.start().unwrap();
    let blocker = source.block_signals().unwrap();
    // Emitted by the child's own slot, and on its behalf from here.
    source.emit_values().invoke(3).unwrap();
    source.value().emit(100);
    drop(blocker);
    source.value().emit(7);
    assert!(log.wait_for(1, Duration::from_secs(10)));
    child.stop();
    assert!(join(&mut child).success());
    home.stop();
    home.join().unwrap();
    assert_eq!(log.entries(), ["value 7"]);
}

/// More connections from one process to a loop than its reader keeps frame
/// heads for, their signals interleaved one at a time, and one rewired in
/// the middle of the stream (its frames get a new head): every signal
/// reaches the receivers its connection named when it was emitted, once
/// and in order.
pub fn many_interleaved_connections_reach_their_receivers_in_order() {
    const EMITTERS: usize = 20;
    const ROUNDS: u64 = 300;
    let (log, mut main, probe, _source) = parent("heads_main", EMITTERS);
    let mut child =
        EventLoopProcess::with_options(EventLoop::builder("heads_child").capacity(100_000))
            .unwrap();
    let sources: Vec<_> = (0..EMITTERS)
        .map(|index| main.add_with_id(format!("s{index}"), Source).unwrap())
        .collect();
    let workers: Vec<_> = (0..EMITTERS)
        .map(|index| {
            child
                .add_with_id(format!("w{index}"), Worker::new())
                .unwrap()
        })
        .collect();
    for (source, worker) in sources.iter().zip(&workers) {
        source.value().connect(worker.on_value()).unwrap();
        worker.reply().connect(probe.report()).unwrap();
    }
    child.start().unwrap();
    // Round-robin: 20 heads in turn, more than a ring's reader keeps.
    for value in 0..ROUNDS {
        for source in &sources {
            source.value().emit(value);
        }
    }
    // One emitter alone: the same head again and again.
    for value in ROUNDS..2 * ROUNDS {
        sources[0].value().emit(value);
    }
    // Rewired: s0's signal now goes to w0 and w1 (one frame, a new head).
    sources[0].value().connect(workers[1].on_value()).unwrap();
    for value in 2 * ROUNDS..3 * ROUNDS {
        sources[0].value().emit(value);
        sources[1].value().emit(value - ROUNDS);
    }
    // After every signal in the ring (invocations go the same way).
    for worker in &workers {
        worker.report().invoke(()).unwrap();
    }
    run(&mut main, Duration::from_secs(60));
    let mut entries = log.entries();
    entries.sort();
    let mut expected: Vec<String> = (0..EMITTERS)
        .map(|index| {
            let (received, out_of_order) = match index {
                // s0's three runs in order.
                0 => (3 * ROUNDS, 0),
                // s1's values in order, and s0's from 2 × ROUNDS: its
                // first from s0 is counted out of order (a new sender
                // starts at 0), none after it.
                1 => (2 * ROUNDS + ROUNDS, 1),
                _ => (ROUNDS, 0),
            };
            format!("w{index}: received={received} out_of_order={out_of_order}")
        })
        .collect();
    expected.sort();
    assert_eq!(entries, expected);
    child.stop();
    assert!(join(&mut child).success());
}
