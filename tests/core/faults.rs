//! Faults: a full inbox, a panicking slot, a slot that returns an error, and
//! the panic policies.

use crate::common::{Emitter, Log, Recorder, capture_logs};
use signal_slot::{
    DropReason, EventLoop, EventLoopThread, ExitStatus, PanicPolicy, event_loop_object,
};

#[test]
fn a_full_inbox_drops_counts_and_names_the_receivers() {
    let log = Log::default();
    let emitters = EventLoop::new("full_emitters").unwrap();
    // The capacity counts signals (not the attachment queued with them).
    let mut worker =
        EventLoopThread::with_options(EventLoop::builder("full_worker").capacity(10)).unwrap();
    let emitter = emitters.add_with_id("emitter", Emitter).unwrap();
    let recorder = worker.add_with_id("recorder", Recorder::new(&log)).unwrap();
    emitter.value().connect(recorder.on_value()).unwrap();
    let (_, logs) = capture_logs(|| {
        for n in 0..25 {
            emitter.value().emit(n);
        }
    });
    assert_eq!(worker.dropped_signals(), 15);
    // A batch counts for its size: five more do not fit.
    emitter.value().emit_many((0..5).map(|n| (n,)));
    assert_eq!(worker.dropped_signals(), 20);
    // One report per second, naming the signal, emitter and receiver.
    assert_eq!(logs.matches("ERROR").count(), 1, "{logs}");
    assert!(
        logs.contains("signal `value` from `emitter` to `recorder`")
            && logs.contains("its inbox is full"),
        "{logs}"
    );
    worker.stop();
    worker.start().unwrap();
    worker.join().unwrap();
    assert_eq!(log.len(), 10);
}

#[test]
fn a_posted_call_meets_the_capacity_and_its_drops_are_counted() {
    let log = Log::default();
    let mut worker =
        EventLoopThread::with_options(EventLoop::builder("post_worker").capacity(10)).unwrap();
    let recorder = worker.add_with_id("recorder", Recorder::new(&log)).unwrap();
    // Queued as emissions are: ten fit, the rest is dropped and counted.
    let queued = (0..15)
        .filter(|&n| recorder.on_value().post(n).is_ok())
        .count();
    assert_eq!((queued, worker.dropped_signals()), (10, 5));
    assert_eq!(recorder.on_value().post(15), Err(DropReason::Full));
    // A batch goes whole or not at all, and counts for its size.
    assert_eq!(
        recorder.on_value().post_many((0..3).map(|n| (n,))),
        Err(DropReason::Full)
    );
    assert_eq!(worker.dropped_signals(), 9);
    // `invoke` queues past the capacity.
    recorder.on_value().invoke(99).unwrap();
    worker.stop();
    worker.start().unwrap();
    worker.join().unwrap();
    assert_eq!(log.len(), 11);
    // Once the loop has ended, a post is dropped and counted too.
    assert_eq!(recorder.on_value().post(100), Err(DropReason::Gone));
    assert_eq!(worker.dropped_signals(), 10);
}

#[event_loop_object]
struct Fragile {
    log: Log,
}

#[event_loop_object]
impl Fragile {
    #[slot]
    fn on_value(&mut self, value: u64) {
        if value == 3 {
            panic!("cannot handle {value}");
        }
        self.log.push(format!("fragile:{value}"));
    }

    #[slot]
    fn on_text(&mut self, text: String) -> Result<(), String> {
        if text.is_empty() {
            return Err("empty text".to_owned());
        }
        self.log.push(format!("fragile:{text}"));
        Ok(())
    }
}

