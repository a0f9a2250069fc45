//! A loop made in the parent and carried to the child that runs it
//! (`EventLoopProcess::carry`), as a program does that creates a loop
//! first and decides later which process runs it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::process::{Worker, join};
use crate::common::{Emitter, Log};
use signal_slot::{
    Context, Error, EventLoop, EventLoopProcess, EventLoopThread, ExitStatus, Handle, LoopHandle,
    event_loop_object,
};

/// Lives on the carried loop: counts what reaches it, says where it runs.
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
struct Tally {
    total: u64,
}

#[event_loop_object]
impl Tally {
    #[signal]
    fn counted(value: u64, pid: u32);

    #[slot]
    fn count(&mut self, ctx: &mut Context<Self>, value: u64) {
        self.total += value;
        ctx.counted().emit(value, std::process::id());
    }

    #[slot]
    fn total(&mut self) -> (u64, u32) {
        (self.total, std::process::id())
    }
}

/// In the parent: what the tally said, in order.
#[event_loop_object]
struct Collector {
    seen: Arc<Mutex<Vec<(u64, u32)>>>,
    log: Log,
}

#[event_loop_object]
impl Collector {
    #[slot]
    fn on_counted(&mut self, value: u64, pid: u32) {
        self.seen.lock().unwrap().push((value, pid));
        self.log.push("counted");
    }
}

/// The parent's side: a loop on a thread with a collector and an emitter.
struct Home {
    home: EventLoopThread,
    collector: Handle<Collector>,
    emitter: Handle<Emitter>,
    seen: Arc<Mutex<Vec<(u64, u32)>>>,
    log: Log,
}

impl Home {
    fn start(name: &str) -> Home {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Log::default();
        let mut home = EventLoopThread::new(name).unwrap();
        let collector = home
            .add_with_id(
                "collector",
                Collector {
                    seen: seen.clone(),
                    log: log.clone(),
                },
            )
            .unwrap();
        let emitter = home.add_with_id("emitter", Emitter).unwrap();
        home.start().unwrap();
        Home {
            home,
            collector,
            emitter,
            seen,
            log,
        }
    }
}

/// The child's init function: takes the carried loop and runs it on a
/// thread of its own.
#[signal_slot::init]
fn run_carried(_event_loop: &LoopHandle, name: String) {
    let mut carried = EventLoop::take_carried(&name).expect("the loop was carried here");
    assert!(EventLoop::take_carried(&name).is_none(), "taken once");
    std::thread::spawn(move || carried.exec());
}

/// A loop created in the parent, with an object, connections both ways and
/// signals queued before the start, is carried to a child: everything
/// queued and everything sent afterwards (from the parent, from a child
/// started before it was carried, from one started after) reaches it
/// there, in order per emitter, and its signals reach the parent.
pub fn a_loop_carried_to_a_child_is_reached_there_from_everywhere() {
    let Home {
        mut home,
        collector,
        emitter,
        seen,
        log,
    } = Home::start("carry_home");

    // A child that runs before the loop exists, and learns it where it
    // was made.
    let mut early = EventLoopProcess::new("carry_early").unwrap();
    let early_worker = early.add_with_id("worker", Worker::new()).unwrap();
    early.start().unwrap();

    let batcher = EventLoop::new("carry_batcher").unwrap();
    let tally = batcher.add_with_id("tally", Tally { total: 0 }).unwrap();
    tally.counted().connect(collector.on_counted()).unwrap();
    emitter.value().connect(tally.count()).unwrap();
    early_worker.value_out().connect(tally.count()).unwrap();
    // Queued before the start: 0, 1, 2.
    emitter.emit_values().invoke(3).unwrap();
    assert!(log.len() == 0, "the loop has not run");

    let mut learner = EventLoopProcess::new("carry_learner")
        .unwrap()
        .init_with(run_carried, "carry_batcher".to_owned());
    learner.carry(batcher).unwrap();
    assert!(EventLoop::take_carried("carry_batcher").is_none());
    learner.start().unwrap();
    let pid = learner.pid().expect("started");

    // A child started after the loop was carried learns where it runs.
    let mut late = EventLoopProcess::new("carry_late").unwrap();
    let late_worker = late.add_with_id("worker", Worker::new()).unwrap();
    late.start().unwrap();
    late_worker.value_out().connect(tally.count()).unwrap();

    emitter.emit_values().invoke(3).unwrap();
    for value in 10..13 {
        early_worker.forward().invoke(value).unwrap();
    }
    for value in 20..23 {
        late_worker.forward().invoke(value).unwrap();
    }
    assert!(
        log.wait_for(12, Duration::from_secs(20)),
        "{:?}",
        seen.lock().unwrap()
    );
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter().all(|&(_, at)| at == pid),
        "every signal ran in the child {pid}: {seen:?}"
    );
    let values: Vec<u64> = seen.iter().map(|&(value, _)| value).collect();
    let from = |range: std::ops::Range<u64>| -> Vec<u64> {
        values
            .iter()
            .copied()
            .filter(|value| range.contains(value))
            .collect()
    };
    assert_eq!(from(0..10), [0, 1, 2, 0, 1, 2], "the parent's, in order");
    assert_eq!(from(10..20), [11, 12, 13], "the early child's, in order");
    assert_eq!(from(20..30), [21, 22, 23], "the late child's, in order");
    assert_eq!(
        tally.total().call((), Duration::from_secs(10)),
        Ok((6 + 36 + 66, pid))
    );

    for process in [&mut learner, &mut early, &mut late] {
        process.stop();
        assert!(join(process).success());
    }
    home.event_loop().stop();
    assert_eq!(home.join().unwrap(), ExitStatus::Normal);
}

