//! From async code, under tokio's multi-threaded runtime: awaited calls with
//! every outcome, cancelled by timeout and by drop; signals as streams with
//! every delivery, bounded under a consumer that does not keep up.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use signal_slot::{
    CallError, Delivery, EventLoop, EventLoopThread, PanicPolicy, SignalStream, Topology,
    event_loop_object,
};

const LONG: Duration = Duration::from_secs(10);

/// `future`'s output, or a failed test if it takes longer than [`LONG`].
async fn within<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(LONG, future)
        .await
        .expect("it did not resolve in time")
}

#[event_loop_object]
struct Oracle {
    /// Released by the test, for a slot that must take its time.
    gate: Option<mpsc::Receiver<()>>,
    /// Told when the slow slot starts waiting at the gate.
    entered: Option<mpsc::Sender<u64>>,
    slow_runs: u64,
}

#[event_loop_object]
impl Oracle {
    #[signal]
    fn counted(value: u64);

    #[slot]
    fn square(&mut self, value: u64) -> u64 {
        value * value
    }

    #[slot]
    fn check(&mut self, value: i64) -> Result<(), String> {
        if value < 0 {
            Err(format!("{value} is negative"))
        } else {
            Ok(())
        }
    }

    #[slot]
    fn explode(&mut self) -> u64 {
        panic!("the oracle exploded")
    }

    #[slot]
    fn slow(&mut self, value: u64) -> u64 {
        self.slow_runs += 1;
        if let Some(entered) = &self.entered {
            let _ = entered.send(value);
        }
        if let Some(gate) = &self.gate {
            let _ = gate.recv();
        }
        value
    }

    #[slot]
    fn slow_runs(&mut self) -> u64 {
        self.slow_runs
    }
}

impl Oracle {
    fn new() -> Self {
        Oracle {
            gate: None,
            entered: None,
            slow_runs: 0,
        }
    }
}

