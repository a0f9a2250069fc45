//! Broadcasts: subscribing to a signal by name on a loop, whoever emits it,
//! and unsubscribing.

use crate::common::{Emitter, Log, Recorder, capture_logs};
use signal_slot::{Error, EventLoop, EventLoopThread};

#[test]
fn broadcast_reaches_subscribers_whoever_the_emitter() {
    let log = Log::default();
    let main = EventLoop::new("broadcast_main").unwrap();
    let mut worker = EventLoopThread::new("broadcast_worker").unwrap();
    let emitter = main.add_with_id("emitter", Emitter).unwrap();
    let second_emitter = main.add_with_id("second_emitter", Emitter).unwrap();
    let first = worker.add_with_id("first", Recorder::new(&log)).unwrap();
    let second = worker.add_with_id("second", Recorder::new(&log)).unwrap();
    let silent = worker.add_with_id("silent", Recorder::new(&log)).unwrap();
    let wrong = worker.add_with_id("wrong", Recorder::new(&log)).unwrap();
    first.subscribe("value", first.on_value()).unwrap();
    second.subscribe("value", second.on_value()).unwrap();
    // Subscribed to another signal name: never called.
    silent.subscribe("other", silent.on_value()).unwrap();
    // A subscriber whose arguments do not match is reported, not called.
    wrong.subscribe("value", wrong.on_text()).unwrap();
    assert!(matches!(
        first.subscribe("value", second.on_value()),
        Err(Error::ForeignSlot { .. })
    ));
    emitter.value().broadcast_on(&worker).unwrap();
    second_emitter.value().broadcast_on(&worker).unwrap();
    emitter.event().connect(worker.stop_slot()).unwrap();

    worker.start().unwrap();
    emitter.value().emit(1);
    second_emitter.value().emit(2);
    // Not broadcast on that loop any more.
    second_emitter.value().stop_broadcast_on(&worker).unwrap();
    second_emitter.value().emit(3);
    emitter.event().emit();
    worker.join().unwrap();
    let mut entries = log.entries();
    entries.sort();
    assert_eq!(entries, ["first:1", "first:2", "second:1", "second:2"]);
}

#[test]
fn unsubscribe_stops_broadcasts_and_warns_when_not_subscribed() {
    let log = Log::default();
    let mut main = EventLoop::new("unsubscribe_main").unwrap();
    let emitter = main.add_with_id("emitter", Emitter).unwrap();
    let listener = main.add_with_id("listener", Recorder::new(&log)).unwrap();
    emitter.value().broadcast_on(&main).unwrap();
    listener.subscribe("value", listener.on_value()).unwrap();
    emitter.value().emit(1);
    listener.unsubscribe("value", listener.on_value()).unwrap();
    emitter.value().emit(2);
    listener.unsubscribe("value", listener.on_value()).unwrap();
    emitter.event().connect(main.stop_slot()).unwrap();
    emitter.event().emit();
    let (_, logs) = capture_logs(|| main.exec());
    assert_eq!(log.entries(), ["listener:1"]);
    assert!(
        logs.contains("`listener` is not subscribed to `value`"),
        "{logs}"
    );
}
