//! Behaviour of loops, signals, slots and timers inside one process, through
//! the public API only.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Emitter, Log, Recorder, capture_logs, sender_id};
use signal_slot::{
    Context, Error, EventLoop, EventLoopThread, ExitStatus, PanicPolicy, TightLoop, Timer,
    event_loop_object,
};

/// A loop that ends itself after `after` (a safety net for tests that stop
/// their loops by other means).
fn stop_after(event_loop: &EventLoop, after: Duration) -> Timer {
    let timer = Timer::single_shot(event_loop, after).expect("timer");
    timer
        .timeout()
        .connect(event_loop.stop_slot())
        .expect("connect");
    timer.start();
    timer
}

#[test]
fn fan_out_is_one_message_per_receiving_loop() {
    let log = Log::default();
    let mut main = EventLoop::new("fan_out_main").unwrap();
    // Room for the two attachments and one message: a message per receiver
    // would overflow it.
    let worker_loop = EventLoop::builder("fan_out_worker")
        .capacity(3)
        .build()
        .unwrap();
    let mut worker = EventLoopThread::with_loop(worker_loop);
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

#[event_loop_object]
struct Ticker {
    ticks: Arc<AtomicUsize>,
    work: Duration,
}

#[event_loop_object]
impl Ticker {
    #[slot]
    fn on_tick(&mut self) {
        self.ticks.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(self.work);
    }
}

#[test]
fn periodic_timer_does_not_drift() {
    let ticks = Arc::new(AtomicUsize::new(0));
    let mut main = EventLoop::new("drift_main").unwrap();
    let ticker = main
        .add(Ticker {
            ticks: ticks.clone(),
            // Each tick costs 4 ms: a timer that re-armed from "now" would
            // fire every 14 ms, about 36 times in the window.
            work: Duration::from_millis(4),
        })
        .unwrap();
    let timer = Timer::new(&main, Duration::from_millis(10)).unwrap();
    timer.timeout().connect(ticker.on_tick()).unwrap();
    let window = stop_after(&main, Duration::from_millis(505));
    timer.start();
    let started = Instant::now();
    main.exec();
    let elapsed = started.elapsed();
    let ticks = ticks.load(Ordering::SeqCst);
    // On its grid: one tick per 10 ms of the window (the window may run late
    // on a loaded machine, never early; a loop descheduled for a whole period
    // skips that tick, hence a little slack below 50). A timer that re-armed
    // from "now" would give about 36.
    let expected = (elapsed.as_millis() / 10) as usize;
    assert!(
        (45..=expected + 1).contains(&ticks),
        "{ticks} ticks in {elapsed:?}, expected 50"
    );
    drop(window);
}

#[test]
fn single_shot_fires_once_and_set_interval_changes_the_period() {
    let once = Arc::new(AtomicUsize::new(0));
    let fast = Arc::new(AtomicUsize::new(0));
    let mut main = EventLoop::new("single_shot_main").unwrap();
    let once_ticker = main
        .add(Ticker {
            ticks: once.clone(),
            work: Duration::ZERO,
        })
        .unwrap();
    let fast_ticker = main
        .add(Ticker {
            ticks: fast.clone(),
            work: Duration::ZERO,
        })
        .unwrap();
    let single = Timer::single_shot(&main, Duration::from_millis(5)).unwrap();
    single.timeout().connect(once_ticker.on_tick()).unwrap();
    single.start();
    // Would not fire at all in the window at its first interval.
    let periodic = Timer::new(&main, Duration::from_secs(3600)).unwrap();
    periodic.timeout().connect(fast_ticker.on_tick()).unwrap();
    periodic.start();
    periodic.set_interval(Duration::from_millis(10));
    stop_after(&main, Duration::from_millis(200));
    main.exec();
    assert_eq!(once.load(Ordering::SeqCst), 1);
    let fast = fast.load(Ordering::SeqCst);
    assert!((12..=21).contains(&fast), "{fast} ticks at 10 ms in 200 ms");
}

#[test]
fn stopped_timer_stays_silent() {
    let ticks = Arc::new(AtomicUsize::new(0));
    let mut main = EventLoop::new("stopped_timer_main").unwrap();
    let ticker = main
        .add(Ticker {
            ticks: ticks.clone(),
            work: Duration::ZERO,
        })
        .unwrap();
    let timer = Timer::new(&main, Duration::from_millis(5)).unwrap();
    timer.timeout().connect(ticker.on_tick()).unwrap();
    timer.start();
    timer.stop();
    stop_after(&main, Duration::from_millis(60));
    main.exec();
    assert_eq!(ticks.load(Ordering::SeqCst), 0);
}

#[test]
fn tight_loop_emits_on_every_iteration_until_stopped() {
    let log = Log::default();
    let mut main = EventLoop::new("tight_main").unwrap();
    let recorder = main
        .add_with_id("recorder", Recorder::stopping_after(&log, 1_000))
        .unwrap();
    let tight = TightLoop::new(&main).unwrap();
    tight.iteration().connect(recorder.on_event()).unwrap();
    main.exec();
    assert_eq!(log.len(), 1_000);

    let log = Log::default();
    let mut main = EventLoop::new("tight_stop_main").unwrap();
    let recorder = main.add_with_id("recorder", Recorder::new(&log)).unwrap();
    let tight = TightLoop::new(&main).unwrap();
    tight.iteration().connect(recorder.on_event()).unwrap();
    tight.stop();
    stop_after(&main, Duration::from_millis(30));
    main.exec();
    assert_eq!(log.len(), 0);
}

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
fn a_full_inbox_drops_counts_and_names_the_receivers() {
    let log = Log::default();
    let emitters = EventLoop::new("full_emitters").unwrap();
    // The capacity counts every queued message: the attachment and ten signals.
    let worker_loop = EventLoop::builder("full_worker")
        .capacity(11)
        .build()
        .unwrap();
    let mut worker = EventLoopThread::with_loop(worker_loop);
    let emitter = emitters.add_with_id("emitter", Emitter).unwrap();
    let recorder = worker.add_with_id("recorder", Recorder::new(&log)).unwrap();
    emitter.value().connect(recorder.on_value()).unwrap();
    let (_, logs) = capture_logs(|| {
        for n in 0..25 {
            emitter.value().emit(n);
        }
    });
    assert_eq!(worker.dropped_signals(), 15);
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

/// Emits along a chain: every hop records itself and passes on.
#[event_loop_object]
struct Hop {
    log: Log,
    name: &'static str,
}

#[event_loop_object]
impl Hop {
    #[signal]
    fn next(value: u64);

    #[slot]
    fn on_value(&mut self, ctx: &mut Context<Self>, value: u64) {
        self.log.push(format!(
            "{}:{value}:{:?}",
            self.name,
            std::thread::current().id()
        ));
        if value < 20 {
            ctx.next().emit(value + 1);
        } else {
            ctx.stop_loop();
        }
    }
}

fn serial_run(run: usize) -> Vec<String> {
    let log = Log::default();
    let mut main = EventLoop::new(format!("serial_main_{run}")).unwrap();
    let mut first = EventLoopThread::new(format!("serial_first_{run}"))
        .unwrap()
        .serial(true);
    let mut second = EventLoopThread::new(format!("serial_second_{run}"))
        .unwrap()
        .serial(true);
    let hops = [
        main.add_with_id(
            "m",
            Hop {
                log: log.clone(),
                name: "m",
            },
        )
        .unwrap(),
        first
            .add_with_id(
                "f1",
                Hop {
                    log: log.clone(),
                    name: "f1",
                },
            )
            .unwrap(),
        first
            .add_with_id(
                "f2",
                Hop {
                    log: log.clone(),
                    name: "f2",
                },
            )
            .unwrap(),
        second
            .add_with_id(
                "s",
                Hop {
                    log: log.clone(),
                    name: "s",
                },
            )
            .unwrap(),
    ];
    // Every hop passes on to all the others: fan-out across three loops.
    for from in &hops {
        for to in &hops {
            if from.id() != to.id() {
                from.next().connect(to.on_value()).unwrap();
            }
        }
    }
    main.terminate_signal().connect(first.stop_slot()).unwrap();
    main.terminate_signal().connect(second.stop_slot()).unwrap();
    first.start().unwrap();
    second.start().unwrap();
    hops[0].on_value().invoke((17,)).unwrap();
    main.exec();
    first.join().unwrap();
    second.join().unwrap();
    log.entries()
}

#[test]
fn serial_mode_runs_on_one_thread_in_a_deterministic_order() {
    let this_thread = format!("{:?}", std::thread::current().id());
    let runs: Vec<Vec<String>> = (0..3).map(serial_run).collect();
    assert!(runs[0].len() > 10, "{:?}", runs[0]);
    assert!(runs[0].iter().all(|entry| entry.ends_with(&this_thread)));
    assert_eq!(runs[0], runs[1]);
    assert_eq!(runs[1], runs[2]);
}

#[test]
fn other_threads_connect_and_emit_while_loops_run() {
    let log = Log::default();
    let mut worker = EventLoopThread::new("threads_worker").unwrap();
    let recorder = worker
        .add_with_id("recorder", Recorder::stopping_after(&log, 4 * 1_000))
        .unwrap();
    let emitters = EventLoop::new("threads_emitters").unwrap();
    let emitters: Vec<_> = (0..4)
        .map(|index| {
            emitters
                .add_with_id(format!("emitter{index}"), Emitter)
                .unwrap()
        })
        .collect();
    worker.start().unwrap();
    std::thread::scope(|scope| {
        for emitter in &emitters {
            let recorder = recorder.clone();
            scope.spawn(move || {
                emitter.value().connect(recorder.on_value()).unwrap();
                for n in 0..1_000 {
                    emitter.value().emit(n);
                }
            });
        }
    });
    assert_eq!(worker.join().unwrap(), ExitStatus::Normal);
    let entries = log.entries();
    assert_eq!(entries.len(), 4_000);
    // Per emitter, in order: the n-th value of each emitter arrives as a
    // sequence 0..1000 once the interleaving is filtered by sender.
    let values: Vec<u64> = entries
        .iter()
        .map(|entry| entry.rsplit(':').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(values.iter().sum::<u64>(), 4 * (0..1_000).sum::<u64>());
}

#[event_loop_object]
struct PerSender {
    last: std::collections::HashMap<String, u64>,
    received: usize,
    expected: usize,
    out_of_order: Arc<AtomicUsize>,
}

#[event_loop_object]
impl PerSender {
    #[slot]
    fn on_value(&mut self, ctx: &mut Context<Self>, value: u64) {
        let sender = sender_id(ctx);
        if let Some(last) = self.last.insert(sender, value)
            && last + 1 != value
        {
            self.out_of_order.fetch_add(1, Ordering::SeqCst);
        }
        self.received += 1;
        if self.received == self.expected {
            ctx.stop_loop();
        }
    }
}

#[test]
fn order_holds_per_emitter_across_concurrent_emitters() {
    let out_of_order = Arc::new(AtomicUsize::new(0));
    let mut worker = EventLoopThread::new("per_sender_worker").unwrap();
    let checker = worker
        .add(PerSender {
            last: Default::default(),
            received: 0,
            expected: 3 * 20_000,
            out_of_order: out_of_order.clone(),
        })
        .unwrap();
    let emitters = EventLoop::new("per_sender_emitters").unwrap();
    let emitters: Vec<_> = (0..3).map(|_| emitters.add(Emitter).unwrap()).collect();
    for emitter in &emitters {
        emitter.value().connect(checker.on_value()).unwrap();
    }
    worker.start().unwrap();
    std::thread::scope(|scope| {
        for emitter in &emitters {
            scope.spawn(move || {
                for n in 0..20_000 {
                    emitter.value().emit(n);
                }
            });
        }
    });
    assert_eq!(worker.join().unwrap(), ExitStatus::Normal);
    assert_eq!(out_of_order.load(Ordering::SeqCst), 0);
    assert_eq!(worker.dropped_signals(), 0);
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

/// Starts a timer from a slot, and stops its loop from another.
#[event_loop_object]
struct SelfTimed {
    log: Log,
}

#[event_loop_object]
impl SelfTimed {
    #[slot]
    fn on_start(&mut self, ctx: &mut Context<Self>) {
        let timer = Timer::single_shot(ctx.event_loop(), Duration::from_millis(5)).unwrap();
        timer.timeout().connect(ctx.on_timeout()).unwrap();
        timer.start();
        self.log.push(format!("{} armed a timer", ctx.id()));
    }

    #[slot]
    fn on_timeout(&mut self, ctx: &mut Context<Self>) {
        self.log.push("timeout");
        ctx.stop_loop();
    }
}

#[test]
fn a_slot_can_start_timers_and_stop_its_loop() {
    let log = Log::default();
    let mut main = EventLoop::new("self_timed_main").unwrap();
    let object = main
        .add_with_id("timed", SelfTimed { log: log.clone() })
        .unwrap();
    main.start_signal().connect(object.on_start()).unwrap();
    assert_eq!(main.exec(), ExitStatus::Normal);
    assert_eq!(log.entries(), ["timed armed a timer", "timeout"]);
}