fn oracle_thread(name: &str, oracle: Oracle) -> (EventLoopThread, OracleHandle) {
    let mut worker = EventLoopThread::with_options(
        EventLoop::builder(name).panic_policy(PanicPolicy::KeepGoing),
    )
    .unwrap();
    let oracle = worker.add_with_id("oracle", oracle).unwrap();
    worker.start().unwrap();
    (worker, oracle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_awaited_calls_each_get_their_own_value() {
    let (mut worker, oracle) = oracle_thread("async_thousand", Oracle::new());
    let tasks: Vec<_> = (0..1_000u64)
        .map(|value| {
            let oracle = oracle.clone();
            tokio::spawn(async move { (value, oracle.square().call_async(value, LONG).await) })
        })
        .collect();
    for task in tasks {
        let (value, squared) = task.await.unwrap();
        assert_eq!(squared, Ok(value * value));
    }
    worker.stop();
    worker.join().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_awaited_call_gives_every_outcome_of_a_blocking_one() {
    let (mut worker, oracle) = oracle_thread("async_outcomes", Oracle::new());
    assert_eq!(oracle.square().call_async(9, LONG).await, Ok(81));
    assert_eq!(oracle.check().call_async(1, LONG).await, Ok(()));
    match oracle.check().call_async(-1, LONG).await {
        Err(CallError::Failed { callee, why }) => {
            assert_eq!(callee, "oracle.check");
            assert!(why.contains("-1 is negative"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    match oracle.explode().call_async((), LONG).await {
        Err(CallError::Panicked { message, .. }) => assert_eq!(message, "the oracle exploded"),
        other => panic!("{other:?}"),
    }
    // The loop goes on after a panic.
    assert_eq!(oracle.square().call_async(3, LONG).await, Ok(9));
    worker.stop();
    worker.join().unwrap();
    // Its loop ended: an error at once, not a hang.
    let started = Instant::now();
    assert!(matches!(
        oracle.square().call_async(2, LONG).await,
        Err(CallError::Gone { .. })
    ));
    assert!(started.elapsed() < LONG / 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awaited_calls_end_by_timeout_and_by_drop_and_late_values_go_nowhere() {
    let (release, gate) = mpsc::channel();
    let (entered, entries) = mpsc::channel();
    let (mut worker, oracle) = oracle_thread(
        "async_cancel",
        Oracle {
            gate: Some(gate),
            entered: Some(entered),
            slow_runs: 0,
        },
    );
    // The call's own timeout: resolved by the library, on time.
    let started = Instant::now();
    match oracle
        .slow()
        .call_async(1, Duration::from_millis(100))
        .await
    {
        Err(CallError::Timeout { callee, timeout }) => {
            assert_eq!(callee, "oracle.slow");
            assert_eq!(timeout, Duration::from_millis(100));
        }
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < LONG / 2, "{:?}", started.elapsed());
    assert_eq!(entries.recv_timeout(LONG), Ok(1));
    // The caller's: the future is dropped at tokio's timeout.
    let waited =
        tokio::time::timeout(Duration::from_millis(50), oracle.slow().call_async(2, LONG)).await;
    assert!(waited.is_err(), "{waited:?}");
    // Both slots run all the same; their values go nowhere.
    release.send(()).unwrap();
    assert_eq!(entries.recv_timeout(LONG), Ok(2));
    release.send(()).unwrap();
    // This value is ours, not a late one.
    let third = oracle.slow().call_async(3, LONG);
    assert_eq!(entries.recv_timeout(LONG), Ok(3));
    release.send(()).unwrap();
    assert_eq!(third.await, Ok(3));
    assert_eq!(oracle.slow_runs().call_async((), LONG).await, Ok(3));
    worker.stop();
    worker.join().unwrap();
}

/// Emits `count` values of the oracle's signal, then waits until the loop
/// of `stream_loop` has handled everything before.
async fn emit_and_settle(oracle: &OracleHandle, count: u64, stream_loop: &OracleHandle) {
    for value in 0..count {
        oracle.counted().emit(value);
    }
    // Queued after the emissions, on the same loop: handled after them.
    assert_eq!(stream_loop.square().call_async(2, LONG).await, Ok(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_nobody_reads_fills_then_drops_and_counts() {
    let (mut worker, oracle) = oracle_thread("async_full", Oracle::new());
    let mut stream = oracle
        .counted()
        .stream(worker.event_loop(), Delivery::FanOut, 10)
        .unwrap();
    emit_and_settle(&oracle, 100, &oracle).await;
    // The first ten, in order; the other ninety dropped and counted.
    let held: Vec<u64> = std::iter::from_fn(|| stream.try_recv()).collect();
    assert_eq!(held, (0..10).collect::<Vec<_>>());
    assert_eq!(stream.dropped(), 90);
    assert_eq!(worker.dropped_signals(), 90);
    // Read again: it fills again.
    emit_and_settle(&oracle, 5, &oracle).await;
    let again: Vec<u64> = stream.by_ref().take(5).collect().await;
    assert_eq!(again, (0..5).collect::<Vec<_>>());
    worker.stop();
    worker.join().unwrap();
    // Its loop ended: so did the stream.
    assert_eq!(within(stream.next()).await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keep_latest_stream_keeps_the_newest() {
    let (mut worker, oracle) = oracle_thread("async_latest", Oracle::new());
    let mut stream = oracle
        .counted()
        .stream(worker.event_loop(), Delivery::KeepLatest, 3)
        .unwrap();
    // One at a time, each handled before the next: the stream itself
    // replaces its oldest.
    for value in 0..5 {
        oracle.counted().emit(value);
        emit_and_settle(&oracle, 0, &oracle).await;
    }
    let held: Vec<u64> = std::iter::from_fn(|| stream.try_recv()).collect();
    assert_eq!(held, [2, 3, 4]);
    assert_eq!(stream.dropped(), 2);
    assert_eq!(worker.dropped_signals(), 2);
    // A burst: the loop replaces what waits for the stream too; the
    // newest arrives, in order, and everything else is counted.
    emit_and_settle(&oracle, 100, &oracle).await;
    let held: Vec<u64> = std::iter::from_fn(|| stream.try_recv()).collect();
    assert!(!held.is_empty() && held.len() <= 3, "{held:?}");
    assert_eq!(held.last(), Some(&99));
    assert!(held.windows(2).all(|pair| pair[0] < pair[1]), "{held:?}");
    assert_eq!(worker.dropped_signals(), 2 + 100 - held.len() as u64);
    worker.stop();
    worker.join().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_ends_with_its_connection() {
    let (mut worker, oracle) = oracle_thread("async_ends", Oracle::new());
    let handle = worker.event_loop();
    // Disconnected by someone else: what it holds, then its end.
    let mut first = oracle
        .counted()
        .stream(handle, Delivery::FanOut, 10)
        .unwrap();
    emit_and_settle(&oracle, 2, &oracle).await;
    assert!(!first.has_ended());
    assert!(oracle.counted().disconnect_all().unwrap());
    assert_eq!(within(first.next()).await, Some(0));
    assert_eq!(within(first.next()).await, Some(1));
    assert_eq!(within(first.next()).await, None);
    assert!(first.has_ended());
    // Its emitter detached: the same.
    let mut second = oracle
        .counted()
        .stream(handle, Delivery::FanOut, 10)
        .unwrap();
    let waiting = tokio::spawn(async move { second.next().await });
    oracle.detach().unwrap();
    assert_eq!(within(waiting).await.unwrap(), None);
    worker.stop();
    worker.join().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balanced_streams_share_the_work_and_a_single_shot_stream_ends() {
    let (mut worker, oracle) = oracle_thread("async_balanced", Oracle::new());
    let handle = worker.event_loop();
    let mut first = oracle
        .counted()
        .stream(handle, Delivery::Balanced, 1_000)
        .unwrap();
    let mut second = oracle
        .counted()
        .stream(handle, Delivery::Balanced, 1_000)
        .unwrap();
    let mut once = oracle
        .counted()
        .stream(handle, Delivery::SingleShot, 10)
        .unwrap();
    emit_and_settle(&oracle, 200, &oracle).await;
    let mut all: Vec<u64> = std::iter::from_fn(|| first.try_recv()).collect();
    let taken_by_first = all.len();
    all.extend(std::iter::from_fn(|| second.try_recv()));
    assert!(
        taken_by_first > 0 && taken_by_first < 200,
        "{taken_by_first}"
    );
    all.sort_unstable();
    assert_eq!(all, (0..200).collect::<Vec<_>>());
    // The single-shot stream: the first emission, then its end.
    assert_eq!(within(once.next()).await, Some(0));
    assert_eq!(within(once.next()).await, None);
    worker.stop();
    worker.join().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_gets_an_ordered_bounded_share_with_each_delivery() {
    const COUNT: u64 = 2_000;
    for (delivery, capacity) in [(Delivery::FanOut, 16), (Delivery::KeepLatest, 4)] {
        let name = format!("async_slow_{delivery:?}").to_lowercase();
        let (mut worker, oracle) = oracle_thread(&name, Oracle::new());
        let mut stream: SignalStream<(u64,)> = oracle
            .counted()
            .signal()
            .stream(worker.event_loop(), delivery, capacity)
            .unwrap();
        let consumer = tokio::spawn(async move {
            let mut seen = Vec::new();
            // Until the stream ends with its loop.
            while let Some(value) = stream.next().await {
                seen.push(value);
                // Slower than the emitter.
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            (seen, stream.dropped())
        });
        for value in 0..COUNT {
            oracle.counted().emit(value);
            if value % 100 == 0 {
                tokio::task::yield_now().await;
            }
        }
        emit_and_settle(&oracle, 0, &oracle).await;
        worker.stop();
        worker.join().unwrap();
        let (seen, dropped) = tokio::time::timeout(LONG, consumer).await.unwrap().unwrap();
        // In order, fewer than emitted, and what is missing counted: by
        // the stream, and on the loop (which replaced some itself on the
        // keep-latest connection).
        assert!(
            seen.windows(2).all(|pair| pair[0] < pair[1]),
            "{delivery:?}"
        );
        assert!(seen.len() < COUNT as usize, "{delivery:?}: it kept up?");
        assert_eq!(
            worker.dropped_signals(),
            COUNT - seen.len() as u64,
            "{delivery:?}"
        );
        match delivery {
            // The first ones were held; the newest were dropped while full.
            Delivery::FanOut => {
                assert_eq!(seen[..capacity], (0..capacity as u64).collect::<Vec<_>>());
                assert_eq!(dropped, COUNT - seen.len() as u64);
            }
            // The newest is never the one dropped.
            _ => assert_eq!(seen.last(), Some(&(COUNT - 1)), "{delivery:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_stream_disconnects_it() {
    let (mut worker, oracle) = oracle_thread("async_drop", Oracle::new());
    let stream = oracle
        .counted()
        .stream(worker.event_loop(), Delivery::FanOut, 4)
        .unwrap();
    assert_eq!(oracle.counted().receivers().unwrap(), 1);
    let objects = || objects_on("async_drop");
    let before = objects();
    drop(stream);
    assert_eq!(oracle.counted().receivers().unwrap(), 0);
    // Its receiving object leaves the loop too.
    assert_eq!(oracle.square().call_async(1, LONG).await, Ok(1));
    assert_eq!(objects(), before - 1);
    // Nothing is dropped for it afterwards: nothing is sent.
    emit_and_settle(&oracle, 10, &oracle).await;
    assert_eq!(worker.dropped_signals(), 0);
    worker.stop();
    worker.join().unwrap();
}

/// How many objects the loop `name` of this process holds.
fn objects_on(name: &str) -> usize {
    let topology = Topology::capture().unwrap();
    let pid = std::process::id();
    topology
        .processes
        .iter()
        .filter(|process| process.pid == pid)
        .flat_map(|process| &process.loops)
        .filter(|event_loop| event_loop.name == name)
        .map(|event_loop| event_loop.objects.len())
        .sum()
}

#[test]
fn an_awaited_call_needs_no_particular_runtime() {
    let (mut worker, oracle) = oracle_thread("async_block_on", Oracle::new());
    let calls: Vec<_> = (0..10u64)
        .map(|value| oracle.square().call_async(value, LONG))
        .collect();
    let values = futures::executor::block_on(futures::future::join_all(calls));
    assert_eq!(
        values,
        (0..10u64)
            .map(|value| Ok(value * value))
            .collect::<Vec<_>>()
    );
    worker.stop();
    worker.join().unwrap();
}
