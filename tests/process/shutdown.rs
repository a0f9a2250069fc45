//! Shutdown: stopping with signals in flight, dropping in any order without
//! leaks, children outliving their starting thread, no orphans after a panic.

use std::time::Duration;

use crate::common::Log;
use crate::common::harness::wait_until;
use crate::common::process::{Feeder, Probe, Victim, fixture};
use signal_slot::{
    EventLoop, EventLoopProcess, EventLoopThread, ExitStatus, ObjectHandle, event_loop_object,
};

pub fn stopping_with_signals_in_flight_loses_none_queued_before() {
    const SENT: u64 = 30_000;
    let (log, mut collector, probe, _feeders, feeder) = fixture("flight");
    let mut child = EventLoopProcess::new("flight_child").unwrap();
    let mut thread = EventLoopThread::new("flight_thread").unwrap();
    let in_child = child.add_with_id("in_child", Victim::counting()).unwrap();
    let in_thread = thread.add_with_id("in_thread", Victim::counting()).unwrap();
    for receiver in [&in_child, &in_thread] {
        feeder.value().connect(receiver.on_value()).unwrap();
        receiver.counted().connect(probe.report()).unwrap();
    }
    // Each reports when its loop ends: after what was queued before the stop.
    child.terminate_signal().connect(in_child.report()).unwrap();
    thread
        .terminate_signal()
        .connect(in_thread.report())
        .unwrap();
    collector.start().unwrap();
    child.start().unwrap();
    thread.start().unwrap();
    for value in 0..SENT {
        feeder.value().emit(value);
    }
    child.stop();
    thread.stop();
    assert!(
        log.wait_for(2, Duration::from_secs(30)),
        "{:?}",
        log.entries()
    );
    let mut entries = log.entries();
    entries.sort();
    assert_eq!(
        entries,
        [
            format!("in_child: received {SENT}"),
            format!("in_thread: received {SENT}")
        ]
    );
    assert!(child.join().unwrap().success());
    assert_eq!(thread.join().unwrap(), ExitStatus::Normal);
    collector.stop();
    collector.join().unwrap();
}

/// The threads of this process, but the root's agent: the first child
/// starts it, and it stays for the life of the process.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |tasks| {
        tasks
            .filter_map(Result::ok)
            .filter(|task| {
                std::fs::read_to_string(task.path().join("comm"))
                    // Names are cut to 15 bytes.
                    .map_or(true, |name| {
                        !"signal-slot-agent".starts_with(name.trim_end())
                    })
            })
            .count()
    })
}

fn alive(pid: u32) -> bool {
    // A reaped process has no /proc entry; a zombie is not alive either.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z'))
    })
}

/// A small system: a loop on this thread, one on a thread, two processes,
/// wired together and used.
struct System {
    main: Option<EventLoop>,
    thread: Option<EventLoopThread>,
    processes: Vec<EventLoopProcess>,
    handles: Vec<ObjectHandle>,
    pids: Vec<u32>,
}

fn system(tag: &str) -> System {
    let log = Log::default();
    let main = EventLoop::new(format!("leak_main_{tag}")).unwrap();
    let mut thread = EventLoopThread::new(format!("leak_thread_{tag}")).unwrap();
    let probe = thread
        .add_with_id(
            "probe",
            Probe {
                log: log.clone(),
                expected: usize::MAX,
            },
        )
        .unwrap();
    let feeder = main.add_with_id("feeder", Feeder).unwrap();
    let mut processes = Vec::new();
    let mut handles = vec![
        ObjectHandle::from(feeder.clone()),
        ObjectHandle::from(probe.clone()),
    ];
    for index in 0..2 {
        let process = EventLoopProcess::new(format!("leak_process_{tag}_{index}")).unwrap();
        let worker = process.add_with_id("worker", Victim::counting()).unwrap();
        feeder.other().connect(worker.echo()).unwrap();
        worker.counted().connect(probe.report()).unwrap();
        handles.push(ObjectHandle::from(worker.clone()));
        processes.push(process);
    }
    thread.start().unwrap();
    for process in &mut processes {
        process.start().unwrap();
    }
    feeder.other().emit(1);
    assert!(
        log.wait_for(2, Duration::from_secs(10)),
        "{:?}",
        log.entries()
    );
    let pids = processes.iter().filter_map(EventLoopProcess::pid).collect();
    System {
        main: Some(main),
        thread: Some(thread),
        processes,
        handles,
        pids,
    }
}

pub fn dropping_in_any_order_leaks_no_thread_and_no_process() {
    // What runs before (this harness's threads, whatever earlier tests leave
    // winding down) is the baseline: every system must leave no more.
    let baseline = threads();
    let orders: [&dyn Fn(&mut System); 4] = [
        &|system| {
            system.processes.clear();
            system.thread.take();
            system.main.take();
            system.handles.clear();
        },
        &|system| {
            system.handles.clear();
            system.main.take();
            system.thread.take();
            system.processes.clear();
        },
        &|system| {
            system.thread.take();
            system.processes.reverse();
            system.processes.clear();
            system.handles.clear();
            system.main.take();
        },
        &|system| {
            system.main.take();
            system.handles.clear();
            system.processes.pop();
            system.thread.take();
            system.processes.clear();
        },
    ];
    for (index, order) in orders.iter().enumerate() {
        let mut system = system(&format!("order{index}"));
        let pids = system.pids.clone();
        assert!(pids.iter().all(|pid| alive(*pid)));
        order(&mut system);
        drop(system);
        assert!(
            wait_until(Duration::from_secs(10), || pids
                .iter()
                .all(|pid| !alive(*pid))),
            "order {index}: a child process outlived its handle"
        );
        assert!(
            wait_until(Duration::from_secs(10), || threads() <= baseline),
            "order {index}: {} threads, {baseline} before",
            threads()
        );
    }
}

