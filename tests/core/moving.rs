//! Moving an object between loops (Qt's `moveToThread`): its connections
//! follow it, what was queued first is delivered first, nothing is lost or
//! delivered twice, and what cannot move says why.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::harness::wait_until;
use crate::common::{Emitter, Log, Recorder};
use signal_slot::{Context, Error, EventLoop, EventLoopThread, Timer, event_loop_object};

/// What reached a tally: emitter, value, thread.
type Seen = Arc<Mutex<Vec<(String, u64, String)>>>;

/// Records what reaches it and where it ran; passes every value on.
#[event_loop_object]
pub struct Tally {
    seen: Seen,
}

#[event_loop_object]
impl Tally {
    #[signal]
    fn passed(value: u64);

    #[slot]
    fn on_value(&mut self, ctx: &mut Context<Self>, value: u64) {
        let from = ctx.sender().map_or("-", |sender| sender.id()).to_owned();
        let thread = std::thread::current().name().unwrap_or("?").to_owned();
        self.seen.lock().unwrap().push((from, value, thread));
        ctx.passed().emit(value);
    }

    #[slot]
    fn on_tick(&mut self, ctx: &mut Context<Self>) {
        let thread = std::thread::current().name().unwrap_or("?").to_owned();
        self.seen
            .lock()
            .unwrap()
            .push(("tick".to_owned(), 0, thread));
        let _ = ctx;
    }
}

/// Moves `object` to `to`, waiting for a move under way to end first.
fn move_when_free(object: &signal_slot::ObjectHandle, to: &signal_slot::LoopHandle) {
    loop {
        match object.move_to(to) {
            Ok(()) => return,
            Err(Error::Move { message, .. }) if message.contains("moving already") => {
                std::thread::yield_now();
            }
            Err(error) => panic!("{error}"),
        }
    }
}

