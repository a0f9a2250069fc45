//! From async code to a child process, under tokio's multi-threaded
//! runtime: concurrent awaited calls, a signal of the child as a stream,
//! and awaited calls that resolve when the child is killed.

use std::time::{Duration, Instant};

use futures::StreamExt;
use signal_slot::{CallError, Delivery, EventLoopProcess, EventLoopThread, event_loop_object};

use crate::common::process::join;

const LONG: Duration = Duration::from_secs(20);

/// Lives in the child.
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
struct Sensor;

#[event_loop_object]
impl Sensor {
    #[signal]
    fn reading(index: u64, pid: u32);

    #[slot]
    fn triple(&mut self, value: u64) -> u64 {
        value * 3
    }

    #[slot]
    fn read(&mut self, ctx: &mut signal_slot::Context<Self>, count: u64) {
        for index in 0..count {
            ctx.reading().emit(index, std::process::id());
        }
    }

    #[slot]
    fn hang(&mut self, ctx: &mut signal_slot::Context<Self>) -> u64 {
        ctx.reading().emit(u64::MAX, std::process::id());
        loop {
            std::thread::park();
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
}

pub fn awaited_calls_and_a_stream_across_processes_and_a_killed_child() {
    let mut process = EventLoopProcess::new("async_child").unwrap();
    let sensor = process.add_with_id("sensor", Sensor).unwrap();
    process.start().unwrap();
    let pid = process.pid().unwrap();
    // The stream's end lives on a loop of this process.
    let mut home = EventLoopThread::new("async_home").unwrap();
    home.start().unwrap();

    let runtime = runtime();
    runtime.block_on(async {
        // A thousand calls at once, each with its own value.
        let tasks: Vec<_> = (0..1_000u64)
            .map(|value| {
                let sensor = sensor.clone();
                tokio::spawn(async move { (value, sensor.triple().call_async(value, LONG).await) })
            })
            .collect();
        for task in tasks {
            let (value, tripled) = task.await.unwrap();
            assert_eq!(tripled, Ok(value * 3));
        }

        // The child's signal as a stream here: in order, from the child.
        let mut readings = sensor
            .reading()
            .stream(home.event_loop(), Delivery::FanOut, 1_000)
            .unwrap();
        sensor.read().invoke(500).unwrap();
        let got: Vec<(u64, u32)> =
            tokio::time::timeout(LONG, readings.by_ref().take(500).collect())
                .await
                .unwrap_or_else(|_| panic!("{} readings dropped", readings.dropped()));
        assert_eq!(got, (0..500).map(|index| (index, pid)).collect::<Vec<_>>());
        assert_eq!(readings.dropped(), 0);
        // Dropped, without waiting: the child's emitter is disconnected
        // from it soon after.
        assert_eq!(sensor.reading().receivers().unwrap(), 1);
        drop(readings);
        let deadline = Instant::now() + LONG;
        while sensor.reading().receivers().unwrap() != 0 {
            assert!(Instant::now() < deadline, "still connected");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let mut hangs = sensor
            .reading()
            .stream(home.event_loop(), Delivery::FanOut, 10)
            .unwrap();

        // Calls waiting when the child is killed: every one resolves as
        // soon as its end is known, long before its timeout.
        let started = Instant::now();
        let hanging: Vec<_> = (0..50)
            .map(|_| tokio::spawn(sensor.hang().call_async((), LONG)))
            .collect();
        let counted: Vec<_> = (0..50u64)
            .map(|value| tokio::spawn(sensor.triple().call_async(value, LONG)))
            .collect();
        // Killed while the first runs and the rest wait behind it.
        let first = tokio::time::timeout(LONG, hangs.next()).await.unwrap();
        assert_eq!(first, Some((u64::MAX, pid)));
        process.kill().unwrap();
        for task in hanging.into_iter().chain(counted) {
            match task.await.unwrap() {
                Err(CallError::Gone { .. }) => {}
                other => panic!("{other:?}"),
            }
        }
        assert!(started.elapsed() < LONG / 4, "{:?}", started.elapsed());
        // And one after its end, at once.
        assert!(matches!(
            sensor.triple().call_async(1, LONG).await,
            Err(CallError::Gone { .. })
        ));
    });
    drop(runtime);
    assert!(!join(&mut process).success());
    home.stop();
    home.join().unwrap();
}
