//! The life of a loop: stopping with signals queued, the start and terminate
//! signals, and running a loop step by step with `process_events`.

use crate::common::{Emitter, Log, Recorder};
use signal_slot::{Error, EventLoop, EventLoopThread, ExitStatus, event_loop_object};

#[test]
fn stop_delivers_what_was_queued_before_it_and_drops_the_rest() {
    let log = Log::default();
    let mut worker = EventLoopThread::new("graceful_worker").unwrap();
    let emitter_loop = EventLoop::new("graceful_emitters").unwrap();
    let emitter = emitter_loop.add_with_id("emitter", Emitter).unwrap();
    let recorder = worker.add_with_id("recorder", Recorder::new(&log)).unwrap();
    emitter.value().connect(recorder.on_value()).unwrap();
    for n in 0..1_000 {
        emitter.value().emit(n);
    }
    worker.stop();
    for n in 1_000..1_010 {
        emitter.value().emit(n);
    }
    worker.start().unwrap();
    assert_eq!(worker.join().unwrap(), ExitStatus::Normal);
    assert_eq!(log.len(), 1_000);
    assert_eq!(
        log.entries().last().map(String::as_str),
        Some("recorder:999")
    );
    assert_eq!(worker.dropped_signals(), 10);
    // The loop has ended: later signals are dropped and counted too.
    emitter.value().emit(5);
    assert_eq!(worker.dropped_signals(), 11);
    assert!(matches!(
        worker.add(Recorder::new(&log)),
        Err(Error::LoopEnded(name)) if name == "graceful_worker"
    ));
}

#[test]
fn start_and_terminate_signals_frame_the_loop() {
    let log = Log::default();
    let mut main = EventLoop::new("frame_main").unwrap();
    let mut worker = EventLoopThread::new("frame_worker").unwrap();
    let observer = main.add_with_id("observer", Recorder::new(&log)).unwrap();
    let inner = worker.add_with_id("inner", Recorder::new(&log)).unwrap();
    worker.start_signal().connect(observer.on_event()).unwrap();
    worker
        .terminate_signal()
        .connect(observer.on_event())
        .unwrap();
    // A loop's terminate reaches its own objects too.
    worker.terminate_signal().connect(inner.on_event()).unwrap();
    worker.terminate_signal().connect(main.stop_slot()).unwrap();
    main.start_signal().connect(worker.stop_slot()).unwrap();

    worker.start().unwrap();
    main.exec();
    worker.join().unwrap();
    let mut entries = log.entries();
    entries.sort();
    assert_eq!(
        entries,
        [
            "inner:event from frame_worker",
            "observer:event from frame_worker",
            "observer:event from frame_worker",
        ]
    );
}

#[test]
fn process_events_runs_the_loop_inside_a_foreign_loop() {
    let log = Log::default();
    let mut main = EventLoop::new("embedded_main").unwrap();
    let emitter = main.add_with_id("emitter", Emitter).unwrap();
    let recorder = main.add_with_id("recorder", Recorder::new(&log)).unwrap();
    emitter.value().connect(recorder.on_value()).unwrap();
    emitter.value().emit(1);
    assert_eq!(main.process_events(), None);
    assert!(main.is_running());
    assert_eq!(log.entries(), ["recorder:1"]);
    emitter.value().emit(2);
    main.stop();
    let mut status = None;
    for _ in 0..10 {
        status = main.process_events();
        if status.is_some() {
            break;
        }
    }
    assert_eq!(status, Some(ExitStatus::Normal));
    assert_eq!(log.entries(), ["recorder:1", "recorder:2"]);
    assert_eq!(
        main.exec(),
        ExitStatus::Normal,
        "exec after the end returns at once"
    );
}

/// Records `start` and `terminate` by name.
#[event_loop_object]
struct Framer {
    log: Log,
}

#[event_loop_object]
impl Framer {
    #[slot]
    fn on_start(&mut self) {
        self.log.push("start");
    }

    #[slot]
    fn on_terminate(&mut self) {
        self.log.push("terminate");
    }

    #[slot]
    fn on_value(&mut self, value: u64) {
        self.log.push(format!("value {value}"));
    }
}

#[test]
fn start_is_delivered_even_when_the_loop_was_stopped_before_it_ran() {
    let log = Log::default();
    let mut main = EventLoop::new("stopped_early_main").unwrap();
    let framer = main
        .add_with_id("framer", Framer { log: log.clone() })
        .unwrap();
    main.start_signal().connect(framer.on_start()).unwrap();
    main.terminate_signal()
        .connect(framer.on_terminate())
        .unwrap();
    framer.on_value().invoke((1,)).unwrap();
    main.stop();
    // Queued after the stop: not delivered.
    framer.on_value().invoke((2,)).unwrap();
    assert_eq!(main.exec(), ExitStatus::Normal);
    assert_eq!(log.entries(), ["value 1", "start", "terminate"]);
}
