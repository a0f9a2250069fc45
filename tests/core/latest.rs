//! Keep-latest connections: the newest emission replaces what waits, the
//! replaced ones are counted, under concurrent emitters, batches, stops and
//! disconnects.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use crate::common::{Emitter, Log, Recorder};
use signal_slot::{EventLoop, EventLoopThread, ExitStatus, event_loop_object};

/// Records values; the first one blocks its loop until the test says go.
#[event_loop_object]
struct Gate {
    seen: mpsc::Sender<u64>,
    go: mpsc::Receiver<()>,
    blocked: bool,
}

impl Gate {
    fn new() -> (Self, mpsc::Receiver<u64>, mpsc::Sender<()>) {
        let (seen, values) = mpsc::channel();
        let (go, wait) = mpsc::channel();
        let gate = Gate {
            seen,
            go: wait,
            blocked: false,
        };
        (gate, values, go)
    }
}

#[event_loop_object]
impl Gate {
    #[slot]
    fn on_value(&mut self, value: u64) {
        let _ = self.seen.send(value);
        if !self.blocked {
            self.blocked = true;
            let _ = self.go.recv();
        }
    }
}

/// Counts its drops, to see a replaced value go.
#[derive(Clone)]
struct Counted(Arc<AtomicUsize>, u64);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl serde::Serialize for Counted {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.1)
    }
}

impl<'de> serde::Deserialize<'de> for Counted {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = u64::deserialize(deserializer)?;
        Ok(Counted(Arc::default(), value))
    }
}

#[event_loop_object]
struct Publisher;

#[event_loop_object]
impl Publisher {
    #[signal]
    fn state(value: Counted);
}

#[event_loop_object]
struct Keeper {
    values: Vec<u64>,
}

#[event_loop_object]
impl Keeper {
    #[slot]
    fn on_state(&mut self, value: Counted) {
        self.values.push(value.1);
    }
}

#[test]
fn a_slow_receiver_gets_the_newest_and_the_rest_are_counted() {
    let log = Log::default();
    let main = EventLoop::new("latest_slow_main").unwrap();
    let mut worker = EventLoopThread::new("latest_slow_worker").unwrap();
    let emitter = main.add(Emitter).unwrap();
    let (gate, values, go) = Gate::new();
    let gate = worker.add(gate).unwrap();
    let every = worker.add_with_id("every", Recorder::new(&log)).unwrap();
    emitter.value().connect_latest(gate.on_value()).unwrap();
    // Connecting twice delivers once, as for the other deliveries.
    emitter.value().connect_latest(gate.on_value()).unwrap();
    // A fan-out receiver of the same signal on the same loop gets all.
    emitter.value().connect(every.on_value()).unwrap();
    worker.start().unwrap();

    emitter.value().emit(0);
    assert_eq!(values.recv_timeout(Duration::from_secs(10)).unwrap(), 0);
    for value in 1..=1_000 {
        emitter.value().emit(value);
    }
    // A batch counts as its last emission.
    emitter
        .value()
        .emit_many((1_001..=1_010).map(|value| (value,)));
    go.send(()).unwrap();
    assert_eq!(values.recv_timeout(Duration::from_secs(10)).unwrap(), 1_010);
    assert!(log.wait_for(1_011, Duration::from_secs(10)));
    worker.stop();
    assert_eq!(worker.join().unwrap(), ExitStatus::Normal);
    assert!(values.try_recv().is_err());
    // 1 to 1,009 were replaced: nothing else was lost.
    assert_eq!(worker.dropped_signals(), 1_009);
    assert_eq!(log.len(), 1_011);
}

