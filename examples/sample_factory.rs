//! A system shaped like Sample Factory, the asynchronous reinforcement
//! learning trainer the original library was built for.
//!
//! - A **learner** on the main loop receives trajectories, "trains" on them,
//!   and broadcasts new policy weights every few batches.
//! - Each of several **worker processes** runs two objects: a **rollout
//!   worker** that steps its environments on a timer and emits trajectories,
//!   and a **policy cache** that receives the broadcast weights (subscribed
//!   by signal name, without knowing the learner) and hands the current
//!   version to the rollout worker.
//! - The coordinator prints throughput once a second, and a stop timer shuts
//!   everything down cleanly: every loop stops, every process is joined.
//!
//! ```text
//! cargo run --release --example sample_factory -- --workers 4 --seconds 5
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use signal_slot::{Context, EventLoop, EventLoopProcess, ProcessExit, Timer, event_loop_object};

/// A batch of experience from one worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Trajectory {
    worker: String,
    policy_version: u64,
    observations: Vec<f32>,
    rewards: Vec<f32>,
}

#[event_loop_object]
struct Learner {
    trajectories: u64,
    frames: u64,
    version: u64,
    per_worker: BTreeMap<String, u64>,
    stale: u64,
    started: Instant,
}

#[event_loop_object]
impl Learner {
    /// New policy weights for every worker, broadcast on their loops.
    #[signal]
    fn policy_updated(version: u64, weights: Vec<f32>);

    #[slot]
    fn on_trajectory(&mut self, ctx: &mut Context<Self>, trajectory: Trajectory) {
        self.trajectories += 1;
        self.frames += trajectory.rewards.len() as u64;
        if trajectory.policy_version + 2 < self.version {
            self.stale += 1;
        }
        *self.per_worker.entry(trajectory.worker).or_default() += 1;
        // "Train" every 8 batches and publish the new weights.
        if self.trajectories % 8 == 0 {
            self.version += 1;
            let weights = vec![self.version as f32; 256];
            ctx.policy_updated().emit(self.version, weights);
        }
    }

    #[slot]
    fn report(&mut self, _ctx: &mut Context<Self>) {
        let seconds = self.started.elapsed().as_secs_f64();
        println!(
            "{seconds:6.1} s  {:>8} trajectories  {:>10.0} frames/s  policy v{}",
            self.trajectories,
            self.frames as f64 / seconds,
            self.version
        );
    }

    #[slot]
    fn on_worker_exit(&mut self, _ctx: &mut Context<Self>, exit: ProcessExit) {
        if !exit.success() {
            println!("a worker process ended unexpectedly: {exit}");
        }
    }

    #[slot]
    fn summary(&mut self, _ctx: &mut Context<Self>) {
        println!(
            "learner: {} trajectories ({} frames), {} policy versions, {} stale",
            self.trajectories, self.frames, self.version, self.stale
        );
        for (worker, count) in &self.per_worker {
            println!("  {worker}: {count} trajectories");
        }
    }
}

#[event_loop_object]
struct RolloutWorker {
    name: String,
    envs: usize,
    steps: usize,
    policy_version: u64,
    state: u64,
}

#[event_loop_object]
impl RolloutWorker {
    #[signal]
    fn trajectory(trajectory: Trajectory);

    /// Steps every environment `steps` times and emits the experience.
    #[slot]
    fn on_tick(&mut self, ctx: &mut Context<Self>) {
        let len = self.envs * self.steps;
        let mut observations = Vec::with_capacity(len);
        let mut rewards = Vec::with_capacity(len);
        for _ in 0..len {
            // A xorshift generator stands in for the environments.
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            observations.push((self.state % 1000) as f32 / 1000.0);
            rewards.push(if self.state % 7 == 0 { 1.0 } else { 0.0 });
        }
        ctx.trajectory().emit(Trajectory {
            worker: self.name.clone(),
            policy_version: self.policy_version,
            observations,
            rewards,
        });
    }

    #[slot]
    fn on_policy(&mut self, version: u64) {
        self.policy_version = version;
    }
}

#[event_loop_object]
struct PolicyCache {
    version: u64,
    weights: Vec<f32>,
}

#[event_loop_object]
impl PolicyCache {
    #[signal]
    fn version_changed(version: u64);

    #[slot]
    fn on_policy_updated(&mut self, ctx: &mut Context<Self>, version: u64, weights: Vec<f32>) {
        if version > self.version {
            self.version = version;
            self.weights = weights;
            ctx.version_changed().emit(version);
        }
    }
}

struct Options {
    workers: usize,
    seconds: f64,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        workers: 3,
        seconds: 3.0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().ok_or(format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--workers" => {
                options.workers = value
                    .parse()
                    .map_err(|_| format!("bad --workers {value}"))?
            }
            "--seconds" => {
                options.seconds = value
                    .parse()
                    .map_err(|_| format!("bad --seconds {value}"))?
            }
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: sample_factory [--workers N] [--seconds S]"
                ));
            }
        }
    }
    if options.workers == 0 || !options.seconds.is_finite() || options.seconds <= 0.0 {
        return Err("--workers and --seconds must be positive".to_owned());
    }
    Ok(options)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = options()?;
    let mut main_loop = EventLoop::new("coordinator")?;
    let learner = main_loop.add_with_id(
        "learner",
        Learner {
            trajectories: 0,
            frames: 0,
            version: 0,
            per_worker: BTreeMap::new(),
            stale: 0,
            started: Instant::now(),
        },
    )?;

    let mut workers = Vec::new();
    for index in 0..options.workers {
        let name = format!("worker_{index}");
        let process = EventLoopProcess::new(name.clone())?;
        let rollout = process.add_with_id(
            "rollout",
            RolloutWorker {
                name: name.clone(),
                envs: 8,
                steps: 32,
                policy_version: 0,
                state: 0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1),
            },
        )?;
        let cache = process.add_with_id(
            "policy_cache",
            PolicyCache {
                version: 0,
                weights: Vec::new(),
            },
        )?;
        // Experience flows to the learner; weights come back by broadcast.
        rollout.trajectory().connect(learner.on_trajectory())?;
        learner.policy_updated().broadcast_on(&process)?;
        cache.subscribe("policy_updated", cache.on_policy_updated())?;
        cache.version_changed().connect(rollout.on_policy())?;
        // The environments step on a timer of the worker's own loop.
        let tick = Timer::new(&process, Duration::from_millis(2))?;
        tick.timeout().connect(rollout.on_tick())?;
        tick.start();
        process.finished().connect(learner.on_worker_exit())?;
        workers.push(process);
    }

    let report = Timer::new(&main_loop, Duration::from_secs(1))?;
    report.timeout().connect(learner.report())?;
    report.start();
    main_loop.terminate_signal().connect(learner.summary())?;

    // The stop timer ends the main loop and every worker's loop.
    let stop = Timer::single_shot(&main_loop, Duration::from_secs_f64(options.seconds))?;
    stop.timeout().connect(main_loop.stop_slot())?;
    for worker in &workers {
        stop.timeout().connect(worker.stop_slot())?;
    }
    stop.start();

    for worker in &mut workers {
        worker.start()?;
    }
    let status = main_loop.exec();
    for worker in &mut workers {
        let exit = worker.join()?;
        println!("{}: {exit}", worker.name());
    }
    println!("coordinator: {status}");
    Ok(())
}
