//! Connections: fan-out, connecting twice, disconnecting, balanced
//! connections, `emit_many`, and the order of what one emitter sends.

use crate::common::{Emitter, Log, Recorder, capture_logs};
use signal_slot::{EventLoop, EventLoopThread, ExitStatus};

#[test]
fn fan_out_is_one_message_per_receiving_loop() {
    let log = Log::default();
    let mut main = EventLoop::new("fan_out_main").unwrap();
    // Room for the two attachments and one message: a message per receiver
    // would overflow it.
    let mut worker =
        EventLoopThread::with_options(EventLoop::builder("fan_out_worker").capacity(3)).unwrap();
    let emitter = main.add_with_id("emitter", Emitter).unwrap();
    let local = main.add_with_id("local", Recorder::new(&log)).unwrap();
    let first = worker.add_with_id("first", Recorder::new(&log)).unwrap();
    let second = worker.add_with_id("second", Recorder::new(&log)).unwrap();
    for receiver in [&local, &first, &second] {
        emitter.value().connect(receiver.on_value()).unwrap();
    }
    emitter.value().emit(7);
    assert_eq!(worker.dropped_signals(), 0);
    emitter.event().connect(main.stop_slot()).unwrap();
    emitter.event().emit();

    worker.start().unwrap();
    assert_eq!(main.exec(), ExitStatus::Normal);
    worker.stop();
    assert_eq!(worker.join().unwrap(), ExitStatus::Normal);

    let mut entries = log.entries();
    entries.sort();
    assert_eq!(entries, ["first:7", "local:7", "second:7"]);
    assert_eq!(worker.dropped_signals(), 0);
}

#[test]
fn emissions_from_one_emitter_arrive_in_order() {
    let log = Log::default();
    let mut main = EventLoop::new("order_main").unwrap();
    let mut worker = EventLoopThread::new("order_worker").unwrap();
    let emitter = main.add_with_id("emitter", Emitter).unwrap();
    let recorder = worker.add_with_id("recorder", Recorder::new(&log)).unwrap();
    emitter.value().connect(recorder.on_value()).unwrap();
    emitter.event().connect(worker.stop_slot()).unwrap();
    worker.start().unwrap();

    // From the emitter's own slots, on the main loop: the values, then the
    // event that stops both loops.
    emitter.event().connect(main.stop_slot()).unwrap();
    emitter.emit_values().invoke((5_000,)).unwrap();
    emitter.emit_event().invoke(()).unwrap();
    main.exec();
    assert_eq!(worker.join().unwrap(), ExitStatus::Normal);

    let expected: Vec<String> = (0..5_000).map(|n| format!("recorder:{n}")).collect();
    assert_eq!(log.entries(), expected);
}

#[test]
fn connecting_twice_delivers_once_and_two_slots_both_get_it() {
    let log = Log::default();
    let mut main = EventLoop::new("twice_main").unwrap();
    let emitter = main.add_with_id("emitter", Emitter).unwrap();
    let recorder = main.add_with_id("recorder", Recorder::new(&log)).unwrap();
    emitter.value().connect(recorder.on_value()).unwrap();
    emitter.value().connect(recorder.on_value()).unwrap();
    emitter.value().connect(recorder.on_value_again()).unwrap();
    emitter.event().connect(main.stop_slot()).unwrap();
    emitter.value().emit(1);
    emitter.event().emit();
    main.exec();
    assert_eq!(log.entries(), ["recorder:1", "recorder:again:1"]);
}

#[test]
fn disconnect_stops_delivery_and_disconnecting_twice_warns() {
    let log = Log::default();
    let mut main = EventLoop::new("disconnect_main").unwrap();
    let emitter = main.add_with_id("emitter", Emitter).unwrap();
    let recorder = main.add_with_id("recorder", Recorder::new(&log)).unwrap();
    emitter.value().connect(recorder.on_value()).unwrap();
    emitter.value().emit(1);
    emitter.value().disconnect(recorder.on_value()).unwrap();
    emitter.value().emit(2);
    let (result, logs) = capture_logs(|| emitter.value().disconnect(recorder.on_value()));
    assert!(
        result.is_ok(),
        "disconnecting what is not connected is not an error"
    );
    assert!(
        logs.contains("WARN") && logs.contains("is not connected to `recorder.on_value`"),
        "{logs}"
    );
    emitter.event().connect(main.stop_slot()).unwrap();
    emitter.event().emit();
    main.exec();
    assert_eq!(log.entries(), ["recorder:1"]);
}

#[test]
fn balanced_connections_deliver_each_emission_once() {
    let log = Log::default();
    let mut main = EventLoop::new("balanced_main").unwrap();
    let mut worker = EventLoopThread::new("balanced_worker").unwrap();
    let emitter = main.add_with_id("emitter", Emitter).unwrap();
    let local = main.add_with_id("local", Recorder::new(&log)).unwrap();
    let remote_a = worker.add_with_id("worker_a", Recorder::new(&log)).unwrap();
    let remote_b = worker.add_with_id("worker_b", Recorder::new(&log)).unwrap();
    for receiver in [&local, &remote_a, &remote_b] {
        emitter
            .value()
            .connect_balanced(receiver.on_value())
            .unwrap();
    }
    worker.start().unwrap();
    for n in 0..300 {
        emitter.value().emit(n);
    }
    emitter.event().connect(worker.stop_slot()).unwrap();
    emitter.event().connect(main.stop_slot()).unwrap();
    emitter.event().emit();
    main.exec();
    worker.join().unwrap();
    let entries = log.entries();
    assert_eq!(entries.len(), 300);
    let mut values: Vec<u64> = entries
        .iter()
        .map(|entry| entry.rsplit(':').next().unwrap().parse().unwrap())
        .collect();
    values.sort_unstable();
    assert_eq!(values, (0..300).collect::<Vec<u64>>());
    for receiver in ["local", "worker_a", "worker_b"] {
        let count = entries
            .iter()
            .filter(|entry| entry.starts_with(receiver))
            .count();
        assert_eq!(count, 100, "{receiver} got {count}");
    }
}

