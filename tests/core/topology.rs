//! The topology of a running system: loops, objects, connections of each
//! delivery, broadcasts to their subscribers, as data and as diagrams.

use crate::common::{Emitter, Log, Recorder};
use signal_slot::{
    DropReason, EventLoop, EventLoopThread, LoopInfo, Receiver, Topology, event_loop_object, topic,
};

topic! {
    /// Numbers for whoever wants them.
    Numbers(value: u64);
}

#[event_loop_object]
struct Meter;

#[event_loop_object]
impl Meter {
    #[signal]
    fn reading(value: u64);
}

/// The loop `name` in `topology` (other tests' loops run beside).
fn find<'a>(topology: &'a Topology, name: &str) -> &'a LoopInfo {
    topology
        .processes
        .iter()
        .flat_map(|process| &process.loops)
        .find(|event_loop| event_loop.name == name)
        .unwrap_or_else(|| panic!("no loop {name} in {topology:#?}"))
}

#[test]
fn the_topology_shows_loops_objects_and_every_kind_of_connection() {
    let log = Log::default();
    let main = EventLoop::new("topo_main").unwrap();
    let worker = EventLoopThread::new("topo_worker").unwrap();
    let emitter = main.add_with_id("emitter", Emitter).unwrap();
    let meter = main.add_with_id("meter", Meter).unwrap();
    let first = worker.add_with_id("first", Recorder::new(&log)).unwrap();
    let second = worker.add_with_id("second", Recorder::new(&log)).unwrap();
    let third = worker.add_with_id("third", Recorder::new(&log)).unwrap();
    emitter.value().connect(first.on_value()).unwrap();
    emitter.value().connect_balanced(second.on_value()).unwrap();
    emitter.text().connect_latest(third.on_text()).unwrap();
    meter.reading().publish_on(Numbers, &worker).unwrap();
    second.subscribe(Numbers, second.on_value_again()).unwrap();
    third.subscribe_by_name("value", third.on_value()).unwrap();
    emitter.value().broadcast_on(&worker).unwrap();
    // Subscriptions are applied by their loop.
    let mut worker = worker;
    worker.start().unwrap();
    first.on_value().invoke(1).unwrap();
    assert!(log.wait_for(1, std::time::Duration::from_secs(10)));

    let topology = Topology::capture().unwrap();
    let root = &topology.processes[0];
    assert_eq!(root.number, 0);
    assert_eq!(root.pid, std::process::id());
    let main_loop = find(&topology, "topo_main");
    // The loop's own object (its start and terminate signals, its stop
    // slot) is there under the loop's name.
    let ids: Vec<&str> = main_loop.objects.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, ["emitter", "meter", "topo_main"]);
    let emitter_info = &main_loop.objects[0];
    assert_eq!(emitter_info.type_name, "Emitter");
    assert_eq!(emitter_info.signals, ["value", "text", "event"]);
    let connections: Vec<String> = emitter_info
        .connections
        .iter()
        .map(|connection| {
            format!(
                "{} {:?} {}",
                connection.signal, connection.to, connection.to_loop
            )
        })
        .collect();
    assert_eq!(
        connections,
        [
            "value Slot { object: \"first\", slot: \"on_value\", delivery: FanOut } topo_worker",
            "value Slot { object: \"second\", slot: \"on_value\", delivery: Balanced } topo_worker",
            "value Subscribers { name: \"value\" } topo_worker",
            "text Slot { object: \"third\", slot: \"on_text\", delivery: KeepLatest } topo_worker",
        ]
    );
    let meter_info = &main_loop.objects[1];
    assert!(matches!(
        &meter_info.connections[0].to,
        Receiver::Subscribers { name } if name.ends_with("::Numbers")
    ));
    let worker_loop = find(&topology, "topo_worker");
    let subscriptions: Vec<String> = worker_loop
        .subscriptions
        .iter()
        .map(|s| {
            format!(
                "{} {}.{}",
                s.name.rsplit("::").next().unwrap(),
                s.object,
                s.slot
            )
        })
        .collect();
    let mut subscriptions = subscriptions;
    subscriptions.sort();
    assert_eq!(
        subscriptions,
        ["Numbers second.on_value_again", "value third.on_value"]
    );

    let mermaid = topology.to_mermaid();
    for expected in [
        "flowchart LR",
        "[\"emitter: Emitter\"]",
        "-->|\"value → on_value\"|",
        "-.->|\"value → on_value (balanced)\"|",
        "==>|\"text → on_text (latest)\"|",
        "-->|\"reading → on_value_again (broadcast Numbers)\"|",
        "-->|\"value → on_value (broadcast value)\"|",
    ] {
        assert!(mermaid.contains(expected), "{expected} not in\n{mermaid}");
    }
    let dot = topology.to_dot();
    assert!(dot.starts_with("digraph signal_slot {"), "{dot}");
    assert!(
        dot.contains("label=\"text → on_text (latest)\", style=bold"),
        "{dot}"
    );
    let json: serde_json::Value = serde_json::from_str(&topology.to_json()).unwrap();
    assert_eq!(json["processes"][0]["pid"], std::process::id());

    // A detached object leaves the picture, with its subscription.
    second.detach().unwrap();
    worker.stop();
    worker.join().unwrap();
    let topology = Topology::capture().unwrap();
    assert!(
        topology
            .processes
            .iter()
            .flat_map(|process| &process.loops)
            .all(|event_loop| event_loop.name != "topo_worker")
    );
    let main_loop = find(&topology, "topo_main");
    assert_eq!(main_loop.objects.len(), 3);
}

