//! Long runs leave nothing behind: processes created and ended by the
//! hundred, and loops created and ended by the hundred while a child runs.
//! Open descriptors, threads and resident memory are measured before and
//! after, on both sides.

use std::time::{Duration, Instant};

use crate::common::Log;
use crate::common::process::{Probe, ProbeHandle, Source, Usage};
use signal_slot::{Context, EventLoop, EventLoopProcess, event_loop_object};

/// A child's object that carries 8 MiB: what the parent must not keep.
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
struct Ballast {
    /// As MessagePack `bin` (one copy), not an array of 8 Mi numbers.
    #[serde(with = "serde_bytes")]
    bytes: Vec<u8>,
}

#[event_loop_object]
impl Ballast {
    #[signal]
    fn reply(text: String);

    #[slot]
    fn on_text(&mut self, ctx: &mut Context<Self>, text: String) {
        let reply = format!("{text}:{}", self.bytes.len());
        ctx.reply().emit(reply);
    }
}

/// Runs `main` until `log` holds `count` entries.
fn run_until(main: &mut EventLoop, log: &Log, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while log.len() < count {
        assert!(Instant::now() < deadline, "{:?}", log.entries());
        assert!(main.process_events().is_none(), "the main loop ended");
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// One process: started with an 8 MiB object, spoken to both ways,
/// stopped, joined, dropped.
fn one_process(
    main: &mut EventLoop,
    log: &Log,
    probe: &ProbeHandle,
    source: &signal_slot::Handle<Source>,
    index: usize,
) {
    let mut child = EventLoopProcess::new(format!("leak_child_{index}")).unwrap();
    let ballast = child
        .add_with_id(
            "ballast",
            Ballast {
                bytes: vec![1; 8 << 20],
            },
        )
        .unwrap();
    ballast.reply().connect(probe.report()).unwrap();
    source.text().connect(ballast.on_text()).unwrap();
    child.start().unwrap();
    source.text().emit(format!("hello {index}"));
    run_until(main, log, index + 1);
    child.stop();
    let exit = child.join().unwrap();
    assert!(exit.success(), "{exit}");
}

fn finished_processes(count: usize) {
    let log = Log::default();
    let mut main = EventLoop::new("leak_main").unwrap();
    let probe = main
        .add_with_id(
            "probe",
            Probe {
                log: log.clone(),
                expected: usize::MAX,
            },
        )
        .unwrap();
    let source = main.add_with_id("source", Source).unwrap();
    // Warm-up: what is made once (the agent, lazily built tables).
    const WARM_UP: usize = 10;
    for index in 0..WARM_UP {
        one_process(&mut main, &log, &probe, &source, index);
    }
    let before = Usage::of_this_process();
    for index in WARM_UP..WARM_UP + count {
        one_process(&mut main, &log, &probe, &source, index);
    }
    // The last child's monitor thread may still be on its way out when
    // `join` returns: counts are awaited (a leak never settles).
    crate::common::harness::wait_until(Duration::from_secs(5), || {
        let now = Usage::of_this_process();
        now.descriptors <= before.descriptors && now.threads <= before.threads
    });
    let after = Usage::of_this_process();
    assert_eq!(log.entries()[count], format!("hello {count}:{}", 8 << 20));
    assert!(
        after.descriptors <= before.descriptors,
        "{before:?} -> {after:?}"
    );
    assert!(after.threads <= before.threads, "{before:?} -> {after:?}");
    // Each object was 8 MiB: keeping them would show as gigabytes.
    assert!(
        after.resident_kib < before.resident_kib + 32 * 1024,
        "{before:?} -> {after:?}"
    );
}

pub fn finished_processes_leave_nothing_behind() {
    finished_processes(150);
}

pub fn a_thousand_finished_processes_leave_nothing_behind() {
    finished_processes(1000);
}

fn loops_in_the_parent(count: usize) {
    let log = Log::default();
    let mut child = EventLoopProcess::new("leak_long_child").unwrap();
    let ballast = child
        .add_with_id("ballast", Ballast { bytes: Vec::new() })
        .unwrap();
    child.start().unwrap();
    let pid = child.pid().unwrap();
    let cycle = |index: usize| {
        let mut temporary = EventLoop::new(format!("leak_temporary_{index}")).unwrap();
        let probe = temporary
            .add_with_id(
                "probe",
                Probe {
                    log: log.clone(),
                    expected: usize::MAX,
                },
            )
            .unwrap();
        // The child's emitter gets a connection to this loop (applied in
        // the child) and writes to it through a ring of its own.
        ballast.reply().connect(probe.report()).unwrap();
        ballast.on_text().invoke(format!("to {index}")).unwrap();
        run_until(&mut temporary, &log, index + 1);
        ballast.reply().disconnect(probe.report()).unwrap();
        drop(temporary);
    };
    const WARM_UP: usize = 10;
    for index in 0..WARM_UP {
        cycle(index);
    }
    let ends_of_routes_in_child = || {
        // The loop ends reach the child through its agent: give it a moment
        // to apply the last ones, then measure.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut usage = Usage::of(pid);
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            let next = Usage::of(pid);
            if next == usage {
                break;
            }
            usage = next;
        }
        usage
    };
    let before = ends_of_routes_in_child();
    let parent_before = Usage::of_this_process();
    for index in WARM_UP..WARM_UP + count {
        cycle(index);
    }
    let after = ends_of_routes_in_child();
    let parent_after = Usage::of_this_process();
    assert_eq!(log.len(), WARM_UP + count);
    assert!(
        after.descriptors <= before.descriptors,
        "child: {before:?} -> {after:?}"
    );
    assert!(
        after.threads <= before.threads,
        "child: {before:?} -> {after:?}"
    );
    // Each ring the child made was up to 8 MiB of address space, but only
    // the pages written count: a few per loop. Kept, they would add up.
    assert!(
        after.resident_kib < before.resident_kib + 16 * 1024,
        "child: {before:?} -> {after:?}"
    );
    assert!(
        parent_after.descriptors <= parent_before.descriptors,
        "parent: {parent_before:?} -> {parent_after:?}"
    );
    child.stop();
    assert!(child.join().unwrap().success());
}

pub fn loops_created_and_ended_while_a_child_runs_leave_nothing_in_it() {
    loops_in_the_parent(150);
}

pub fn a_thousand_loops_created_and_ended_leave_nothing_in_a_child() {
    loops_in_the_parent(1000);
}
