//! Wiring objects across processes: the usage example, chains between
//! children, structured arguments, and what a child's init function sets up.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::Log;
use crate::common::process::{
    Mode, Probe, ProbeHandle, Source, Telemetry, TelemetrySink, Worker, join, parent, probe, run,
};
use signal_slot::{
    Context, EventLoop, EventLoopProcess, ExitStatus, LoopHandle, Timer, event_loop_object,
};

pub fn the_usage_example() {
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

pub fn several_objects_in_two_processes_wired_together() {
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

pub fn struct_and_map_arguments_cross_processes() {
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

/// Created in a child by its init function: counts ticks of a timer there,
/// and broadcasts when done.
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
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

/// Builds the child's objects there; the handles (to an object of the
/// parent, and to its loop) travel as arguments.
#[signal_slot::init]
fn count_ticks(event_loop: &LoopHandle, probe: ProbeHandle, main: LoopHandle) {
    let counter = event_loop
        .add_with_id("counter", TickCounter { ticks: 0 })
        .unwrap();
    let timer = Timer::new(event_loop, Duration::from_millis(5)).unwrap();
    timer.timeout().connect(counter.on_tick()).unwrap();
    timer.start();
    // To the parent: a direct connection and a broadcast on its loop.
    counter.done().connect(probe.report()).unwrap();
    counter.done().broadcast_on(&main).unwrap();
}

pub fn timers_broadcasts_and_loop_signals_in_a_child() {
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
    listener
        .subscribe_by_name("done", listener.report())
        .unwrap();
    let main_handle = main.handle();
    let mut child = EventLoopProcess::new("child_timer")
        .unwrap()
        .init_with(count_ticks, (probe.clone(), main_handle));
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

signal_slot::topic! {
    /// Values published by a child.
    ChildValues(value: u64);
    /// The same, under another name.
    OtherValues(value: u64);
}

/// A topic across processes: published before the start (the publication
/// travels with the loop, by either start method), then changed from the
/// parent while the child runs (the change goes to the child, where the
/// emitter's connections live).
pub fn topics_across_processes() {
    let values = Log::default();
    let others = Log::default();
    let mut listeners = signal_slot::EventLoopThread::new("topic_listeners").unwrap();
    let listen = |id: &str, log: &Log| {
        listeners
            .add_with_id(
                id,
                Probe {
                    log: log.clone(),
                    expected: usize::MAX,
                },
            )
            .unwrap()
    };
    let value_probe = listen("values", &values);
    let other_probe = listen("others", &others);
    value_probe
        .subscribe(ChildValues, value_probe.report_value())
        .unwrap();
    other_probe
        .subscribe(OtherValues, other_probe.report_value())
        .unwrap();
    listeners.start().unwrap();

    let mut child = EventLoopProcess::new("topic_child").unwrap();
    let source = child.add_with_id("source", Source).unwrap();
    source.value().publish_on(ChildValues, &listeners).unwrap();
    child.start().unwrap();
    source.value().emit(1);
    assert!(values.wait_for(1, Duration::from_secs(10)));
    source
        .value()
        .stop_publishing_on(ChildValues, &listeners)
        .unwrap();
    source.value().publish_on(OtherValues, &listeners).unwrap();
    source.value().emit(2);
    assert!(others.wait_for(1, Duration::from_secs(10)));
    child.stop();
    assert!(join(&mut child).success());
    listeners.stop();
    assert_eq!(listeners.join().unwrap(), ExitStatus::Normal);
    assert_eq!(values.entries(), ["value 1"]);
    assert_eq!(others.entries(), ["value 2"]);
}

/// The topology across processes: a child's loop, its objects and their
/// connections to the parent, with the slot names from the process where
/// each receiver lives.
pub fn the_topology_spans_processes() {
    let (_log, main, probe, source) = parent("topo_parent", usize::MAX);
    let mut child = EventLoopProcess::new("topo_child").unwrap();
    let worker = child.add_with_id("worker", Worker::new()).unwrap();
    source.value().connect(worker.on_value()).unwrap();
    worker.reply().connect_latest(probe.report()).unwrap();
    child.start().unwrap();
    let topology = signal_slot::Topology::capture().unwrap();
    assert_eq!(topology.processes.len(), 2, "{topology:#?}");
    let there = &topology.processes[1];
    assert_eq!(there.pid, child.pid().unwrap());
    assert_eq!(there.loops.len(), 1);
    assert_eq!(there.loops[0].name, "topo_child");
    let ids: Vec<&str> = there.loops[0]
        .objects
        .iter()
        .map(|o| o.id.as_str())
        .collect();
    assert_eq!(ids, ["topo_child", "worker"]);
    let worker_info = &there.loops[0].objects[1];
    assert_eq!(
        format!("{:?}", worker_info.connections[0].to),
        "Slot { object: \"probe\", slot: \"report\", delivery: KeepLatest }"
    );
    let here = &topology.processes[0];
    let source_info = here
        .loops
        .iter()
        .find(|event_loop| event_loop.name == "topo_parent")
        .and_then(|event_loop| event_loop.objects.iter().find(|o| o.id == "source"))
        .unwrap();
    assert_eq!(
        format!("{:?}", source_info.connections[0].to),
        "Slot { object: \"worker\", slot: \"on_value\", delivery: FanOut }"
    );
    let mermaid = topology.to_mermaid();
    assert!(mermaid.contains("value → on_value"), "{mermaid}");
    assert!(mermaid.contains("reply → report (latest)"), "{mermaid}");
    child.stop();
    assert!(join(&mut child).success());
    drop(main);
}
