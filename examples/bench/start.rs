//! How long processes take to start, by each start method: from the first
//! `start()` until every child's loop runs (its `start` signal has reached
//! the parent), for 1 and 16 processes, each with one object on its loop.

use std::time::{Duration, Instant};

use ::signal_slot::{Context, EventLoop, EventLoopProcess, StartMethod, Timer, event_loop_object};
use serde::{Deserialize, Serialize};

/// In each child: says that its loop runs.
#[event_loop_object]
#[derive(Serialize, Deserialize)]
struct Starter {
    index: u32,
}

#[event_loop_object]
impl Starter {
    #[signal]
    fn running(index: u32);

    #[slot]
    fn on_start(&mut self, ctx: &mut Context<Self>) {
        ctx.running().emit(self.index);
    }
}

/// In the parent: stops its loop once every child runs.
#[event_loop_object]
struct Census {
    expected: u32,
    running: u32,
}

#[event_loop_object]
impl Census {
    #[slot]
    fn on_running(&mut self, ctx: &mut Context<Self>, index: u32) {
        let _ = index;
        self.running += 1;
        if self.running == self.expected {
            ctx.stop_loop();
        }
    }
}

/// Starts `count` processes by `method`; returns the time until all run.
fn start(method: StartMethod, count: u32, run: usize) -> Result<Duration, String> {
    let error = |error: ::signal_slot::Error| error.to_string();
    // A small inbox: each child's first signal to it creates its ring
    // there, whose pages are written once when created (64 KiB: negligible;
    // 8 MiB, the default: about 5 ms of the child's start).
    let mut main = EventLoop::builder(format!("start_main_{run}"))
        .inbox_bytes(64 << 10)
        .build()
        .map_err(error)?;
    let census = main
        .add_with_id(
            "census",
            Census {
                expected: count,
                running: 0,
            },
        )
        .map_err(error)?;
    let mut children = Vec::new();
    for index in 0..count {
        let child = EventLoopProcess::new(format!("start_child_{run}_{index}"))
            .map_err(error)?
            .start_method(method);
        let starter = child
            .add_with_id("starter", Starter { index })
            .map_err(error)?;
        child
            .start_signal()
            .connect(starter.on_start())
            .map_err(error)?;
        starter
            .running()
            .connect(census.on_running())
            .map_err(error)?;
        children.push(child);
    }
    let limit = Timer::single_shot(&main, Duration::from_secs(60)).map_err(error)?;
    limit.timeout().connect(main.stop_slot()).map_err(error)?;
    limit.start();
    let started = Instant::now();
    for child in &mut children {
        child.start().map_err(error)?;
    }
    main.exec();
    let elapsed = started.elapsed();
    for child in &mut children {
        child.stop();
        child.join().map_err(error)?;
    }
    if main.dropped_signals() > 0 || elapsed >= Duration::from_secs(60) {
        return Err("not every child started".to_owned());
    }
    Ok(elapsed)
}

/// Prints the start times: the median of `runs` runs per row.
pub fn report(runs: usize) -> bool {
    println!("start-up: from the first start() until every child's loop runs");
    let mut failed = false;
    let mut run = 0;
    for method in [StartMethod::Fork, StartMethod::Spawn] {
        if method == StartMethod::Fork && !cfg!(unix) {
            continue;
        }
        for count in [1, 16] {
            let mut times = Vec::new();
            for _ in 0..runs {
                run += 1;
                match start(method, count, run) {
                    Ok(elapsed) => times.push(elapsed),
                    Err(message) => {
                        println!("  {method:?} × {count}: FAILED: {message}");
                        failed = true;
                    }
                }
            }
            if times.is_empty() {
                continue;
            }
            times.sort();
            let median = times[times.len() / 2];
            println!(
                "  {:<6} {:>2} process{}  {:>8.1} ms",
                format!("{method:?}"),
                count,
                if count == 1 { " " } else { "es" },
                median.as_secs_f64() * 1000.0
            );
        }
    }
    !failed
}