#[test]
fn concurrent_emitters_lose_nothing_uncounted() {
    const THREADS: u64 = 4;
    const EACH: u64 = 20_000;
    let drops = Arc::new(AtomicUsize::new(0));
    let mut worker = EventLoopThread::new("latest_concurrent_main").unwrap();
    let main = worker.event_loop().clone();
    let publisher = main.add(Publisher).unwrap();
    let keeper = main.add(Keeper { values: Vec::new() }).unwrap();
    let kept = main.keep(&keeper).unwrap();
    publisher.state().connect_latest(keeper.on_state()).unwrap();
    worker.start().unwrap();
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let publisher = publisher.clone();
            let drops = drops.clone();
            scope.spawn(move || {
                for n in 0..EACH {
                    publisher
                        .state()
                        .emit(Counted(drops.clone(), thread * EACH + n));
                }
            });
        }
    });
    worker.stop();
    assert_eq!(worker.join().unwrap(), ExitStatus::Normal);
    let keeper = kept.take().unwrap();
    let delivered = keeper.values.len() as u64;
    assert!(delivered >= 1);
    assert_eq!(delivered + worker.dropped_signals(), THREADS * EACH);
    // Each emitter's values arrive in its order.
    for thread in 0..THREADS {
        let own: Vec<u64> = keeper
            .values
            .iter()
            .copied()
            .filter(|value| value / EACH == thread)
            .collect();
        assert!(own.windows(2).all(|pair| pair[0] < pair[1]), "{own:?}");
    }
    // The last value delivered is the last one of one of the emitters.
    let last = *keeper.values.last().unwrap();
    assert_eq!(last % EACH, EACH - 1, "{last}");
    // Every value made was dropped once: delivered, replaced or not.
    drop(keeper);
    assert_eq!(drops.load(Ordering::SeqCst) as u64, THREADS * EACH);
}

#[test]
fn what_waits_at_a_stop_is_dropped_and_counted() {
    let drops = Arc::new(AtomicUsize::new(0));
    let mut main = EventLoop::new("latest_stop_main").unwrap();
    let publisher = main.add(Publisher).unwrap();
    let keeper = main.add(Keeper { values: Vec::new() }).unwrap();
    let kept = main.keep(&keeper).unwrap();
    publisher.state().connect_latest(keeper.on_state()).unwrap();
    main.stop();
    publisher.state().emit(Counted(drops.clone(), 1));
    publisher.state().emit(Counted(drops.clone(), 2));
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    main.exec();
    assert!(kept.take().unwrap().values.is_empty());
    assert_eq!(main.dropped_signals(), 2);
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    // The loop is gone: an emission now is dropped at once.
    publisher.state().emit(Counted(drops.clone(), 3));
    assert_eq!(drops.load(Ordering::SeqCst), 3);
    assert_eq!(main.dropped_signals(), 3);
}

#[test]
fn a_disconnected_keep_latest_receiver_gets_nothing_more() {
    let log = Log::default();
    let mut main = EventLoop::new("latest_disconnect_main").unwrap();
    let emitter = main.add(Emitter).unwrap();
    let recorder = main.add_with_id("recorder", Recorder::new(&log)).unwrap();
    emitter.value().connect_latest(recorder.on_value()).unwrap();
    emitter.value().emit(1);
    main.process_events();
    emitter.value().disconnect(recorder.on_value()).unwrap();
    emitter.value().emit(2);
    emitter.event().connect(main.stop_slot()).unwrap();
    emitter.event().emit();
    main.exec();
    assert_eq!(log.entries(), ["recorder:1"]);
    assert_eq!(main.dropped_signals(), 0);
}

#[test]
fn a_context_emits_to_a_keep_latest_receiver_on_its_own_loop() {
    let log = Log::default();
    let mut main = EventLoop::new("latest_own_loop_main").unwrap();
    let emitter = main.add(Emitter).unwrap();
    let recorder = main
        .add_with_id("recorder", Recorder::stopping_after(&log, 1))
        .unwrap();
    emitter.value().connect_latest(recorder.on_value()).unwrap();
    // Ten emissions from one slot, before the loop gets to any: one call.
    emitter.emit_values().invoke(10).unwrap();
    assert_eq!(main.exec(), ExitStatus::Normal);
    assert_eq!(log.entries(), ["recorder:9"]);
    assert_eq!(main.dropped_signals(), 9);
}