#[test]
fn an_object_moving_between_threads_gets_everything_once_in_order() {
    const COUNT: u64 = 20_000;
    let mut loops: Vec<EventLoopThread> = (0..3)
        .map(|index| EventLoopThread::new(format!("moving_{index}")).unwrap())
        .collect();
    let log = Log::default();
    let seen = Seen::default();
    let tally = loops[0]
        .add_with_id("tally", Tally { seen: seen.clone() })
        .unwrap();
    // Two emitters emitting from threads of their own, one on a loop.
    let first = loops[1].add_with_id("first", Emitter).unwrap();
    let second = loops[2].add_with_id("second", Emitter).unwrap();
    let on_loop = loops[2].add_with_id("on_loop", Emitter).unwrap();
    first.value().connect(tally.on_value()).unwrap();
    second.value().connect(tally.on_value()).unwrap();
    on_loop.value().connect(tally.on_value()).unwrap();
    // What the tally emits reaches a recorder, wherever the tally is.
    let recorder = loops[1]
        .add_with_id("recorder", Recorder::new(&log))
        .unwrap();
    tally.passed().connect(recorder.on_value()).unwrap();
    for event_loop in &mut loops {
        event_loop.start().unwrap();
    }
    let handles: Vec<signal_slot::LoopHandle> = loops.iter().map(|l| (**l).clone()).collect();
    const MOVES: u64 = 60;
    let emitted = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|scope| {
        for emitter in [&first, &second] {
            let emitted = &emitted;
            scope.spawn(move || {
                for value in 0..COUNT {
                    emitter.value().emit(value);
                    emitted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
        on_loop.emit_values().invoke(COUNT).unwrap();
        // Meanwhile, the tally moves around: once per 1/60 of the streams.
        for round in 0..MOVES {
            let due = 2 * COUNT * round / MOVES;
            while emitted.load(std::sync::atomic::Ordering::Relaxed) < due {
                std::thread::yield_now();
            }
            move_when_free(&tally, &handles[(round as usize + 1) % handles.len()]);
        }
    });
    assert!(
        wait_until(Duration::from_secs(20), || seen.lock().unwrap().len()
            == 3 * COUNT as usize),
        "{} of {}",
        seen.lock().unwrap().len(),
        3 * COUNT
    );
    assert!(wait_until(Duration::from_secs(20), || log.len() == 3 * COUNT as usize));
    for event_loop in &mut loops {
        event_loop.stop();
        assert!(event_loop.join().unwrap().is_normal());
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3 * COUNT as usize);
    for emitter in ["first", "second", "on_loop"] {
        let values: Vec<u64> = seen
            .iter()
            .filter(|(from, _, _)| from == emitter)
            .map(|(_, value, _)| *value)
            .collect();
        assert_eq!(values, (0..COUNT).collect::<Vec<_>>(), "from {emitter}");
    }
    // It ended where the last move took it.
    assert_eq!(
        tally.loop_name().as_deref(),
        Some(handles[MOVES as usize % handles.len()].name())
    );
    // Its own emissions followed it: all of them, once.
    assert_eq!(log.len(), 3 * COUNT as usize);
    for event_loop in &loops {
        assert_eq!(event_loop.dropped_signals(), 0);
    }
}

#[test]
fn a_moving_object_takes_its_timer_and_its_queue() {
    let seen = Seen::default();
    let mut main = EventLoop::new("moving_timer_main").unwrap();
    let mut other = EventLoopThread::new("moving_timer_other").unwrap();
    let tally = main
        .add_with_id("tally", Tally { seen: seen.clone() })
        .unwrap();
    let timer = Timer::new(&main, Duration::from_millis(5)).unwrap();
    timer.timeout().connect(tally.on_tick()).unwrap();
    timer.start();
    let emitter = main.add_with_id("emitter", Emitter).unwrap();
    emitter.value().connect(tally.on_value()).unwrap();
    for value in 0..3 {
        emitter.value().emit(value);
    }
    tally.move_to(&other).unwrap();
    timer.object().move_to(&other).unwrap();
    for value in 3..6 {
        emitter.value().emit(value);
    }
    other.start().unwrap();
    // Queued before the move: delivered here, then both leave.
    main.process_events();
    assert!(wait_until(Duration::from_secs(10), || {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|(from, _, _)| from == "tick")
            .count()
            >= 2
    }));
    other.stop();
    other.join().unwrap();
    let seen = seen.lock().unwrap();
    let values: Vec<(u64, &str)> = seen
        .iter()
        .filter(|(from, _, _)| from == "emitter")
        .map(|(_, value, thread)| (*value, thread.as_str()))
        .collect();
    let here = std::thread::current().name().unwrap_or("?").to_owned();
    assert_eq!(
        values,
        [
            (0, here.as_str()),
            (1, here.as_str()),
            (2, here.as_str()),
            (3, "moving_timer_other"),
            (4, "moving_timer_other"),
            (5, "moving_timer_other"),
        ]
    );
    // The timer ticks on its new loop.
    assert!(
        seen.iter()
            .filter(|(from, _, _)| from == "tick")
            .all(|(_, _, thread)| thread == "moving_timer_other"),
        "{seen:?}"
    );
    assert_eq!(tally.loop_name().as_deref(), Some("moving_timer_other"));
}

#[test]
fn an_object_detached_on_its_way_gets_what_came_before() {
    let log = Log::default();
    let mut main = EventLoop::new("moving_detach_main").unwrap();
    let mut other = EventLoopThread::new("moving_detach_other").unwrap();
    let recorder = main.add_with_id("recorder", Recorder::new(&log)).unwrap();
    let emitter = main.add_with_id("emitter", Emitter).unwrap();
    emitter.value().connect(recorder.on_value()).unwrap();
    emitter.value().emit(1);
    recorder.move_to(&other).unwrap();
    emitter.value().emit(2);
    recorder.detach().unwrap();
    emitter.value().emit(3);
    other.start().unwrap();
    main.process_events();
    assert!(log.wait_for(2, Duration::from_secs(10)));
    // Detached there: its id is free again on the loop it went to.
    assert!(wait_until(Duration::from_secs(10), || other
        .add_with_id("recorder", Recorder::new(&log))
        .is_ok()));
    other.stop();
    other.join().unwrap();
    assert_eq!(log.entries(), ["recorder:1", "recorder:2"]);
    assert_eq!(main.dropped_signals() + other.dropped_signals(), 0);
}

#[test]
fn what_cannot_move_says_why() {
    let log = Log::default();
    let main = EventLoop::new("moving_refused_main").unwrap();
    let other = EventLoop::new("moving_refused_other").unwrap();
    let recorder = main.add_with_id("recorder", Recorder::new(&log)).unwrap();
    // Where it is already: nothing to do.
    recorder.move_to(&main).unwrap();
    // A loop's own object stays.
    assert!(matches!(
        main.stop_slot().target().move_to(&other),
        Err(Error::Move { .. })
    ));
    // Not onto an id taken there.
    other.add_with_id("recorder", Recorder::new(&log)).unwrap();
    assert!(matches!(
        recorder.move_to(&other),
        Err(Error::DuplicateObjectId { .. })
    ));
    // Not twice at once.
    let third = EventLoop::new("moving_refused_third").unwrap();
    recorder.move_to(&third).unwrap();
    assert!(matches!(recorder.move_to(&main), Err(Error::Move { .. })));
    // Not once detached.
    let gone = main.add_with_id("gone", Recorder::new(&log)).unwrap();
    gone.detach_now().unwrap();
    assert!(matches!(
        gone.move_to(&other),
        Err(Error::ObjectNotFound { .. })
    ));
}
