//! Qt's connection toolbox: slots that take a prefix of a signal's
//! arguments, closures as slots, connections as values, signal-to-signal,
//! `destroyed` and immediate removal.

use std::time::Duration;

use crate::common::{Emitter, Log, Recorder, sender_id};
use signal_slot::{Context, Error, EventLoop, EventLoopThread, event_loop_object};

/// Emits a reading of two arguments.
#[event_loop_object]
pub struct Sensor;

#[event_loop_object]
impl Sensor {
    #[signal]
    pub fn reading(value: u64, place: String);

    #[signal]
    pub fn relayed(value: u64, place: String);
}

/// Slots that take all of a reading, its first argument, or none.
#[event_loop_object]
pub struct Panel {
    log: Log,
}

#[event_loop_object]
impl Panel {
    #[slot]
    fn on_both(&mut self, ctx: &mut Context<Self>, value: u64, place: String) {
        self.log.push(format!(
            "{} both {value} {place} from {}",
            ctx.id(),
            sender_id(ctx)
        ));
    }

    #[slot]
    fn on_value(&mut self, ctx: &mut Context<Self>, value: u64) {
        self.log.push(format!("{} value {value}", ctx.id()));
    }

    #[slot]
    fn on_nothing(&mut self, ctx: &mut Context<Self>) {
        self.log.push(format!("{} nothing", ctx.id()));
    }

    #[slot]
    fn on_gone(&mut self, ctx: &mut Context<Self>, id: String) {
        self.log.push(format!("{} saw {id} go", ctx.id()));
    }

    #[slot]
    fn echo(&mut self, value: u64) -> u64 {
        value
    }
}

fn panel(log: &Log) -> Panel {
    Panel { log: log.clone() }
}

/// Runs `main` until `log` holds `count` entries, then stops it.
fn run_until(main: &mut EventLoop, log: &Log, count: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while log.len() < count && std::time::Instant::now() < deadline {
        main.process_events();
    }
    assert!(log.len() >= count, "{:?}", log.entries());
}

#[test]
fn a_slot_may_take_a_prefix_of_the_signal_arguments() {
    let log = Log::default();
    let mut main = EventLoop::new("prefix_main").unwrap();
    let mut worker = EventLoopThread::new("prefix_worker").unwrap();
    let sensor = main.add_with_id("sensor", Sensor).unwrap();
    let here = main.add_with_id("here", panel(&log)).unwrap();
    let there = worker.add_with_id("there", panel(&log)).unwrap();
    // On this loop and on another thread's; before the full receiver and
    // after it (the values are moved to the last receiver of a loop).
    sensor.reading().connect(here.on_value()).unwrap();
    sensor.reading().connect(here.on_both()).unwrap();
    sensor.reading().connect(here.on_nothing()).unwrap();
    sensor.reading().connect(there.on_value()).unwrap();
    worker.start().unwrap();
    sensor.reading().emit(7, "hall".to_owned());
    sensor
        .reading()
        .emit_many([(8, "attic".to_owned()), (9, "cellar".to_owned())]);
    run_until(&mut main, &log, 12);
    worker.stop();
    worker.join().unwrap();
    let mut here_entries: Vec<String> = log
        .entries()
        .into_iter()
        .filter(|entry| entry.starts_with("here"))
        .collect();
    assert_eq!(
        here_entries,
        [
            "here value 7",
            "here both 7 hall from sensor",
            "here nothing",
            "here value 8",
            "here both 8 attic from sensor",
            "here nothing",
            "here value 9",
            "here both 9 cellar from sensor",
            "here nothing",
        ]
    );
    here_entries = log
        .entries()
        .into_iter()
        .filter(|entry| entry.starts_with("there"))
        .collect();
    assert_eq!(
        here_entries,
        ["there value 7", "there value 8", "there value 9"]
    );
    assert_eq!(main.dropped_signals(), 0);
}

/// A value whose drop is told: the closure that holds it is gone.
struct Witness(crossbeam_channel::Sender<()>);

