//! Objects handed back (`LoopHandle::keep`): after the loop ends, after a
//! detach, and every way the object does not come back.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::{Emitter, Log, Recorder};
use signal_slot::{Error, EventLoop, EventLoopThread, ExitStatus, event_loop_object};

/// Sums what it is given; counts its drops in a counter the test keeps.
#[event_loop_object]
struct Tally {
    total: u64,
    calls: Vec<u64>,
    drops: Arc<AtomicUsize>,
}

impl Tally {
    fn new(drops: &Arc<AtomicUsize>) -> Self {
        Tally {
            total: 0,
            calls: Vec::new(),
            drops: drops.clone(),
        }
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

#[event_loop_object]
impl Tally {
    #[slot]
    fn add(&mut self, amount: u64) {
        self.total += amount;
        self.calls.push(amount);
    }
}

fn not_handed_back(result: Result<impl Sized, Error>) -> String {
    match result {
        Err(Error::NotHandedBack { why, .. }) => why,
        Err(other) => panic!("expected NotHandedBack, got {other}"),
        Ok(_) => panic!("expected NotHandedBack, got the object"),
    }
}

#[test]
fn an_object_comes_back_with_its_state_when_its_loop_ends() {
    let drops = Arc::new(AtomicUsize::new(0));
    let mut main = EventLoop::new("kept_end_main").unwrap();
    let emitter = main.add(Emitter).unwrap();
    let tally = main.add(Tally::new(&drops)).unwrap();
    let other = main.add(Tally::new(&drops)).unwrap();
    let kept = main.keep(&tally).unwrap();
    emitter.value().connect(tally.add()).unwrap();
    emitter.value().connect(other.add()).unwrap();
    emitter.event().connect(main.stop_slot()).unwrap();
    emitter.emit_values().invoke(5).unwrap();
    emitter.emit_event().invoke(()).unwrap();
    assert_eq!(main.exec(), ExitStatus::Normal);

    // The other object was dropped at the end, the kept one was not.
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    let tally = kept.take().unwrap();
    assert_eq!(tally.calls, [0, 1, 2, 3, 4]);
    assert_eq!(tally.total, 10);
    drop(tally);
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}

#[test]
fn an_object_comes_back_from_a_thread_after_join() {
    let drops = Arc::new(AtomicUsize::new(0));
    let mut worker = EventLoopThread::new("kept_thread_worker").unwrap();
    let tally = worker.add(Tally::new(&drops)).unwrap();
    let kept = worker.keep(&tally).unwrap();
    worker.start().unwrap();
    for amount in 1..=100 {
        tally.add().invoke(amount).unwrap();
    }
    worker.stop();
    assert_eq!(worker.join().unwrap(), ExitStatus::Normal);
    let tally = kept.take().unwrap();
    assert_eq!(tally.total, 5050);
    assert_eq!(tally.calls.len(), 100);
    assert_eq!(drops.load(Ordering::SeqCst), 0);
}

#[test]
fn a_detached_object_comes_back_while_its_loop_runs_on() {
    let drops = Arc::new(AtomicUsize::new(0));
    let log = Log::default();
    let mut worker = EventLoopThread::new("kept_detach_worker").unwrap();
    let tally = worker.add(Tally::new(&drops)).unwrap();
    let recorder = worker.add(Recorder::new(&log)).unwrap();
    worker.start().unwrap();
    let kept = worker.keep(&tally).unwrap();
    tally.add().invoke(7).unwrap();
    tally.detach().unwrap();
    // Queued after the detach: not delivered, the object is out.
    tally.add().invoke(1_000).unwrap();
    let tally = kept.wait(Duration::from_secs(10)).unwrap();
    assert_eq!(tally.calls, [7]);
    // The loop goes on without it.
    recorder.on_value().invoke(1).unwrap();
    assert!(log.wait_for(1, Duration::from_secs(10)));
    worker.stop();
    assert_eq!(worker.join().unwrap(), ExitStatus::Normal);
    assert_eq!(drops.load(Ordering::SeqCst), 0);
}

#[test]
fn the_object_does_not_come_back_and_the_error_says_why() {
    let drops = Arc::new(AtomicUsize::new(0));
    let mut main = EventLoop::new("kept_errors_main").unwrap();
    let elsewhere = EventLoop::new("kept_errors_elsewhere").unwrap();
    let tally = main.add_with_id("tally", Tally::new(&drops)).unwrap();

    // Asked of a loop it does not live on.
    assert!(matches!(
        elsewhere.keep(&tally),
        Err(Error::ObjectNotFound { .. })
    ));

    // Taken while the loop has not ended.
    let early = main.keep(&tally).unwrap();
    main.process_events();
    let why = not_handed_back(early.take());
    assert!(why.contains("still runs"), "{why}");

    // Asked twice: the later request gets it, the earlier is told.
    let first = main.keep(&tally).unwrap();
    let second = main.keep(&tally).unwrap();
    main.process_events();
    let why = not_handed_back(first.take());
    assert!(why.contains("asked for again"), "{why}");

    // Detached before the request reached the loop.
    let gone = main.add_with_id("gone", Tally::new(&drops)).unwrap();
    gone.detach().unwrap();
    let late = main.keep(&gone).unwrap();
    main.process_events();
    let why = not_handed_back(late.take());
    assert!(why.contains("not attached"), "{why}");
    assert_eq!(drops.load(Ordering::SeqCst), 1);

    main.stop();
    main.exec();
    assert_eq!(second.take().unwrap().total, 0);

    // After the loop ended, there is nothing to keep.
    assert!(matches!(main.keep(&tally), Err(Error::LoopEnded(_))));
}

#[test]
fn a_kept_object_nobody_takes_is_dropped_on_its_loop() {
    let drops = Arc::new(AtomicUsize::new(0));
    let mut worker = EventLoopThread::new("kept_dropped_worker").unwrap();
    let tally = worker.add(Tally::new(&drops)).unwrap();
    let kept = worker.keep(&tally).unwrap();
    drop(kept);
    worker.start().unwrap();
    worker.stop();
    assert_eq!(worker.join().unwrap(), ExitStatus::Normal);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}
