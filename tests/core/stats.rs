//! The numbers a loop keeps about itself: what it handled, how long its
//! slots took, what waits, what was dropped and why; read while the loop
//! runs, from another thread, and for the whole process at once.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::{Emitter, Log, Recorder};
use signal_slot::{
    DropReason, EventLoop, EventLoopThread, LoopStats, SlotStats, Topology, event_loop_object,
};

/// A slot that takes as long as it is told to, and one that waits for a
/// gate.
#[event_loop_object]
struct Sleeper {
    entered: mpsc::Sender<()>,
    gate: mpsc::Receiver<()>,
}

#[event_loop_object]
impl Sleeper {
    #[slot]
    fn nap(&mut self, micros: u64) {
        std::thread::sleep(Duration::from_micros(micros));
    }

    #[slot]
    fn hold(&mut self) {
        let _ = self.entered.send(());
        let _ = self.gate.recv();
    }
}

fn sleeper_thread(
    name: &str,
) -> (
    EventLoopThread,
    SleeperHandle,
    mpsc::Receiver<()>,
    mpsc::Sender<()>,
) {
    let (entered, inside) = mpsc::channel();
    let (open, gate) = mpsc::channel();
    let worker = EventLoopThread::new(name).unwrap();
    let sleeper = worker
        .add_with_id("sleeper", Sleeper { entered, gate })
        .unwrap();
    (worker, sleeper, inside, open)
}

/// The loop's numbers once it has handled `count` signals: its slot runs
/// are counted as they return, just after a call's reply went out.
fn handled(worker: &EventLoopThread, count: u64) -> LoopStats {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stats = worker.stats().unwrap();
        if stats.handled >= count || Instant::now() > deadline {
            return stats;
        }
        std::thread::yield_now();
    }
}

#[test]
fn slot_run_times_are_counted_per_slot_with_their_quantiles() {
    let (mut worker, sleeper, _inside, _open) = sleeper_thread("stats_times");
    worker.start().unwrap();
    // One nap of 20 ms and 19 short ones: the median is short, the maximum
    // is the long one, and the loop was busy at least that long. Timed: the
    // first (and the one after it, as the first was long), then one in 16
    // of a quick slot's runs; a short nap that the scheduler stops for 20 µs
    // or more times the next run too, so on a busy machine a few more (the
    // rule itself is checked exactly by the unit test of `SlotClock`).
    sleeper.nap().invoke(20_000).unwrap();
    for _ in 0..19 {
        sleeper.nap().invoke(0).unwrap();
    }
    // A call waits for the slot: after it, every nap has run (the last
    // one is counted as its slot returns, after the reply).
    sleeper.nap().call(0, Duration::from_secs(10)).unwrap();
    let stats = handled(&worker, 21);
    let nap: &SlotStats = stats.slot("sleeper", "nap").expect("nap ran");
    assert_eq!(nap.runs, 21);
    assert!((3..=9).contains(&nap.timed), "sampled: {nap:?}");
    assert!(nap.max >= Duration::from_millis(20), "{nap:?}");
    assert!(nap.p50 < Duration::from_millis(5), "{nap:?}");
    assert!(nap.p99 <= nap.max && nap.total >= nap.max, "{nap:?}");
    assert!(stats.slot("sleeper", "hold").is_none(), "hold never ran");
    assert_eq!(stats.handled, 21);
    assert!(stats.busy >= Duration::from_millis(20));
    assert!(stats.busy_fraction() > 0.0 && stats.busy_fraction() <= 1.0);
    assert_eq!(
        stats.slowest_slot().map(|slot| slot.slot.as_str()),
        Some("nap")
    );
    assert_eq!(
        stats.slow_runs, 0,
        "under the default threshold of a second"
    );
    worker.stop();
    worker.join().unwrap();
}

#[test]
fn a_loop_busy_in_a_slot_still_answers_with_its_numbers() {
    let (mut worker, sleeper, inside, open) = sleeper_thread("stats_busy");
    worker.start().unwrap();
    sleeper.hold().invoke(()).unwrap();
    inside.recv().unwrap();
    for _ in 0..5 {
        sleeper.nap().invoke(0).unwrap();
    }
    // The loop is inside `hold`: its numbers come without it.
    std::thread::sleep(Duration::from_millis(10));
    let stats = worker.stats().unwrap();
    assert!(stats.running >= Duration::from_millis(10), "{stats:?}");
    assert_eq!(stats.queued, 5);
    assert_eq!(stats.handled, 0, "hold has not returned");
    open.send(()).unwrap();
    sleeper.nap().call(0, Duration::from_secs(10)).unwrap();
    let stats = handled(&worker, 7);
    assert_eq!(
        (stats.handled, stats.queued, stats.running),
        (7, 0, Duration::ZERO)
    );
    assert!(stats.queued_high_water >= 5, "{stats:?}");
    worker.stop();
    worker.join().unwrap();
}

