//! Qt's connection toolbox across processes: prefix slots, signal-to-signal
//! through a child, connections as values of an emitter in a child,
//! `destroyed` from a child, immediate removal in a child, and closures
//! where they cannot go.

use std::time::Duration;

use crate::common::process::{join, probe_thread};
use signal_slot::{Context, Error, EventLoopProcess, LoopHandle, event_loop_object};

/// Readings of two arguments; re-emits them; says what reaches it.
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
struct Gauge;

#[event_loop_object]
impl Gauge {
    #[signal]
    fn reading(value: u64, place: String);

    #[signal]
    fn relayed(value: u64, place: String);

    #[signal]
    fn seen(text: String);

    /// Takes the first argument of a reading only.
    #[slot]
    fn on_value(&mut self, ctx: &mut Context<Self>, value: u64) {
        ctx.seen().emit(format!("{} value {value}", ctx.id()));
    }

    #[slot]
    fn on_both(&mut self, ctx: &mut Context<Self>, value: u64, place: String) {
        let from = ctx.sender().map_or("-", |sender| sender.id()).to_owned();
        ctx.seen()
            .emit(format!("{} both {value} {place} from {from}", ctx.id()));
    }

    /// Emits `count` readings.
    #[slot]
    fn emit_readings(&mut self, ctx: &mut Context<Self>, count: u64) {
        for value in 0..count {
            ctx.reading().emit(value, format!("p{value}"));
        }
    }

    /// Says how many signals its loop dropped, in its process.
    #[slot]
    fn report_drops(&mut self, ctx: &mut Context<Self>) {
        let dropped = ctx.event_loop().dropped_signals();
        ctx.seen()
            .emit(format!("{} dropped {dropped}", ctx.event_loop().name()));
    }

