//! Objects on a loop: unique ids, detaching, and signals to an object that
//! is not there.

use crate::common::{Emitter, Log, Recorder};
use signal_slot::{Error, EventLoop};

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