impl Drop for Witness {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// Waits for one drop of a witness.
fn a_drop(dropped: &crossbeam_channel::Receiver<()>) -> bool {
    dropped.recv_timeout(Duration::from_secs(10)).is_ok()
}

#[test]
fn a_closure_runs_on_its_loop_and_leaves_it_with_its_connection() {
    let mut worker = EventLoopThread::new("closure_worker").unwrap();
    let main = EventLoop::new("closure_main").unwrap();
    let sensor = main.add_with_id("sensor", Sensor).unwrap();
    let (sender, received) = crossbeam_channel::unbounded();
    let (witness, dropped) = crossbeam_channel::unbounded();
    let witness = Witness(witness);
    let connection = sensor
        .reading()
        .connect_fn(&worker, move |value: u64, place: String| {
            let _ = &witness;
            let thread = std::thread::current().name().map(str::to_owned);
            let _ = sender.send((value, place, thread));
        })
        .unwrap();
    assert_eq!(sensor.reading().receivers().unwrap(), 1);
    assert_eq!(
        connection.receiver().loop_name().as_deref(),
        Some("closure_worker")
    );
    worker.start().unwrap();
    sensor.reading().emit(1, "a".to_owned());
    sensor.reading().emit(2, "b".to_owned());
    for expected in [(1, "a"), (2, "b")] {
        let (value, place, thread) = received.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!((value, place.as_str()), expected);
        assert_eq!(thread.as_deref(), Some("closure_worker"));
    }
    assert!(dropped.is_empty());
    // Disconnected, the closure leaves the loop: what it held is dropped.
    assert!(connection.disconnect().unwrap());
    assert!(a_drop(&dropped));
    sensor.reading().emit(3, "c".to_owned());
    assert!(!connection.disconnect().unwrap());
    worker.stop();
    worker.join().unwrap();
    assert!(received.try_recv().is_err());
    assert_eq!(worker.dropped_signals(), 0);
}

#[test]
fn a_closure_ends_with_its_emitter_its_guard_or_its_loop() {
    let main = EventLoop::new("closure_end_main").unwrap();
    let mut worker = EventLoopThread::new("closure_end_worker").unwrap();
    worker.start().unwrap();
    let (witness, dropped) = crossbeam_channel::unbounded();
    let closure = |witness: &crossbeam_channel::Sender<()>| {
        let witness = Witness(witness.clone());
        move |_: u64| {
            let _ = &witness;
        }
    };
    // The emitter detached: its connections end, and the closure with them.
    let sensor = main.add_with_id("sensor", Sensor).unwrap();
    sensor
        .reading()
        .connect_fn(&worker, closure(&witness))
        .unwrap();
    sensor.detach().unwrap();
    let mut main = main;
    main.process_events();
    assert!(a_drop(&dropped));
    // A scoped connection: the closure goes with the guard.
    let sensor = main.add_with_id("sensor", Sensor).unwrap();
    {
        let _guard = sensor
            .reading()
            .connect_fn(&worker, closure(&witness))
            .unwrap()
            .scoped();
        assert_eq!(sensor.reading().receivers().unwrap(), 1);
    }
    assert_eq!(sensor.reading().receivers().unwrap(), 0);
    assert!(a_drop(&dropped));
    // Every connection of the emitter ended at once.
    sensor
        .reading()
        .connect_fn(&worker, closure(&witness))
        .unwrap();
    sensor
        .relayed()
        .connect_fn(&worker, closure(&witness))
        .unwrap();
    assert!(sensor.disconnect_all().unwrap());
    assert!(a_drop(&dropped) && a_drop(&dropped));
    // Its loop ends.
    sensor
        .reading()
        .connect_fn(&worker, closure(&witness))
        .unwrap();
    worker.stop();
    worker.join().unwrap();
    assert_eq!(dropped.len(), 1);
    // A loop that ended takes no closure.
    assert!(matches!(
        sensor.reading().connect_fn(&worker, |_: u64| {}),
        Err(Error::LoopEnded(_))
    ));
}

#[test]
fn connections_are_values() {
    let log = Log::default();
    let mut main = EventLoop::new("values_main").unwrap();
    let emitter = main.add_with_id("emitter", Emitter).unwrap();
    let first = main.add_with_id("first", Recorder::new(&log)).unwrap();
    let second = main.add_with_id("second", Recorder::new(&log)).unwrap();
    assert_eq!(emitter.value().receivers().unwrap(), 0);
    let to_first = emitter.value().connect(first.on_value()).unwrap();
    emitter.value().connect(first.on_value_again()).unwrap();
    emitter.value().connect_balanced(second.on_value()).unwrap();
    emitter
        .value()
        .connect_latest(second.on_value_again())
        .unwrap();
    emitter.text().connect(first.on_text()).unwrap();
    emitter.text().connect(second.on_text()).unwrap();
    assert_eq!(emitter.value().receivers().unwrap(), 4);
    assert_eq!(emitter.text().receivers().unwrap(), 2);
    assert_eq!(
        format!("{to_first:?}"),
        "Connection(emitter.value -> first.on_value)"
    );
    assert_eq!(to_first.signal_name(), "value");
    assert_eq!(to_first.slot_name(), "on_value");

    // One connection, by itself; the others stay.
    assert!(to_first.disconnect().unwrap());
    assert!(!to_first.clone().disconnect().unwrap());
    assert_eq!(emitter.value().receivers().unwrap(), 3);
    // Everything between two objects, every signal.
    assert!(emitter.disconnect_from(&second).unwrap());
    assert!(!emitter.disconnect_from(&second).unwrap());
    assert_eq!(emitter.value().receivers().unwrap(), 1);
    assert_eq!(emitter.text().receivers().unwrap(), 1);
    emitter.value().emit(5);
    emitter.text().emit("t".to_owned());
    run_until(&mut main, &log, 2);
    assert_eq!(log.entries(), ["first:again:5", "first:t"]);
    // One signal's, then all of an object's.
    assert!(emitter.value().disconnect_all().unwrap());
    assert_eq!(emitter.value().receivers().unwrap(), 0);
    assert_eq!(emitter.text().receivers().unwrap(), 1);
    assert!(emitter.disconnect_all().unwrap());
    assert!(!emitter.disconnect_all().unwrap());
    assert_eq!(emitter.text().receivers().unwrap(), 0);

    // A single-shot connection is over once it fired.
    let once = emitter.value().connect_once(first.on_value()).unwrap();
    assert_eq!(emitter.value().receivers().unwrap(), 1);
    emitter.value().emit(6);
    assert_eq!(emitter.value().receivers().unwrap(), 0);
    assert!(!once.disconnect().unwrap());
    run_until(&mut main, &log, 3);
    emitter.value().emit(7);
    main.stop();
    main.exec();
    assert_eq!(log.entries(), ["first:again:5", "first:t", "first:6"]);
}

#[test]
fn disconnecting_everything_keeps_broadcasts() {
    let log = Log::default();
    let mut main = EventLoop::new("keep_broadcast_main").unwrap();
    let emitter = main.add_with_id("emitter", Emitter).unwrap();
    let direct = main.add_with_id("direct", Recorder::new(&log)).unwrap();
    let subscriber = main.add_with_id("subscriber", Recorder::new(&log)).unwrap();
    subscriber
        .subscribe_by_name("value", subscriber.on_value())
        .unwrap();
    emitter.value().broadcast_on(&main).unwrap();
    emitter.value().connect(direct.on_value()).unwrap();
    assert!(emitter.disconnect_all().unwrap());
    emitter.value().emit(1);
    run_until(&mut main, &log, 1);
    assert_eq!(log.entries(), ["subscriber:1"]);
}

#[test]
fn a_signal_connected_to_a_signal_is_re_emitted_by_its_object() {
    let log = Log::default();
    let mut main = EventLoop::new("relay_main").unwrap();
    let mut worker = EventLoopThread::new("relay_worker").unwrap();
    let sensor = main.add_with_id("sensor", Sensor).unwrap();
    // The second emitter lives on another thread: it re-emits there.
    let relay = worker.add_with_id("relay", Sensor).unwrap();
    let panel = main.add_with_id("panel", panel(&log)).unwrap();
    let echo = worker.add_with_id("echo", self::panel(&log)).unwrap();
    let connection = sensor.reading().connect(relay.relayed()).unwrap();
    assert_eq!(connection.slot_name(), "relayed");
    relay.relayed().connect(panel.on_both()).unwrap();
    // A signal of fewer arguments: a prefix, as for slots.
    let counter = main.add_with_id("counter", Emitter).unwrap();
    sensor.reading().connect(counter.value()).unwrap();
    counter.value().connect(panel.on_value()).unwrap();
    worker.start().unwrap();
    sensor.reading().emit(1, "x".to_owned());
    sensor.reading().emit(2, "y".to_owned());
    run_until(&mut main, &log, 4);
    let mut entries = log.entries();
    entries.sort();
    assert_eq!(
        entries,
        [
            "panel both 1 x from relay",
            "panel both 2 y from relay",
            "panel value 1",
            "panel value 2"
        ]
    );
    // The relay's blocker holds what it re-emits.
    log.clear();
    {
        let _quiet = relay.block_signals().unwrap();
        sensor.reading().emit(3, "z".to_owned());
        // A call through the worker's inbox, behind the emission: once it
        // is answered, the relay had its turn.
        assert_eq!(echo.echo().call(9, Duration::from_secs(10)).unwrap(), 9);
        run_until(&mut main, &log, 1);
        main.process_events();
    }
    assert_eq!(log.entries(), ["panel value 3"]);
    // Not to itself, and not into `destroyed`.
    assert!(matches!(
        sensor.reading().connect(sensor.reading()),
        Err(Error::Connection { .. })
    ));
    assert!(matches!(
        counter.text().connect(sensor.destroyed()),
        Err(Error::Connection { .. })
    ));
    worker.stop();
    worker.join().unwrap();
    assert_eq!(main.dropped_signals(), 0);
}

#[test]
fn destroyed_tells_others_an_object_left_even_when_blocked() {
    let log = Log::default();
    let mut main = EventLoop::new("destroyed_main").unwrap();
    let mut worker = EventLoopThread::new("destroyed_worker").unwrap();
    let watcher = main.add_with_id("watcher", panel(&log)).unwrap();
    let session = main.add_with_id("session", Sensor).unwrap();
    let resident = worker.add_with_id("resident", Sensor).unwrap();
    session.destroyed().connect(watcher.on_gone()).unwrap();
    resident.destroyed().connect(watcher.on_gone()).unwrap();
    assert_eq!(session.destroyed().name(), "destroyed");
    worker.start().unwrap();
    // Its blocker does not hold it (as in Qt).
    let _quiet = session.block_signals().unwrap();
    session.detach().unwrap();
    run_until(&mut main, &log, 1);
    // Its loop ends: every object on it tells.
    worker.stop();
    worker.join().unwrap();
    run_until(&mut main, &log, 2);
    assert_eq!(
        log.entries(),
        ["watcher saw session go", "watcher saw resident go"]
    );
    assert_eq!(main.dropped_signals(), 0);
}

#[test]
fn detach_now_drops_what_is_queued_to_the_object_and_counts_it() {
    let log = Log::default();
    let mut main = EventLoop::new("detach_now_main").unwrap();
    let emitter = main.add_with_id("emitter", Emitter).unwrap();
    let doomed = main.add_with_id("doomed", Recorder::new(&log)).unwrap();
    let bystander = main.add_with_id("bystander", Recorder::new(&log)).unwrap();
    let watcher = main.add_with_id("watcher", panel(&log)).unwrap();
    emitter.value().connect(doomed.on_value()).unwrap();
    emitter.value().connect(bystander.on_value()).unwrap();
    doomed.destroyed().connect(watcher.on_gone()).unwrap();
    for value in 0..3 {
        emitter.value().emit(value);
    }
    doomed.on_value().invoke(10).unwrap();
    doomed.detach_now().unwrap();
    // Refused at once: it is on its way out.
    assert!(emitter.text().connect(doomed.on_text()).is_err());
    run_until(&mut main, &log, 4);
    assert_eq!(
        log.entries(),
        [
            "bystander:0",
            "bystander:1",
            "bystander:2",
            "watcher saw doomed go"
        ]
    );
    // Three emissions and an invocation, each counted once.
    assert_eq!(main.dropped_signals(), 4);
    // The deferred form delivers what was queued first.
    log.clear();
    let later = main.add_with_id("later", Recorder::new(&log)).unwrap();
    later.on_value().invoke(1).unwrap();
    later.detach().unwrap();
    run_until(&mut main, &log, 1);
    assert_eq!(log.entries(), ["later:1"]);
    assert_eq!(main.dropped_signals(), 4);
}

/// Frames in shared buffers.
#[event_loop_object]
pub struct Camera;

#[event_loop_object]
impl Camera {
    #[signal]
    pub fn frame(seq: u64, data: signal_slot::SharedBuffer);
}

#[test]
fn a_prefix_slot_of_a_signal_carrying_a_shared_buffer() {
    let log = Log::default();
    let mut main = EventLoop::new("prefix_buffer_main").unwrap();
    let pool = signal_slot::BufferPool::new(64, 4).unwrap();
    let camera = main.add_with_id("camera", Camera).unwrap();
    let panel = main.add_with_id("panel", panel(&log)).unwrap();
    camera.frame().connect(panel.on_value()).unwrap();
    camera.frame().connect(panel.on_nothing()).unwrap();
    for seq in 0..3 {
        let mut buffer = pool.try_take().unwrap();
        buffer[..3].copy_from_slice(b"abc");
        camera.frame().emit(seq, buffer.freeze(3));
    }
    run_until(&mut main, &log, 6);
    assert_eq!(
        log.entries(),
        [
            "panel value 0",
            "panel nothing",
            "panel value 1",
            "panel nothing",
            "panel value 2",
            "panel nothing"
        ]
    );
    // Every buffer went back: the copies the prefix slots decoded, and the
    // emissions' own.
    assert_eq!(pool.available(), 4);
    assert_eq!(main.dropped_signals(), 0);
}
