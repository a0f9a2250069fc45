//! Objects on a loop: unique ids, detaching, and signals to an object that
//! is not there.

use crate::common::{Emitter, Log, Recorder};
use signal_slot::{Context, Error, EventLoop, ObjectHandle, event_loop_object};

#[test]
fn detached_objects_get_nothing_and_free_their_id() {
    let log = Log::default();
    let mut main = EventLoop::new("detach_main").unwrap();
    let emitter = main.add_with_id("emitter", Emitter).unwrap();
    let recorder = main.add_with_id("recorder", Recorder::new(&log)).unwrap();
    emitter.value().connect(recorder.on_value()).unwrap();
    emitter.value().emit(1);
    recorder.detach().unwrap();
    emitter.value().emit(2);
    emitter.event().connect(main.stop_slot()).unwrap();
    emitter.event().emit();
    main.exec();
    assert_eq!(log.entries(), ["recorder:1"]);
    // Quietly: a detached receiver is not a drop.
    assert_eq!(main.dropped_signals(), 0);
    // Connecting to it now is an error.
    assert!(matches!(
        emitter.value().connect(recorder.on_value()),
        Err(Error::LoopEnded(_) | Error::ObjectNotFound { .. })
    ));

    let main = EventLoop::new("detach_reuse_main").unwrap();
    let recorder = main.add_with_id("recorder", Recorder::new(&log)).unwrap();
    recorder.detach().unwrap();
    let mut main = main;
    main.process_events();
    assert!(main.add_with_id("recorder", Recorder::new(&log)).is_ok());
}

#[test]
fn object_ids_are_unique_per_loop() {
    let log = Log::default();
    let main = EventLoop::new("ids_main").unwrap();
    let other = EventLoop::new("ids_other").unwrap();
    main.add_with_id("same", Recorder::new(&log)).unwrap();
    // The same id on another loop is fine.
    other.add_with_id("same", Recorder::new(&log)).unwrap();
    match main.add_with_id("same", Recorder::new(&log)) {
        Err(error @ Error::DuplicateObjectId { .. }) => {
            let message = error.to_string();
            assert!(
                message.contains("`same`") && message.contains("`ids_main`"),
                "{message}"
            );
        }
        other => panic!("expected a duplicate id error, got {other:?}"),
    }
    // The loop's own object has the loop's name.
    assert!(matches!(
        main.add_with_id("ids_main", Recorder::new(&log)),
        Err(Error::DuplicateObjectId { .. })
    ));
    assert!(matches!(
        main.add_with_id("", Recorder::new(&log)),
        Err(Error::InvalidName { .. })
    ));
    let a = main.add(Recorder::new(&log)).unwrap();
    let b = main.add(Recorder::new(&log)).unwrap();
    assert_ne!(a.id(), b.id());
    assert!(a.id().starts_with("Recorder#"), "{}", a.id());
    assert!(matches!(
        EventLoop::new("ids_main"),
        Err(Error::DuplicateLoopName(name)) if name == "ids_main"
    ));
}

#[test]
fn signals_to_a_missing_object_are_reported() {
    let log = Log::default();
    let main = EventLoop::new("missing_main").unwrap();
    let emitter = main.add_with_id("emitter", Emitter).unwrap();
    let recorder = main.add_with_id("recorder", Recorder::new(&log)).unwrap();
    recorder.detach().unwrap();
    let mut main = main;
    main.process_events();
    match emitter.value().connect(recorder.on_value()) {
        Err(error @ Error::ObjectNotFound { .. }) => {
            assert_eq!(
                error.to_string(),
                "object `recorder` is not attached to event loop `missing_main`"
            );
        }
        other => panic!("expected ObjectNotFound, got {other:?}"),
    }
}

/// Checks sequence numbers: slot 0 takes a `u64`.
#[event_loop_object]
struct Checker {
    log: Log,
}

#[event_loop_object]
impl Checker {
    #[slot]
    fn on_seq(&mut self, seq: u64) {
        self.log.push(format!("checked {seq}"));
    }
}

/// Slot 0 also takes a `u64`: what a connection bound to an id, not to an
/// object, would call by mistake.
#[event_loop_object]
struct Launcher {
    log: Log,
}

#[event_loop_object]
impl Launcher {
    #[slot]
    fn launch_missiles(&mut self, count: u64) {
        self.log.push(format!("launched {count}"));
    }
}