    /// Keeps its loop busy until the file `flag` exists.
    #[slot]
    fn hold(&mut self, ctx: &mut Context<Self>, flag: String) {
        ctx.seen().emit(format!("{} holding", ctx.id()));
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !std::path::Path::new(&flag).exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Prefix slots and a signal re-emitted by an object of a child: the
/// child's gauge takes the first argument of the parent's readings, and
/// relays them whole to the parent, as itself.
pub fn prefix_slots_and_relays_through_a_child() {
    let (log, mut home, probe) = probe_thread("relay_home");
    let sensor = home.add_with_id("sensor", Gauge).unwrap();
    let back = home.add_with_id("back", Gauge).unwrap();
    let mut child = EventLoopProcess::new("relay_child").unwrap();
    let relay = child.add_with_id("relay", Gauge).unwrap();
    // Made before the start: they travel with the loop.
    sensor.reading().connect(relay.on_value()).unwrap();
    sensor.reading().connect(relay.relayed()).unwrap();
    relay.seen().connect(probe.report()).unwrap();
    child.start().unwrap();
    // Made while the child runs: the relay's connections live there.
    relay.relayed().connect(back.on_both()).unwrap();
    back.seen().connect(probe.report()).unwrap();
    assert_eq!(sensor.reading().receivers().unwrap(), 2);
    assert_eq!(relay.relayed().receivers().unwrap(), 1);
    sensor.reading().emit(1, "hall".to_owned());
    sensor.reading().emit(2, "attic".to_owned());
    assert!(
        log.wait_for(4, Duration::from_secs(10)),
        "{:?}",
        log.entries()
    );
    let mut entries = log.entries();
    entries.sort();
    assert_eq!(
        entries,
        [
            "back both 1 hall from relay",
            "back both 2 attic from relay",
            "relay value 1",
            "relay value 2",
        ]
    );
    child.stop();
    assert!(join(&mut child).success());
    home.stop();
    home.join().unwrap();
    assert_eq!(child.dropped_signals(), 0);
}

/// The connections of an emitter in a child, as values: counted, ended one
/// by one, all to one receiver, or all at once, each change applied there.
pub fn connections_of_an_emitter_in_a_child_as_values() {
    let (log, mut home, probe) = probe_thread("values_home");
    let first = home.add_with_id("first", Gauge).unwrap();
    let second = home.add_with_id("second", Gauge).unwrap();
    first.seen().connect(probe.report()).unwrap();
    second.seen().connect(probe.report()).unwrap();
    let mut child = EventLoopProcess::new("values_child").unwrap();
    let source = child.add_with_id("source", Gauge).unwrap();
    child.start().unwrap();
    let to_first = source.reading().connect(first.on_value()).unwrap();
    source.reading().connect(second.on_value()).unwrap();
    source.relayed().connect(second.on_both()).unwrap();
    assert_eq!(source.reading().receivers().unwrap(), 2);
    assert!(to_first.disconnect().unwrap());
    assert!(!to_first.disconnect().unwrap());
    source.emit_readings().invoke(1).unwrap();
    assert!(log.wait_for(1, Duration::from_secs(10)));
    assert_eq!(log.entries(), ["second value 0"]);
    // Everything to `second`, every signal.
    assert!(source.disconnect_from(&second).unwrap());
    assert_eq!(source.reading().receivers().unwrap(), 0);
    assert_eq!(source.relayed().receivers().unwrap(), 0);
    // A scoped connection ends with its guard.
    {
        let _guard = source.reading().connect(first.on_value()).unwrap().scoped();
        source.emit_readings().invoke(1).unwrap();
        assert!(log.wait_for(2, Duration::from_secs(10)));
    }
    assert_eq!(source.reading().receivers().unwrap(), 0);
    source.reading().connect(first.on_value()).unwrap();
    assert!(source.disconnect_all().unwrap());
    assert_eq!(source.reading().receivers().unwrap(), 0);
    // Nothing is connected: only the check's own report comes.
    source.emit_readings().invoke(1).unwrap();
    source.seen().connect(probe.report()).unwrap();
    source.on_value().invoke(9).unwrap();
    assert!(log.wait_for(3, Duration::from_secs(10)));
    assert_eq!(
        log.entries(),
        ["second value 0", "first value 0", "source value 9"]
    );
    child.stop();
    assert!(join(&mut child).success());
    home.stop();
    home.join().unwrap();
}

/// `destroyed` of an object of a child reaches the parent; an object of a
/// child detached at once gets nothing of what was queued to it, counted
/// there; a closure cannot go to a child, nor hear an emitter there.
pub fn lifetime_across_processes_and_closures_that_cannot_go() {
    let (log, mut home, probe) = probe_thread("lifetime_home");
    let watcher = home.add_with_id("watcher", Gauge).unwrap();
    watcher.seen().connect(probe.report()).unwrap();
    let mut child = EventLoopProcess::new("lifetime_child").unwrap();
    let holder = child.add_with_id("holder", Gauge).unwrap();
    let doomed = child.add_with_id("doomed", Gauge).unwrap();
    holder.seen().connect(probe.report()).unwrap();
    doomed.seen().connect(probe.report()).unwrap();
    // Closures: not to a loop of another process (or one that will run
    // in a child), nor from an emitter whose connections live (or will
    // live) there; before the start and after.
    let child_loop = LoopHandle::clone(&child);
    let closures_refused = || {
        assert!(matches!(
            watcher.reading().connect_fn(&child_loop, |_: u64| {}),
            Err(Error::ClosureElsewhere { .. })
        ));
        assert!(matches!(
            doomed.reading().connect_fn(&home, |_: u64| {}),
            Err(Error::Connection { .. })
        ));
    };
    closures_refused();
    // Not to a child's loop before it runs: added to it instead.
    assert!(matches!(watcher.move_to(&child), Err(Error::Move { .. })));
    child.start().unwrap();
    closures_refused();
    // Not an object whose type cannot travel, nor one of another process
    // (its own process moves it).
    assert!(matches!(probe.move_to(&child), Err(Error::Move { .. })));
    assert!(matches!(doomed.move_to(&home), Err(Error::Move { .. })));
    doomed.destroyed().connect(probe.report()).unwrap();
    holder.destroyed().connect(probe.report()).unwrap();

    let flag = std::env::temp_dir().join(format!("signal-slot-hold-{}", std::process::id()));
    let _ = std::fs::remove_file(&flag);
    holder
        .hold()
        .invoke(flag.to_string_lossy().into_owned())
        .unwrap();
    assert!(log.wait_for(1, Duration::from_secs(10)));
    // The child's loop is busy: these wait in its inbox.
    for value in 0..3 {
        doomed.on_value().invoke(value).unwrap();
    }
    doomed.detach_now().unwrap();
    std::fs::write(&flag, b"go").unwrap();
    // Its `destroyed` comes; none of its values.
    assert!(log.wait_for(2, Duration::from_secs(10)));
    holder.report_drops().invoke(()).unwrap();
    holder.detach().unwrap();
    assert!(log.wait_for(4, Duration::from_secs(10)));
    let _ = std::fs::remove_file(&flag);
    child.stop();
    assert!(join(&mut child).success());
    home.stop();
    home.join().unwrap();
    // Counted where they were dropped, once each.
    assert_eq!(
        log.entries(),
        [
            "holder holding",
            "doomed",
            "lifetime_child dropped 3",
            "holder"
        ]
    );
    assert_eq!(child.dropped_signals(), 0);
}

/// Counts what reaches it, and says where it counted.
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
struct Counter {
    count: u64,
}

#[event_loop_object]
impl Counter {
    #[signal]
    fn counted(text: String);

    #[slot]
    fn bump(&mut self, ctx: &mut Context<Self>, value: u64) {
        self.count += 1;
        let place = ctx.event_loop().name().to_owned();
        ctx.counted()
            .emit(format!("{value} count {} on {place}", self.count));
    }

    /// Moves itself to the loop `name`, wherever that runs.
    #[slot]
    fn go_to(&mut self, ctx: &mut Context<Self>, name: String) {
        let to = LoopHandle::named(&name).expect("the loop is known");
        ctx.handle().move_to(&to).expect("it can move");
    }
}

/// An object that travels moves into a running child with its state and
/// connections, then back from there, while values stream to it: each
/// reaches it once, in order, counted by its state; its own emissions
/// follow it.
pub fn an_object_moves_into_a_child_and_back() {
    const COUNT: u64 = 3_000;
    let (log, mut home, probe) = probe_thread("travel_home");
    let source = home.add_with_id("source", Gauge).unwrap();
    let counter = home.add_with_id("counter", Counter { count: 0 }).unwrap();
    let mut child = EventLoopProcess::new("travel_child").unwrap();
    let _anchor = child.add_with_id("anchor", Gauge).unwrap();
    source.reading().connect(counter.bump()).unwrap();
    counter.counted().connect(probe.report()).unwrap();
    // Handed back from wherever it ends: the request follows it.
    let kept = home.keep(&counter).unwrap();
    child.start().unwrap();
    for value in 0..COUNT {
        if value == COUNT / 3 {
            counter.move_to(&child).unwrap();
        }
        if value == 2 * COUNT / 3 {
            // Back: the move is made in its process, once it handled what
            // was queued to it there (the rest of a reading pass, maybe).
            counter.go_to().invoke("travel_home".to_owned()).unwrap();
            // Until it left the child: the loop it goes to knows of it
            // (and reserves its id) as soon as the move starts, before the
            // child hands it over.
            assert!(crate::common::harness::wait_until(
                Duration::from_secs(10),
                || home.object::<Counter>("counter").is_ok()
                    && child.object::<Counter>("counter").is_err()
            ));
        }
        source.reading().emit(value, String::new());
    }
    assert!(
        log.wait_for(COUNT as usize, Duration::from_secs(20)),
        "{} of {COUNT}",
        log.len()
    );
    // Where the last third ran depends on when the child handed it over
    // (what reached the child first ran there); once it is home, what
    // comes next runs home. One value at a time until one does.
    let mut sent = COUNT;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !log.entries().last().unwrap().ends_with(" on travel_home") {
        assert!(std::time::Instant::now() < deadline, "it never came home");
        source.reading().emit(sent, String::new());
        sent += 1;
        assert!(log.wait_for(sent as usize, Duration::from_secs(20)));
    }
    let entries = log.entries();
    let mut places = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let (head, place) = entry.split_once(" on ").unwrap();
        assert_eq!(head, format!("{index} count {}", index + 1), "{entry}");
        if places.last() != Some(&place) {
            places.push(place);
        }
    }
    assert_eq!(places, ["travel_home", "travel_child", "travel_home"]);
    child.stop();
    assert!(join(&mut child).success());
    home.stop();
    home.join().unwrap();
    assert_eq!(child.dropped_signals() + home.dropped_signals(), 0);
    assert_eq!(kept.wait(Duration::from_secs(10)).unwrap().count, sent);
}