/// A loop that ran cannot be carried; nor can one be carried once the
/// process started.
pub fn what_cannot_be_carried_is_refused() {
    let mut ran = EventLoop::new("carry_ran").unwrap();
    ran.stop();
    assert_eq!(ran.exec(), ExitStatus::Normal);
    let mut child = EventLoopProcess::new("carry_refusing").unwrap();
    match child.carry(ran) {
        Err(Error::Process { message, .. }) => {
            assert!(message.contains("ran already"), "{message}")
        }
        other => panic!("a loop that ran was carried: {other:?}"),
    }
    child.start().unwrap();
    let late = EventLoop::new("carry_too_late").unwrap();
    assert!(matches!(child.carry(late), Err(Error::AlreadyStarted(_))));
    child.stop();
    assert!(join(&mut child).success());
}

/// In serial mode the child is this process: the carried loop waits here
/// for its taker, and runs here.
pub fn in_serial_mode_a_carried_loop_waits_here() {
    let batcher = EventLoop::new("carry_serial_batcher").unwrap();
    let tally = batcher.add_with_id("tally", Tally { total: 0 }).unwrap();
    tally.count().invoke(5).unwrap();
    let mut learner = EventLoopProcess::new_serial("carry_serial").unwrap();
    learner.carry(batcher).unwrap();
    assert!(EventLoop::take_carried("carry_serial_batcher").is_none());
    learner.start().unwrap();
    let mut batcher = EventLoop::take_carried("carry_serial_batcher").expect("waiting here");
    let runner = std::thread::spawn(move || batcher.exec());
    assert_eq!(
        tally.total().call((), Duration::from_secs(10)),
        Ok((5, std::process::id()))
    );
    tally.event_loop().expect("on a loop").stop();
    assert_eq!(runner.join().unwrap(), ExitStatus::Normal);
    learner.stop();
    assert!(learner.join().unwrap().success());
}

/// A child killed with a loop carried to it: what is sent to that loop
/// afterwards is dropped and counted, never blocks; once the process is
/// gone, the loop's name is free again here.
pub fn a_loop_carried_to_a_killed_child_counts_what_is_sent_to_it() {
    let Home {
        mut home,
        collector,
        emitter,
        seen: _,
        log,
    } = Home::start("carry_killed_home");
    let batcher = EventLoop::new("carry_killed_batcher").unwrap();
    let batcher_handle = batcher.handle();
    let tally = batcher.add_with_id("tally", Tally { total: 0 }).unwrap();
    tally.counted().connect(collector.on_counted()).unwrap();
    emitter.value().connect(tally.count()).unwrap();
    let mut learner = EventLoopProcess::new("carry_killed_learner")
        .unwrap()
        .init_with(run_carried, "carry_killed_batcher".to_owned());
    learner.carry(batcher).unwrap();
    learner.start().unwrap();
    emitter.emit_values().invoke(1).unwrap();
    assert!(
        log.wait_for(1, Duration::from_secs(20)),
        "the carried loop runs"
    );

    learner.kill().unwrap();
    assert!(!join(&mut learner).success());
    // Once this process knows the child ended, its loops' routes end.
    assert!(crate::common::harness::wait_until(
        Duration::from_secs(10),
        || {
            let before = batcher_handle.dropped_signals();
            emitter.emit_values().invoke(1).unwrap();
            crate::common::harness::wait_until(Duration::from_secs(1), || {
                batcher_handle.dropped_signals() > before
            })
        }
    ));
    let before = batcher_handle.dropped_signals();
    emitter.emit_values().invoke(5).unwrap();
    assert!(
        crate::common::harness::wait_until(Duration::from_secs(10), || {
            batcher_handle.dropped_signals() == before + 5
        }),
        "dropped {} after {before}",
        batcher_handle.dropped_signals()
    );
    assert_eq!(log.len(), 1, "nothing ran after the kill");
    drop(learner);
    let again = EventLoop::new("carry_killed_batcher");
    assert!(again.is_ok(), "the name is free again: {again:?}");
    home.event_loop().stop();
    assert_eq!(home.join().unwrap(), ExitStatus::Normal);
}