#[test]
fn drops_are_counted_by_reason_for_the_loop_and_the_process() {
    let log = Log::default();
    let emitters = EventLoop::new("stats_drops_emitters").unwrap();
    let mut worker =
        EventLoopThread::with_options(EventLoop::builder("stats_drops_worker").capacity(10))
            .unwrap();
    let emitter = emitters.add_with_id("emitter", Emitter).unwrap();
    let recorder = worker.add_with_id("recorder", Recorder::new(&log)).unwrap();
    emitter.value().connect(recorder.on_value()).unwrap();
    let before = Topology::capture().unwrap().drops();
    // The worker is not running: ten fit, fifteen do not.
    for n in 0..25 {
        emitter.value().emit(n);
    }
    let stats = worker.stats().unwrap();
    assert_eq!(stats.drops.get(DropReason::Full), 15);
    assert_eq!(stats.drops.total(), 15);
    assert_eq!(stats.queued, 10);
    assert_eq!(worker.dropped_signals(), 15);
    // Emitted by the emitters' loop: every one had somewhere to go.
    assert_eq!(emitters.stats().unwrap().emitted, 25);
    assert_eq!(stats.emitted, 0);
    // The process's drops, every loop's, in one call: other tests of this
    // binary may drop too, so at least these.
    let after = Topology::capture().unwrap().drops();
    assert!(after.get(DropReason::Full) >= before.get(DropReason::Full) + 15);
    let topology = Topology::capture().unwrap();
    let here = &topology.processes[0];
    assert_eq!(here.drops["stats_drops_worker"].get(DropReason::Full), 15);
    let (_, worker_stats) = topology
        .loop_stats()
        .find(|(_, stats)| stats.name == "stats_drops_worker")
        .expect("the worker's loop");
    assert_eq!(worker_stats.queued, 10);
    worker.stop();
    worker.start().unwrap();
    worker.join().unwrap();
    assert_eq!(log.len(), 10);
    assert!(worker.stats().is_err(), "the loop has ended");
}

/// What a Prometheus scrape of the process would read: every loop's
/// numbers under stable names and labels.
#[test]
fn the_numbers_export_through_the_metrics_facade() {
    let (mut worker, sleeper, _inside, _open) = sleeper_thread("stats_metrics");
    let emitters = EventLoop::new("stats_metrics_emitters").unwrap();
    let ticker = emitters.add_with_id("ticker", Emitter).unwrap();
    let mut bounded =
        EventLoopThread::with_options(EventLoop::builder("stats_metrics_bounded").capacity(2))
            .unwrap();
    let log = Log::default();
    let recorder = bounded
        .add_with_id("recorder", Recorder::new(&log))
        .unwrap();
    ticker.value().connect(recorder.on_value()).unwrap();
    for value in 0..5 {
        ticker.value().emit(value);
    }
    worker.start().unwrap();
    for _ in 0..3 {
        sleeper.nap().invoke(0).unwrap();
    }
    sleeper.nap().call(0, Duration::from_secs(10)).unwrap();
    handled(&worker, 4);
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let scrape = prometheus.handle();
    metrics::with_local_recorder(&prometheus, signal_slot::metrics::record).unwrap();
    let text = scrape.render();
    for line in [
        r#"signal_slot_handled_total{loop="stats_metrics",process="0"} 4"#,
        r#"signal_slot_slot_runs_total{loop="stats_metrics",object="sleeper",slot="nap",process="0"} 4"#,
        r#"signal_slot_dropped_total{loop="stats_metrics_bounded",reason="full",process="0"} 3"#,
        r#"signal_slot_queued{loop="stats_metrics_bounded",process="0"} 2"#,
        r#"signal_slot_emitted_total{loop="stats_metrics_emitters",object="ticker",signal="value",process="0"} 5"#,
        r#"signal_slot_signal_dropped_total{loop="stats_metrics_emitters",object="ticker",signal="value",reason="full",process="0"} 3"#,
    ] {
        assert!(
            text.lines().any(|scraped| scraped == line),
            "no `{line}` in:\n{text}"
        );
    }
    assert!(
        text.contains(r#"signal_slot_slot_seconds{loop="stats_metrics",object="sleeper",slot="nap",quantile="0.99",process="0"}"#),
        "{text}"
    );
    worker.stop();
    worker.join().unwrap();
    bounded.stop();
    bounded.start().unwrap();
    bounded.join().unwrap();
}

/// The exporter's thread records at its interval, with the recorder the
/// program installed (the only global recorder of this test binary), and
/// stops when dropped.
#[test]
fn the_exporter_records_at_its_interval_until_dropped() {
    let scrape = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .unwrap();
    let main = EventLoop::new("stats_exporter").unwrap();
    let line = r#"signal_slot_handled_total{loop="stats_exporter",process="0"} 0"#;
    let exporter = signal_slot::metrics::export_every(Duration::from_millis(10)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !scrape.render().lines().any(|scraped| scraped == line) {
        assert!(
            Instant::now() < deadline,
            "never exported:\n{}",
            scrape.render()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(exporter);
    drop(main);
}
