//! Bounded memory: a flood of large payloads into a child whose slot is
//! slow drops and counts what does not fit, and neither process grows past
//! the child's inbox (8 MiB by default).

use std::time::{Duration, Instant};

use crate::common::Log;
use crate::common::process::{Probe, Usage, join};
use signal_slot::{Context, EventLoopProcess, EventLoopThread, event_loop_object};

#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
struct BlobSource;

#[event_loop_object]
impl BlobSource {
    #[signal]
    fn blob(bytes: Vec<u8>);
}

/// Takes its time over each payload; says how many it took when asked.
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
struct SlowSink {
    received: u64,
}

#[event_loop_object]
impl SlowSink {
    #[signal]
    fn said(text: String);

    #[slot]
    fn on_blob(&mut self, bytes: Vec<u8>) {
        assert_eq!(bytes.len(), 64 << 10);
        self.received += 1;
        std::thread::sleep(Duration::from_millis(2));
    }

    #[slot]
    fn report(&mut self, ctx: &mut Context<Self>) {
        ctx.said().emit(format!("{}", self.received));
    }
}

pub fn a_flood_into_a_slow_child_is_bounded_and_counted() {
    let log = Log::default();
    let mut main = EventLoopThread::new("bounds_main").unwrap();
    let probe = main
        .add_with_id(
            "probe",
            Probe {
                log: log.clone(),
                expected: usize::MAX,
            },
        )
        .unwrap();
    let source = main.add_with_id("source", BlobSource).unwrap();
    let mut child = EventLoopProcess::new("bounds_child").unwrap();
    let sink = child.add_with_id("sink", SlowSink { received: 0 }).unwrap();
    source.blob().connect(sink.on_blob()).unwrap();
    sink.said().connect(probe.report()).unwrap();
    main.start().unwrap();
    child.start().unwrap();
    let pid = child.pid().unwrap();
    // The first payloads make the ring (its pages come as they are written).
    let payload = vec![7u8; 64 << 10];
    for _ in 0..200 {
        source.blob().emit(payload.clone());
    }
    std::thread::sleep(Duration::from_millis(200));
    let (parent_before, child_before) = (Usage::of_this_process(), Usage::of(pid));
    let mut sent = 200u64;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        source.blob().emit(payload.clone());
        sent += 1;
    }
    let (parent_after, child_after) = (Usage::of_this_process(), Usage::of(pid));
    let dropped = child.dropped_signals();
    assert!(dropped > 0, "a slow child's inbox fills");
    // The bound: the ring (8 MiB), and slack for allocators.
    let grew = |before: Usage, after: Usage| after.resident_kib.saturating_sub(before.resident_kib);
    assert!(
        grew(parent_before, parent_after) < 16 << 10,
        "parent: {parent_before:?} -> {parent_after:?}"
    );
    assert!(
        grew(child_before, child_after) < 16 << 10,
        "child: {child_before:?} -> {child_after:?}"
    );
    // Every payload was either taken by the child or counted as dropped.
    sink.report().invoke(()).unwrap();
    assert!(
        log.wait_for(1, Duration::from_secs(60)),
        "{:?}",
        log.entries()
    );
    let received: u64 = log.entries()[0].parse().expect("a count");
    assert_eq!(
        received + dropped,
        sent,
        "{received} received, {dropped} dropped"
    );
    child.stop();
    assert!(join(&mut child).success());
    main.stop();
    main.join().unwrap();
}