#[test]
fn emit_many_delivers_every_item_in_order() {
    let log = Log::default();
    let mut main = EventLoop::new("many_main").unwrap();
    let emitter = main.add_with_id("emitter", Emitter).unwrap();
    let first = main.add_with_id("first", Recorder::new(&log)).unwrap();
    let second = main.add_with_id("second", Recorder::new(&log)).unwrap();
    emitter.text().connect(first.on_text()).unwrap();
    emitter.text().connect(second.on_text()).unwrap();
    emitter
        .text()
        .emit_many(["a", "b", "c"].map(|text| (text.to_owned(),)));
    emitter.text().emit_many(Vec::new());
    emitter.event().connect(main.stop_slot()).unwrap();
    emitter.event().emit();
    main.exec();
    assert_eq!(
        log.entries(),
        [
            "first:a", "second:a", "first:b", "second:b", "first:c", "second:c"
        ]
    );
}

#[test]
fn a_slot_of_one_argument_is_invoked_with_the_argument_alone() {
    let log = Log::default();
    let mut main = EventLoop::new("invoke_alone_main").unwrap();
    let recorder = main.add_with_id("recorder", Recorder::new(&log)).unwrap();
    recorder.on_value().invoke(3).unwrap();
    recorder.on_value().invoke((4,)).unwrap();
    main.stop_slot().invoke(()).unwrap();
    assert_eq!(main.exec(), ExitStatus::Normal);
    assert_eq!(log.entries(), ["recorder:3", "recorder:4"]);
}

#[test]
fn a_single_shot_connection_delivers_exactly_once_under_concurrent_emitters() {
    const ROUNDS: u64 = 200;
    const THREADS: u64 = 4;
    let log = Log::default();
    let mut worker = EventLoopThread::new("once_worker").unwrap();
    let emitter = worker.add_with_id("emitter", Emitter).unwrap();
    let once = worker.add_with_id("once", Recorder::new(&log)).unwrap();
    let every = worker.add_with_id("every", Recorder::new(&log)).unwrap();
    emitter.value().connect(every.on_value_again()).unwrap();
    worker.start().unwrap();
    let barrier = std::sync::Barrier::new(THREADS as usize);
    for round in 0..ROUNDS {
        emitter.value().connect_once(once.on_value()).unwrap();
        // Connecting twice is one connection, as for the others.
        emitter.value().connect_once(once.on_value()).unwrap();
        // Emitters released at the same instant race for it.
        std::thread::scope(|scope| {
            for thread in 0..THREADS {
                let emitter = emitter.clone();
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    emitter.value().emit(round * THREADS + thread);
                });
            }
        });
        // Each round: every emission to `every`, one to `once`.
        let expected = ((round + 1) * (THREADS + 1)) as usize;
        assert!(log.wait_for(expected, std::time::Duration::from_secs(10)));
    }
    // After it fired: nothing more for `once`; an `emit_many` batch gives
    // it its first item.
    emitter.value().emit(9_999);
    emitter.value().connect_once(once.on_value()).unwrap();
    emitter.value().emit_many([(7,), (8,)]);
    let total = (ROUNDS * (THREADS + 1) + 1 + 3) as usize;
    assert!(log.wait_for(total, std::time::Duration::from_secs(10)));
    worker.stop();
    worker.join().unwrap();
    let entries = log.entries();
    let once_entries: Vec<&String> = entries.iter().filter(|e| e.starts_with("once:")).collect();
    assert_eq!(once_entries.len() as u64, ROUNDS + 1, "{once_entries:?}");
    assert_eq!(*once_entries.last().unwrap(), "once:7");
    assert_eq!(entries.len(), total);
    assert_eq!(worker.dropped_signals(), 0);
}

#[test]
fn a_signal_blocker_holds_an_objects_signals_for_its_scope() {
    let log = Log::default();
    let mut main = EventLoop::new("blocker_main").unwrap();
    let emitter = main.add_with_id("emitter", Emitter).unwrap();
    let recorder = main.add_with_id("recorder", Recorder::new(&log)).unwrap();
    emitter.value().connect(recorder.on_value()).unwrap();
    emitter.value().emit(1);
    {
        let outer = emitter.block_signals().unwrap();
        assert!(emitter.signals_blocked());
        emitter.value().emit(2);
        {
            let _inner = emitter.block_signals().unwrap();
            emitter.value().emit(3);
        }
        // Still held by the outer one; from another thread too.
        let other = emitter.clone();
        std::thread::spawn(move || other.value().emit(4))
            .join()
            .unwrap();
        // Emitted by its own slots as well.
        emitter.emit_values().invoke(2).unwrap();
        main.process_events();
        drop(outer);
    }
    assert!(!emitter.signals_blocked());
    emitter.value().emit(5);
    emitter.event().connect(main.stop_slot()).unwrap();
    emitter.event().emit();
    assert_eq!(main.exec(), ExitStatus::Normal);
    assert_eq!(log.entries(), ["recorder:1", "recorder:5"]);
    // Held back, not lost: nothing counts as dropped.
    assert_eq!(main.dropped_signals(), 0);
}