#[test]
fn a_panicking_slot_is_contained_reported_and_ends_its_loop() {
    let log = Log::default();
    let mut main = EventLoop::new("panic_main").unwrap();
    let mut worker = EventLoopThread::new("panic_worker").unwrap();
    let emitter = main.add_with_id("emitter", Emitter).unwrap();
    let fragile = main
        .add_with_id("fragile", Fragile { log: log.clone() })
        .unwrap();
    let survivor = worker.add_with_id("survivor", Recorder::new(&log)).unwrap();
    emitter.value().connect(fragile.on_value()).unwrap();
    emitter.value().connect(survivor.on_value()).unwrap();
    worker.start().unwrap();
    for n in 0..6 {
        emitter.value().emit(n);
    }
    let (status, logs) = capture_logs(|| main.exec());
    let ExitStatus::SlotFailed(failure) = status else {
        panic!("expected a slot failure, got {status:?}");
    };
    assert_eq!(failure.event_loop, "panic_main");
    assert_eq!(failure.object, "fragile");
    assert_eq!(failure.slot, "on_value");
    assert_eq!(failure.signal, "value");
    assert_eq!(failure.emitter.as_deref(), Some("emitter"));
    assert_eq!(failure.message, "cannot handle 3");
    assert!(
        logs.contains("slot `fragile.on_value` panicked on event loop `panic_main`"),
        "{logs}"
    );
    // The loop ended right after the failure; the other loop runs on.
    assert!(worker.is_running());
    emitter.value().emit(10);
    worker.stop();
    worker.join().unwrap();
    let survivor_entries: Vec<String> = log
        .entries()
        .into_iter()
        .filter(|entry| entry.starts_with("survivor"))
        .collect();
    assert_eq!(survivor_entries.len(), 7);
    assert!(!log.entries().contains(&"fragile:4".to_owned()));
    drop(survivor);
}

#[test]
fn keep_going_policy_reports_and_continues() {
    let log = Log::default();
    let mut main = EventLoop::builder("keep_going_main")
        .panic_policy(PanicPolicy::KeepGoing)
        .build()
        .unwrap();
    let emitter = main.add_with_id("emitter", Emitter).unwrap();
    let fragile = main
        .add_with_id("fragile", Fragile { log: log.clone() })
        .unwrap();
    emitter.value().connect(fragile.on_value()).unwrap();
    emitter.text().connect(fragile.on_text()).unwrap();
    emitter.event().connect(main.stop_slot()).unwrap();
    for n in 2..6 {
        emitter.value().emit(n);
    }
    emitter.text().emit(String::new());
    emitter.text().emit("ok".to_owned());
    emitter.event().emit();
    let (status, logs) = capture_logs(|| main.exec());
    assert!(
        matches!(status, ExitStatus::SlotFailed(ref failure) if failure.message == "cannot handle 3")
    );
    assert_eq!(
        log.entries(),
        ["fragile:2", "fragile:4", "fragile:5", "fragile:ok"]
    );
    assert!(
        logs.contains("slot `fragile.on_text` on event loop `keep_going_main`: the slot returned an error: empty text"),
        "{logs}"
    );
}

/// Panics when dropped.
#[event_loop_object]
struct DropBomb;

impl Drop for DropBomb {
    fn drop(&mut self) {
        panic!("cannot let go");
    }
}

#[event_loop_object]
impl DropBomb {}

#[test]
fn a_panicking_drop_is_reported_and_the_loop_still_ends_normally() {
    // On a thread of its own: the thread does not die of it.
    let mut worker = EventLoopThread::new("drop_bomb_worker").unwrap();
    worker.add_with_id("bomb", DropBomb).unwrap();
    worker.start().unwrap();
    worker.stop();
    assert_eq!(worker.join().unwrap(), ExitStatus::Normal);
    // On this thread, to read the report; the other objects still go.
    let log = Log::default();
    let mut main = EventLoop::new("drop_bomb_main").unwrap();
    main.add_with_id("bomb", DropBomb).unwrap();
    let recorder = main.add_with_id("recorder", Recorder::new(&log)).unwrap();
    main.stop();
    let (status, logs) = capture_logs(|| main.exec());
    assert_eq!(status, ExitStatus::Normal);
    assert!(
        logs.contains("dropping object `bomb` panicked: cannot let go"),
        "{logs}"
    );
    assert!(recorder.on_value().invoke((1,)).is_err(), "the loop ended");
}