pub fn a_child_outlives_the_thread_that_started_it() {
    let (log, mut collector, probe, _feeders, feeder) = fixture("outlive");
    let mut child = EventLoopProcess::new("outlive_child").unwrap();
    let worker = child.add_with_id("worker", Victim::counting()).unwrap();
    feeder.other().connect(worker.echo()).unwrap();
    worker.counted().connect(probe.report()).unwrap();
    collector.start().unwrap();
    // Started from a thread that ends right after: the child belongs to the
    // process, not to that thread.
    let mut child = std::thread::spawn(move || {
        child.start().unwrap();
        child
    })
    .join()
    .unwrap();
    let pid = child.pid().unwrap();
    feeder.other().emit(5);
    assert!(
        log.wait_for(1, Duration::from_secs(10)),
        "the child died with the thread"
    );
    assert_eq!(log.entries(), ["worker: echo 5"]);
    assert!(alive(pid));
    child.stop();
    assert!(child.join().unwrap().success());
    collector.stop();
    collector.join().unwrap();
}

/// Set in the environment of the test binary that the orphan test runs again
/// as a parent that panics: `main` then calls [`panicking_parent`].
pub const PANICKING_PARENT: &str = "SIGNAL_SLOT_PANICKING_PARENT";

/// Run as a separate process by the orphan test: starts a child process,
/// prints its pid, and panics.
pub fn panicking_parent() -> ! {
    let mut child = EventLoopProcess::new("orphan_child").unwrap();
    child.start().unwrap();
    println!("{}", child.pid().unwrap());
    // A panic that does not unwind through the handle's drop.
    std::mem::forget(child);
    panic!("the parent fails");
}

pub fn a_panicking_parent_leaves_no_orphans() {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .env(PANICKING_PARENT, "1")
        .env("SIGNAL_SLOT_START_METHOD", method_name())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let pid: u32 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("a pid");
    assert!(
        wait_until(Duration::from_secs(10), || !alive(pid)),
        "child {pid} outlived its panicking parent"
    );
}

/// The name of the start method this test runs under, for a program it
/// starts.
fn method_name() -> &'static str {
    match signal_slot::start_method() {
        signal_slot::StartMethod::Fork => "fork",
        signal_slot::StartMethod::Spawn => "spawn",
    }
}

/// Set for a run of this binary whose `main` forgets `init_process`.
pub const FORGETFUL_PARENT: &str = "SIGNAL_SLOT_FORGETFUL_PARENT";

/// Run as a separate process, with a `main` that does not call
/// `init_process`: starts a process by spawn, and prints what happened.
/// Its child, the same program, goes on where it should have taken its
/// role: it must not start processes of its own.
pub fn forgetful_parent() -> ! {
    let child = EventLoopProcess::new("forgetful_child")
        .map(|child| child.start_method(signal_slot::StartMethod::Spawn));
    match child {
        Ok(mut child) => match child.start() {
            Ok(()) => {
                println!("started");
                std::process::exit(0)
            }
            Err(error) => {
                println!("parent: {error}");
                std::process::exit(3)
            }
        },
        Err(error) => {
            eprintln!("child: {error}");
            std::process::exit(4)
        }
    }
}

pub fn forgetting_init_process_is_a_clear_error_not_a_fork_bomb() {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .env(FORGETFUL_PARENT, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stdout}\n{stderr}");
    // The parent learns why its child never came...
    assert!(
        stdout.contains("before taking its role") && stdout.contains("init_process"),
        "{stdout}"
    );
    // ...and the child, refused its own process, said why (and not that
    // the platform lacks something).
    assert!(
        stderr.contains("child: ") && stderr.contains("did not call `signal_slot::init_process()`"),
        "{stderr}"
    );
    assert!(!stderr.contains("platform"), "{stderr}");
    assert_eq!(stderr.matches("child: ").count(), 1, "{stderr}");
}

/// In a child: emits a value on every iteration of its loop.
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
struct Streamer {
    sent: u64,
}

#[event_loop_object]
impl Streamer {
    #[signal]
    fn value(value: u64);

    #[slot]
    fn tick(&mut self, ctx: &mut signal_slot::Context<Self>) {
        self.sent += 1;
        ctx.value().emit(self.sent);
    }
}

/// Drives the child's streamer from a tight loop.
#[signal_slot::init]
fn stream_every_tick(event_loop: &signal_slot::LoopHandle) {
    let streamer = event_loop
        .object::<Streamer>("streamer")
        .expect("attached before the start");
    let ticks = signal_slot::TightLoop::new(event_loop).expect("the loop runs");
    ticks
        .iteration()
        .connect(streamer.tick())
        .expect("same loop");
}

pub fn a_child_streaming_to_a_loop_that_ended_stops_when_asked() {
    let log = Log::default();
    let mut main = EventLoop::new("orphaned_main").unwrap();
    let probe = main
        .add_with_id(
            "probe",
            Probe {
                log: log.clone(),
                expected: usize::MAX,
            },
        )
        .unwrap();
    let mut child = EventLoopProcess::new("streaming_child")
        .unwrap()
        .init_with(stream_every_tick, ());
    let streamer = child.add_with_id("streamer", Streamer { sent: 0 }).unwrap();
    streamer.value().connect(probe.report_value()).unwrap();
    child.start().unwrap();
    // The stream flows...
    while log.len() < 10 {
        assert!(main.process_events().is_none());
    }
    // ...into a loop that ends now.
    drop(main);
    let started = std::time::Instant::now();
    child.stop();
    let exit = child
        .join_timeout(Duration::from_secs(10))
        .unwrap()
        .expect("stops when asked");
    assert!(exit.success(), "{exit}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}