#[test]
fn connections_end_with_their_object_not_with_its_id() {
    let log = Log::default();
    let mut main = EventLoop::new("instance_main").unwrap();
    let emitter = main.add_with_id("emitter", Emitter).unwrap();
    let checker = main
        .add_with_id("target", Checker { log: log.clone() })
        .unwrap();
    emitter.value().connect(checker.on_seq()).unwrap();
    emitter.value().emit(1);
    main.process_events();
    checker.detach().unwrap();
    // Queued through the connection before the detach was handled.
    emitter.value().emit(2);
    main.process_events();
    // Another object, of another type, under the same id.
    let launcher = main
        .add_with_id("target", Launcher { log: log.clone() })
        .unwrap();
    emitter.value().emit(3);
    // A stale handle detaches nothing: the id is another object's now.
    checker.detach().unwrap();
    emitter.value().emit(4);
    emitter.event().connect(main.stop_slot()).unwrap();
    emitter.event().emit();
    main.exec();
    assert_eq!(log.entries(), ["checked 1"]);
    assert_eq!(main.dropped_signals(), 0);
    // The new object is reached through its own connections only.
    let _ = launcher;
}

#[test]
fn a_detached_emitter_reaches_nobody_and_connects_to_nothing() {
    let log = Log::default();
    let mut main = EventLoop::new("detached_emitter_main").unwrap();
    let emitter = main.add_with_id("emitter", Emitter).unwrap();
    let recorder = main.add_with_id("recorder", Recorder::new(&log)).unwrap();
    emitter.value().connect(recorder.on_value()).unwrap();
    emitter.value().emit(1);
    emitter.detach().unwrap();
    main.process_events();
    // A handle kept to it: its emissions go nowhere now.
    emitter.value().emit(2);
    assert!(matches!(
        emitter.value().connect(recorder.on_value()),
        Err(Error::ObjectNotFound { .. })
    ));
    // Another emitter under its id is not it.
    let successor = main.add_with_id("emitter", Emitter).unwrap();
    emitter.value().emit(3);
    successor.value().emit(4);
    successor.event().connect(main.stop_slot()).unwrap();
    successor.event().emit();
    main.exec();
    assert_eq!(log.entries(), ["recorder:1"]);
}

/// Records whether each signal came from the emitter it was told about.
#[event_loop_object]
struct Witness {
    log: Log,
    expected: Option<ObjectHandle>,
}

#[event_loop_object]
impl Witness {
    #[slot]
    fn on_value(&mut self, ctx: &mut Context<Self>, value: u64) {
        let sender = ctx.sender().expect("a signal has an emitter");
        let from_it = self
            .expected
            .as_ref()
            .is_some_and(|expected| sender.is(expected));
        self.log
            .push(format!("{value} from {} (the one: {from_it})", sender.id()));
    }
}

#[test]
fn the_sender_is_an_object_not_an_id() {
    let log = Log::default();
    let mut main = EventLoop::new("sender_main").unwrap();
    let first = main.add_with_id("emitter", Emitter).unwrap();
    let witness = main
        .add_with_id(
            "witness",
            Witness {
                log: log.clone(),
                expected: Some((*first).clone()),
            },
        )
        .unwrap();
    first.value().connect(witness.on_value()).unwrap();
    first.value().emit(1);
    first.detach().unwrap();
    main.process_events();
    let second = main.add_with_id("emitter", Emitter).unwrap();
    second.value().connect(witness.on_value()).unwrap();
    second.value().emit(2);
    second.event().connect(main.stop_slot()).unwrap();
    second.event().emit();
    main.exec();
    assert_eq!(
        log.entries(),
        [
            "1 from emitter (the one: true)",
            "2 from emitter (the one: false)"
        ]
    );
}

/// A plain method named like a signal of its block keeps its name.
#[event_loop_object]
struct Gauge {
    level: u64,
}

#[event_loop_object]
impl Gauge {
    #[signal]
    fn level(value: u64);

    /// Not a slot: an ordinary method, called as `self.level()`.
    fn level(&self) -> u64 {
        self.level
    }

    #[slot]
    fn raise(&mut self, ctx: &mut Context<Self>) {
        self.level += 1;
        ctx.level().emit(self.level());
        ctx.stop_loop();
    }
}

#[test]
fn a_method_named_like_a_signal_keeps_its_name() {
    let log = Log::default();
    let mut main = EventLoop::new("gauge_main").unwrap();
    let gauge = main.add(Gauge { level: 4 }).unwrap();
    let recorder = main.add_with_id("recorder", Recorder::new(&log)).unwrap();
    gauge.level().connect(recorder.on_value()).unwrap();
    gauge.raise().invoke(()).unwrap();
    main.exec();
    assert_eq!(log.entries(), ["recorder:5"]);
}
