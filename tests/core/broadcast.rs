//! Broadcasts: subscribing to a topic, or to a signal by name, on a loop,
//! whoever emits it, and unsubscribing.

use crate::common::{Emitter, Log, Recorder, capture_logs};
use signal_slot::{Error, EventLoop, EventLoopThread, ExitStatus, event_loop_object, topic};

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
    first.subscribe_by_name("value", first.on_value()).unwrap();
    second
        .subscribe_by_name("value", second.on_value())
        .unwrap();
    // Subscribed to another signal name: never called.
    silent
        .subscribe_by_name("other", silent.on_value())
        .unwrap();
    // A subscriber whose arguments do not match is reported, not called.
    wrong.subscribe_by_name("value", wrong.on_text()).unwrap();
    assert!(matches!(
        first.subscribe_by_name("value", second.on_value()),
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
    listener
        .subscribe_by_name("value", listener.on_value())
        .unwrap();
    emitter.value().emit(1);
    listener
        .unsubscribe_by_name("value", listener.on_value())
        .unwrap();
    emitter.value().emit(2);
    listener
        .unsubscribe_by_name("value", listener.on_value())
        .unwrap();
    emitter.event().connect(main.stop_slot()).unwrap();
    emitter.event().emit();
    let (_, logs) = capture_logs(|| main.exec());
    assert_eq!(log.entries(), ["listener:1"]);
    assert!(
        logs.contains("`listener` is not subscribed to `value`"),
        "{logs}"
    );
}

topic! {
    /// Numbers, from anyone.
    Numbers(value: u64);
    /// The same types under another name: never meets `Numbers`.
    Others(value: u64);
}

/// Publishes under a signal name of its own.
#[event_loop_object]
struct Meter;

#[event_loop_object]
impl Meter {
    #[signal]
    fn reading(value: u64);
}

#[test]
fn a_topic_reaches_its_subscribers_whoever_publishes_and_under_whatever_name() {
    let log = Log::default();
    let main = EventLoop::new("topic_main").unwrap();
    let mut worker = EventLoopThread::new("topic_worker").unwrap();
    let emitter = main.add_with_id("emitter", Emitter).unwrap();
    let meter = main.add_with_id("meter", Meter).unwrap();
    let first = worker.add_with_id("first", Recorder::new(&log)).unwrap();
    let second = worker.add_with_id("second", Recorder::new(&log)).unwrap();
    let other = worker.add_with_id("other", Recorder::new(&log)).unwrap();
    let direct = worker.add_with_id("direct", Recorder::new(&log)).unwrap();
    first.subscribe(Numbers, first.on_value()).unwrap();
    second.subscribe(Numbers, second.on_value_again()).unwrap();
    other.subscribe(Others, other.on_value()).unwrap();
    assert!(matches!(
        first.subscribe(Numbers, second.on_value()),
        Err(Error::ForeignSlot { .. })
    ));
    // Two emitters of different types, signals of different names.
    emitter.value().publish_on(Numbers, &worker).unwrap();
    meter.reading().publish_on(Numbers, &worker).unwrap();
    // Connected and published to the same loop: each delivers once.
    meter.reading().connect(direct.on_value()).unwrap();
    // Published under the signal's name only: not the topic.
    emitter.value().broadcast_on(&worker).unwrap();
    emitter.event().connect(worker.stop_slot()).unwrap();

    worker.start().unwrap();
    emitter.value().emit(1);
    meter.reading().emit(2);
    meter
        .reading()
        .stop_publishing_on(Numbers, &worker)
        .unwrap();
    meter.reading().emit(3);
    emitter.event().emit();
    assert_eq!(worker.join().unwrap(), ExitStatus::Normal);
    let mut entries = log.entries();
    entries.sort();
    assert_eq!(
        entries,
        [
            "direct:2",
            "direct:3",
            "first:1",
            "first:2",
            "second:again:1",
            "second:again:2"
        ]
    );
}

#[test]
fn unsubscribing_from_a_topic_stops_it() {
    let log = Log::default();
    let mut main = EventLoop::new("topic_unsubscribe_main").unwrap();
    let emitter = main.add_with_id("emitter", Emitter).unwrap();
    let listener = main.add_with_id("listener", Recorder::new(&log)).unwrap();
    emitter.value().publish_on(Numbers, &main).unwrap();
    listener.subscribe(Numbers, listener.on_value()).unwrap();
    emitter.value().emit(1);
    listener.unsubscribe(Numbers, listener.on_value()).unwrap();
    emitter.value().emit(2);
    emitter.event().connect(main.stop_slot()).unwrap();
    emitter.event().emit();
    main.exec();
    assert_eq!(log.entries(), ["listener:1"]);
}
