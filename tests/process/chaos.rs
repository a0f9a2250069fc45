//! Chaos: a child killed (SIGKILL) in the middle of a stream, and one stopped
//! (SIGSTOP) until its inbox fills, while the others run on.

use std::time::Duration;

use crate::common::harness::wait_until;
use crate::common::process::{Victim, fixture};
use signal_slot::{EventLoop, EventLoopProcess};

pub fn a_child_killed_mid_stream() {
    const SENT: u64 = 50_000;
    const KILL_AT: u64 = 12_345;
    let (log, mut collector, probe, _feeders, feeder) = fixture("kill");
    let mut victim = EventLoopProcess::new("kill_victim").unwrap();
    let mut bystander = EventLoopProcess::new("kill_bystander").unwrap();
    let doomed = victim
        .add_with_id(
            "doomed",
            Victim {
                received: 0,
                kill_at: KILL_AT,
            },
        )
        .unwrap();
    let survivor = bystander
        .add_with_id("survivor", Victim::counting())
        .unwrap();
    feeder.value().connect(doomed.on_value()).unwrap();
    feeder.other().connect(survivor.echo()).unwrap();
    survivor.counted().connect(probe.report()).unwrap();
    victim.finished().connect(probe.on_exit()).unwrap();
    collector.start().unwrap();
    victim.start().unwrap();
    bystander.start().unwrap();

    for value in 0..SENT {
        feeder.value().emit(value);
    }
    // The parent is told of the death.
    assert!(
        log.wait_for(1, Duration::from_secs(30)),
        "{:?}",
        log.entries()
    );
    assert_eq!(log.entries(), ["exit: killed by SIGKILL (9)"]);
    // What was lost: sent, minus what the child took before dying. The drop
    // counter says exactly that once the outbox has reckoned its losses.
    let lost = SENT - KILL_AT;
    let counted = wait_until(Duration::from_secs(10), || victim.dropped_signals() == lost);
    assert!(
        counted,
        "dropped {} of {lost} lost",
        victim.dropped_signals()
    );
    // Emitting to the dead process neither blocks nor fails, and counts.
    feeder.value().emit(0);
    assert_eq!(victim.dropped_signals(), lost + 1);
    // The other child and the parent keep running.
    feeder.other().emit(7);
    assert!(log.wait_for(2, Duration::from_secs(10)));
    assert_eq!(log.entries()[1], "survivor: echo 7");
    bystander.stop();
    assert!(bystander.join().unwrap().success());
    collector.stop();
    collector.join().unwrap();
}

pub fn a_child_stopped_until_its_inbox_fills() {
    const BURST: u64 = 60_000;
    let (log, mut collector, probe, _feeders, feeder) = fixture("stop");
    // A small inbox (and outbox, on the parent's side) fills quickly.
    let mut sleeper =
        EventLoopProcess::with_options(EventLoop::builder("stop_sleeper").capacity(5_000)).unwrap();
    let mut bystander = EventLoopProcess::new("stop_bystander").unwrap();
    let counter = sleeper.add_with_id("counter", Victim::counting()).unwrap();
    let survivor = bystander
        .add_with_id("survivor", Victim::counting())
        .unwrap();
    feeder.value().connect(counter.on_value()).unwrap();
    feeder.other().connect(survivor.echo()).unwrap();
    counter.counted().connect(probe.report()).unwrap();
    survivor.counted().connect(probe.report()).unwrap();
    collector.start().unwrap();
    sleeper.start().unwrap();
    bystander.start().unwrap();

    sleeper.suspend(true).unwrap();
    for value in 0..BURST {
        feeder.value().emit(value);
    }
    let dropped = sleeper.dropped_signals();
    assert!(dropped > 0, "the inbox of a stopped process fills");
    // Meanwhile the others run.
    feeder.other().emit(1);
    assert!(log.wait_for(1, Duration::from_secs(10)));
    assert_eq!(log.entries(), ["survivor: echo 1"]);
    // Continued, it handles what it holds, then reports.
    sleeper.suspend(false).unwrap();
    counter.report().invoke(()).unwrap();
    assert!(
        log.wait_for(2, Duration::from_secs(30)),
        "{:?}",
        log.entries()
    );
    let received: u64 = log.entries()[1]
        .strip_prefix("counter: received ")
        .and_then(|count| count.parse().ok())
        .expect("a count");
    assert_eq!(received + sleeper.dropped_signals(), BURST);
    assert_eq!(
        sleeper.dropped_signals(),
        dropped,
        "no drop after the continue"
    );
    for process in [&mut sleeper, &mut bystander] {
        process.stop();
        assert!(process.join().unwrap().success());
    }
    collector.stop();
    collector.join().unwrap();
}