/// Each connection carries the emissions of its signal that had somewhere
/// to go, and the diagrams show them.
#[test]
fn connections_carry_their_signals_emissions() {
    let log = Log::default();
    let main = EventLoop::new("topo_counts").unwrap();
    let meter = main.add_with_id("meter", Meter).unwrap();
    let emitter = main.add_with_id("emitter", Emitter).unwrap();
    let recorder = main.add_with_id("recorder", Recorder::new(&log)).unwrap();
    // Not connected yet: nowhere to go, not counted.
    meter.reading().emit(0);
    meter.reading().connect(recorder.on_value()).unwrap();
    emitter.event().connect(recorder.on_event()).unwrap();
    for value in 0..3 {
        meter.reading().emit(value);
    }
    meter.reading().emit_many((0..4).map(|value| (value,)));
    let topology = Topology::capture().unwrap();
    let counts = find(&topology, "topo_counts");
    let emitted = |id: &str| {
        let object = counts
            .objects
            .iter()
            .find(|object| object.id == id)
            .unwrap();
        object.connections[0].emitted
    };
    assert_eq!(emitted("meter"), 7);
    assert_eq!(emitted("emitter"), 0);
    let mermaid = topology.to_mermaid();
    assert!(mermaid.contains("reading → on_value · 7 sent"), "{mermaid}");
    assert!(mermaid.contains("\"event → on_event\""), "{mermaid}");
    assert!(topology.to_dot().contains("reading → on_value · 7 sent"));
}

/// A keep-latest connection counts what it replaced, on the connection and
/// on its loop; the rates between two captures show in the diagram.
#[test]
fn a_connection_counts_what_it_replaced() {
    let log = Log::default();
    let main = EventLoop::new("topo_replaced").unwrap();
    let meter = main.add_with_id("meter", Meter).unwrap();
    let recorder = main.add_with_id("recorder", Recorder::new(&log)).unwrap();
    let latest = meter.reading().connect_latest(recorder.on_value()).unwrap();
    let before = Topology::capture().unwrap();
    // The loop does not run: each value replaces the one before.
    for value in 0..5 {
        meter.reading().emit(value);
    }
    let topology = Topology::capture().unwrap().with_rates(&before);
    let connection = &find(&topology, "topo_replaced")
        .objects
        .iter()
        .find(|object| object.id == "meter")
        .unwrap()
        .connections[0];
    assert_eq!(connection.emitted, 5);
    assert_eq!(connection.dropped.get(DropReason::Replaced), 4);
    assert_eq!(connection.dropped.total(), 4);
    assert_eq!(main.stats().unwrap().drops.get(DropReason::Replaced), 4);
    // The connection's own handle reads the same numbers.
    assert_eq!(latest.emitted(), Some(5));
    assert_eq!(latest.dropped(), Some(connection.dropped));
    let rates = connection.rates.expect("two captures");
    assert!(
        rates.emitted > rates.dropped && rates.dropped > 0.0,
        "{rates:?}"
    );
    let mermaid = topology.to_mermaid();
    assert!(mermaid.contains("dropped/s"), "{mermaid}");
    let counts = Topology::capture().unwrap().to_mermaid();
    assert!(
        counts.contains("reading → on_value (latest) · 5 sent · 4 dropped (replaced 4)"),
        "{counts}"
    );
}

/// Rates are of a signal: a connection made between two captures shows
/// what its signal did since the first, like the others of its signal.
#[test]
fn a_new_connection_shows_its_signals_rate_since_the_earlier_capture() {
    let log = Log::default();
    let main = EventLoop::new("topo_rates").unwrap();
    let meter = main.add_with_id("meter", Meter).unwrap();
    let recorder = main.add_with_id("recorder", Recorder::new(&log)).unwrap();
    meter.reading().connect(recorder.on_value()).unwrap();
    for value in 0..30 {
        meter.reading().emit(value);
    }
    let before = Topology::capture().unwrap();
    meter.reading().connect_latest(recorder.on_value()).unwrap();
    for value in 0..5 {
        meter.reading().emit(value);
    }
    let topology = Topology::capture().unwrap().with_rates(&before);
    let connections = &find(&topology, "topo_rates")
        .objects
        .iter()
        .find(|object| object.id == "meter")
        .unwrap()
        .connections;
    assert_eq!(connections.len(), 2, "{connections:?}");
    let seconds = topology
        .captured
        .duration_since(before.captured)
        .unwrap()
        .as_secs_f64();
    for connection in connections {
        let rates = connection.rates.expect("two captures");
        // 5 emissions since `before`, not the 35 of the signal's life.
        assert!(
            (rates.emitted * seconds - 5.0).abs() < 1e-6,
            "{connection:?} over {seconds} s"
        );
    }
}
