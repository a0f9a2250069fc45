//! A system shaped like Sample Factory, the asynchronous reinforcement
//! learning trainer the original library was built for, with its processes
//! and its traffic:
//!
//! - **Rollout workers** (one process each) step their environments. For
//!   every step they send the observations to the inference process and
//!   wait for its actions: a *policy request*, whose round trip bounds how
//!   fast the environments go. Every `rollout` steps they send a
//!   trajectory to the learner.
//! - The **inference** process answers every request, with the current
//!   weights, straight to the worker that asked (the workers' handles are
//!   part of its state).
//! - The **learner** process gathers trajectories into batches on a
//!   **batcher** loop that runs on a thread of its own inside the process
//!   (as the real learner does), trains on each batch, and broadcasts new
//!   weights to the inference process.
//! - The **coordinator** (this process) stops everything after `--seconds`
//!   and prints what was measured: environment steps per second, the policy
//!   request's round trip (p50, p99), and every signal dropped on the way.
//!
//! ```text
//! cargo run --release --example sample_factory -- --workers 4 --seconds 5
//! cargo run --release --example sample_factory -- --spawn   # processes by spawn
//! ```
//!
//! `--spin-us N` makes an idle loop of the child processes look for work
//! for N µs before it sleeps, whatever the machine does (by default it
//! spins only while spinning pays: see `IdleWait::Adaptive`);
//! `--busy-poll` never sleeps.
//!
//! `--load N` runs N busy programs beside the system (a training run's
//! environments keep every core busy) for the whole run.
//!
//! `--topology [mermaid|dot|json]` prints the system's topology (processes,
//! loops, objects, connections) once every process runs, and ends the run.
//!
//! `--top` shows the running system every second, in the shape of `top`:
//! each loop with its process, what waits for it, signals handled per
//! second, its busy share, drops per second and by reason, its slowest
//! slot (`examples/common/top.rs`, from `Topology::capture`).

use std::time::{Duration, Instant};

#[path = "common/load.rs"]
mod load;
#[path = "common/top.rs"]
mod top;

use serde::{Deserialize, Serialize};
use signal_slot::{
    Context, EventLoop, EventLoopProcess, EventLoopThread, Handle, IdleWait, LoopHandle,
    StartMethod, Timer, Topology, event_loop_object, topic,
};

topic! {
    /// New policy weights, from the learner to whoever wants them: the
    /// learner publishes them, the policy worker subscribes; neither names
    /// the other.
    PolicyUpdated(version: u64, weights: Vec<f32>);
}

/// Observations per environment, and the size of the policy.
const OBSERVATION: usize = 32;
const ACTIONS: usize = 4;

/// A rollout of one worker, for the learner.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Trajectory {
    worker: u32,
    policy_version: u64,
    #[serde(with = "serde_bytes")]
    actions: Vec<u8>,
    rewards: Vec<f32>,
}

/// Round trips in steps of 0.25 µs up to 2 ms, and one bucket beyond.
const BUCKETS: usize = 8001;
const BUCKET_NANOS: u128 = 250;

/// What a rollout worker measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct WorkerReport {
    steps: u64,
    seconds: f64,
    round_trips: Vec<u32>,
    dropped: u64,
}

// ---------------------------------------------------------------- rollout

#[event_loop_object]
#[derive(Serialize, Deserialize)]
struct RolloutWorker {
    index: u32,
    envs: usize,
    rollout: usize,
    state: u64,
    observations: Vec<f32>,
    trajectory: Vec<u8>,
    rewards: Vec<f32>,
    policy_version: u64,
    steps: u64,
    #[serde(skip)]
    asked: Option<Instant>,
    #[serde(skip)]
    first: Option<Instant>,
    round_trips: Vec<u32>,
    inference: Option<LoopHandle>,
}

#[event_loop_object]
impl RolloutWorker {
    /// Observations of every environment: "which actions?"
    #[signal]
    fn request(worker: u32, observations: Vec<f32>);

    #[signal]
    fn trajectory(trajectory: Trajectory);

    #[signal]
    fn report(worker: u32, report: WorkerReport);

    #[slot]
    fn begin(&mut self, ctx: &mut Context<Self>) {
        self.step_envs(None);
        self.ask(ctx);
    }

    #[slot]
    fn on_actions(&mut self, ctx: &mut Context<Self>, version: u64, actions: Vec<u8>) {
        let now = Instant::now();
        if let Some(asked) = self.asked.take() {
            let bucket = (now.duration_since(asked).as_nanos() / BUCKET_NANOS) as usize;
            self.round_trips[bucket.min(BUCKETS - 1)] += 1;
        }
        self.first.get_or_insert(now);
        self.policy_version = version;
        self.step_envs(Some(&actions));
        self.ask(ctx);
    }

    #[slot]
    fn on_terminate(&mut self, ctx: &mut Context<Self>) {
        let seconds = self
            .first
            .map_or(0.0, |first| first.elapsed().as_secs_f64());
        let dropped = self
            .inference
            .as_ref()
            .map_or(0, LoopHandle::dropped_signals)
            + LoopHandle::named("learner_batcher").map_or(0, |batcher| batcher.dropped_signals());
        let report = WorkerReport {
            steps: self.steps,
            seconds,
            round_trips: std::mem::take(&mut self.round_trips),
            dropped,
        };
        ctx.report().emit(self.index, report);
    }
}

impl RolloutWorker {
    fn new(index: u32, envs: usize, rollout: usize, inference: LoopHandle) -> Self {
        RolloutWorker {
            index,
            envs,
            rollout,
            state: 0x9E37_79B9_7F4A_7C15 ^ (u64::from(index) + 1),
            observations: vec![0.0; envs * OBSERVATION],
            trajectory: Vec::new(),
            rewards: Vec::new(),
            policy_version: 0,
            steps: 0,
            asked: None,
            first: None,
            round_trips: vec![0; BUCKETS],
            inference: Some(inference),
        }
    }

    /// Steps every environment with its action (a xorshift generator
    /// stands in for the simulators).
    fn step_envs(&mut self, actions: Option<&[u8]>) {
        for env in 0..self.envs {
            let action = actions.map_or(0, |actions| actions[env]);
            for value in &mut self.observations[env * OBSERVATION..(env + 1) * OBSERVATION] {
                self.state ^= self.state << 13;
                self.state ^= self.state >> 7;
                self.state ^= self.state << 17;
                *value = ((self.state % 1000) as f32 / 1000.0) + f32::from(action);
            }
            if actions.is_some() {
                self.trajectory.push(action);
                self.rewards.push(if self.state.is_multiple_of(7) {
                    1.0
                } else {
                    0.0
                });
            }
        }
        if actions.is_some() {
            self.steps += self.envs as u64;
        }
    }

    fn ask(&mut self, ctx: &mut Context<Self>) {
        if self.trajectory.len() >= self.rollout * self.envs {
            ctx.trajectory().emit(Trajectory {
                worker: self.index,
                policy_version: self.policy_version,
                actions: std::mem::take(&mut self.trajectory),
                rewards: std::mem::take(&mut self.rewards),
            });
        }
        self.asked = Some(Instant::now());
        ctx.request().emit(self.index, self.observations.clone());
    }
}

// -------------------------------------------------------------- inference

#[event_loop_object]
#[derive(Serialize, Deserialize)]
struct PolicyWorker {
    version: u64,
    weights: Vec<f32>,
    /// Where each worker's actions go.
    workers: Vec<Handle<RolloutWorker>>,
    requests: u64,
}

#[event_loop_object]
impl PolicyWorker {
    #[signal]
    fn report(text: String, dropped: u64);

    #[slot]
    fn on_request(&mut self, worker: u32, observations: Vec<f32>) {
        self.requests += 1;
        let envs = observations.len() / OBSERVATION;
        let mut actions = Vec::with_capacity(envs);
        for env in observations.chunks_exact(OBSERVATION) {
            // The policy: a linear layer and an argmax.
            let mut best = (0, f32::MIN);
            for action in 0..ACTIONS {
                let row = &self.weights[action * OBSERVATION..(action + 1) * OBSERVATION];
                let score: f32 = row.iter().zip(env).map(|(w, x)| w * x).sum();
                if score > best.1 {
                    best = (action, score);
                }
            }
            actions.push(best.0 as u8);
        }
        if let Some(worker) = self.workers.get(worker as usize) {
            let _ = worker.on_actions().invoke((self.version, actions));
        }
    }

    #[slot]
    fn on_policy_updated(&mut self, version: u64, weights: Vec<f32>) {
        if version > self.version && weights.len() == self.weights.len() {
            self.version = version;
            self.weights = weights;
        }
    }

    #[slot]
    fn on_terminate(&mut self, ctx: &mut Context<Self>) {
        let dropped = self
            .workers
            .iter()
            .filter_map(|worker| worker.event_loop())
            .map(|worker| worker.dropped_signals())
            .sum();
        let text = format!(
            "inference: {} requests answered, policy v{}",
            self.requests, self.version
        );
        ctx.report().emit(text, dropped);
    }
}

// ---------------------------------------------------------------- learner

/// Gathers trajectories into batches; runs on a thread of the learner's
/// process.
#[event_loop_object]
struct Batcher {
    batch: usize,
    pending: Vec<Trajectory>,
}

#[event_loop_object]
impl Batcher {
    #[signal]
    fn batch(trajectories: Vec<Trajectory>);

    #[slot]
    fn on_trajectory(&mut self, ctx: &mut Context<Self>, trajectory: Trajectory) {
        self.pending.push(trajectory);
        if self.pending.len() == self.batch {
            ctx.batch().emit(std::mem::take(&mut self.pending));
        }
    }
}

#[event_loop_object]
struct Learner {
    version: u64,
    trajectories: u64,
    stale: u64,
    /// The batcher's thread, which ends with the learner.
    batcher: EventLoopThread,
}

#[event_loop_object]
impl Learner {
    /// New weights, broadcast on the inference process's loop.
    #[signal]
    fn policy_updated(version: u64, weights: Vec<f32>);

    #[signal]
    fn report(text: String, dropped: u64);

    #[slot]
    fn on_batch(&mut self, ctx: &mut Context<Self>, trajectories: Vec<Trajectory>) {
        // "Training": the mean reward of the batch moves the weights.
        let (mut sum, mut count) = (0.0f32, 0usize);
        for trajectory in &trajectories {
            self.trajectories += 1;
            if trajectory.policy_version + 2 < self.version {
                self.stale += 1;
            }
            sum += trajectory.rewards.iter().sum::<f32>();
            count += trajectory.rewards.len();
        }
        self.version += 1;
        let mean = sum / count.max(1) as f32;
        let weights = (0..ACTIONS * OBSERVATION)
            .map(|index| ((index * 31 + self.version as usize) % 17) as f32 * mean)
            .collect();
        ctx.policy_updated().emit(self.version, weights);
    }

    #[slot]
    fn on_terminate(&mut self, ctx: &mut Context<Self>) {
        self.batcher.stop();
        let _ = self.batcher.join();
        let dropped = LoopHandle::named("inference")
            .map_or(0, |inference| inference.dropped_signals())
            + self.batcher.event_loop().dropped_signals();
        let text = format!(
            "learner: {} trajectories in {} batches, {} stale",
            self.trajectories, self.version, self.stale
        );
        ctx.report().emit(text, dropped);
    }
}

/// Builds the learner's objects in its process: the batcher's loop on a
/// thread, the learner on the process's loop, and their connections.
#[signal_slot::init]
fn learner_setup(
    event_loop: &LoopHandle,
    batch: usize,
    workers: Vec<Handle<RolloutWorker>>,
    inference: LoopHandle,
    coordinator: Handle<Coordinator>,
) {
    let mut thread = EventLoopThread::new("learner_batcher").expect("a new loop");
    let batcher = thread
        .event_loop()
        .add_with_id(
            "batcher",
            Batcher {
                batch,
                pending: Vec::new(),
            },
        )
        .expect("a fresh id");
    for worker in &workers {
        worker
            .trajectory()
            .connect(batcher.on_trajectory())
            .expect("the workers run");
    }
    thread.start().expect("the batcher's thread");
    let learner = event_loop
        .add_with_id(
            "trainer",
            Learner {
                version: 0,
                trajectories: 0,
                stale: 0,
                batcher: thread,
            },
        )
        .expect("a fresh id");
    batcher
        .batch()
        .connect(learner.on_batch())
        .expect("same process");
    learner
        .policy_updated()
        .publish_on(PolicyUpdated, &inference)
        .expect("the inference process");
    learner
        .report()
        .connect(coordinator.on_report())
        .expect("to the coordinator");
    event_loop
        .terminate_signal()
        .connect(learner.on_terminate())
        .expect("same loop");
}

// ------------------------------------------------------------ coordinator

/// Collects the reports, and ends the run when every process has sent its
/// own.
#[event_loop_object]
struct Coordinator {
    expected: usize,
    reports: usize,
    /// Processes whose loop runs.
    started: usize,
    /// Print the topology once every process runs, and stop.
    topology: Option<String>,
    steps_per_second: f64,
    round_trips: Vec<u64>,
    dropped: u64,
    lines: Vec<String>,
}

#[event_loop_object]
impl Coordinator {
    #[signal]
    fn stop_all();

    #[slot]
    fn finish(&mut self, ctx: &mut Context<Self>) {
        ctx.stop_all().emit();
    }

    /// A process's loop runs (after its init function, if any).
    #[slot]
    fn on_started(&mut self, ctx: &mut Context<Self>) {
        self.started += 1;
        if self.started < self.expected {
            return;
        }
        let Some(format) = self.topology.take() else {
            return;
        };
        match Topology::capture() {
            Ok(topology) => match format.as_str() {
                "dot" => print!("{}", topology.to_dot()),
                "json" => println!("{}", topology.to_json()),
                _ => print!("{}", topology.to_mermaid()),
            },
            Err(error) => eprintln!("no topology: {error}"),
        }
        self.lines.clear();
        self.expected = usize::MAX;
        ctx.stop_all().emit();
        ctx.stop_loop();
    }

    #[slot]
    fn on_worker_report(&mut self, ctx: &mut Context<Self>, worker: u32, report: WorkerReport) {
        if report.seconds > 0.0 {
            self.steps_per_second += report.steps as f64 / report.seconds;
        }
        for (total, count) in self.round_trips.iter_mut().zip(&report.round_trips) {
            *total += u64::from(*count);
        }
        self.dropped += report.dropped;
        self.lines.push(format!(
            "rollout worker {worker}: {} env steps in {:.2} s",
            report.steps, report.seconds
        ));
        self.count(ctx);
    }

    #[slot]
    fn on_report(&mut self, ctx: &mut Context<Self>, text: String, dropped: u64) {
        self.dropped += dropped;
        self.lines.push(text);
        self.count(ctx);
    }

    /// Prints what was measured, when the coordinator's loop ends.
    #[slot]
    fn summary(&mut self) {
        if self.expected == usize::MAX {
            // Ended after printing the topology: nothing was measured.
            return;
        }
        if self.reports < self.expected {
            println!(
                "only {} of {} processes reported",
                self.reports, self.expected
            );
        }
        let mut lines = self.lines.clone();
        lines.sort();
        for line in lines {
            println!("  {line}");
        }
        let requests: u64 = self.round_trips.iter().sum();
        println!(
            "env steps/s: {:.0}   policy round trip: p50 {}  p99 {}  ({requests} requests)   \
             dropped: {}",
            self.steps_per_second,
            self.percentile(0.50),
            self.percentile(0.99),
            self.dropped,
        );
    }
}

impl Coordinator {
    fn count(&mut self, ctx: &mut Context<Self>) {
        self.reports += 1;
        if self.reports == self.expected {
            ctx.stop_loop();
        }
    }

    fn percentile(&self, fraction: f64) -> String {
        let total: u64 = self.round_trips.iter().sum();
        let rank = ((total as f64) * fraction).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (bucket, count) in self.round_trips.iter().enumerate() {
            seen += count;
            if seen >= rank {
                if bucket == BUCKETS - 1 {
                    return "> 2 ms".to_owned();
                }
                let micros = (bucket as f64 + 0.5) * BUCKET_NANOS as f64 / 1000.0;
                return format!("{micros:.1} µs");
            }
        }
        "-".to_owned()
    }
}

// ------------------------------------------------------------------- main

struct Options {
    workers: u32,
    envs: usize,
    rollout: usize,
    batch: usize,
    seconds: f64,
    method: StartMethod,
    idle: IdleWait,
    topology: Option<String>,
    load: usize,
    top: bool,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        workers: 4,
        envs: 8,
        rollout: 32,
        batch: 4,
        seconds: 3.0,
        method: signal_slot::start_method(),
        idle: IdleWait::default(),
        topology: None,
        load: 0,
        top: false,
    };
    let usage = "usage: sample_factory [--workers N] [--envs N] [--rollout N] [--batch N] \
                 [--seconds S] [--spawn | --fork] [--spin-us N | --busy-poll] \
                 [--load N] [--topology [mermaid|dot|json]] [--top]";
    let mut args = std::env::args().skip(1).peekable();
    while let Some(arg) = args.next() {
        if arg == "--topology" {
            let format = args
                .next_if(|format| ["mermaid", "dot", "json"].contains(&format.as_str()))
                .unwrap_or_else(|| "mermaid".to_owned());
            options.topology = Some(format);
            continue;
        }
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value; {usage}"));
        let bad = |name: &str, value: &str| format!("bad {name} {value}; {usage}");
        match arg.as_str() {
            "--spawn" => options.method = StartMethod::Spawn,
            "--top" => options.top = true,
            "--busy-poll" => options.idle = IdleWait::BusyPoll,
            "--spin-us" => {
                let text = value("--spin-us")?;
                let micros = text.parse().map_err(|_| bad("--spin-us", &text))?;
                options.idle = IdleWait::SpinThenSleep(Duration::from_micros(micros));
            }
            "--fork" => options.method = StartMethod::Fork,
            "--load" => {
                let text = value("--load")?;
                options.load = text.parse().map_err(|_| bad("--load", &text))?;
            }
            "--workers" => {
                let text = value("--workers")?;
                options.workers = text.parse().map_err(|_| bad("--workers", &text))?;
            }
            "--envs" => {
                let text = value("--envs")?;
                options.envs = text.parse().map_err(|_| bad("--envs", &text))?;
            }
            "--rollout" => {
                let text = value("--rollout")?;
                options.rollout = text.parse().map_err(|_| bad("--rollout", &text))?;
            }
            "--batch" => {
                let text = value("--batch")?;
                options.batch = text.parse().map_err(|_| bad("--batch", &text))?;
            }
            "--seconds" => {
                let text = value("--seconds")?;
                options.seconds = text.parse().map_err(|_| bad("--seconds", &text))?;
            }
            other => return Err(format!("unknown argument {other}; {usage}")),
        }
    }
    let positive = options.workers > 0
        && (1..=255).contains(&options.envs)
        && options.rollout > 0
        && options.batch > 0
        && options.seconds.is_finite()
        && options.seconds > 0.0;
    if !positive {
        return Err(format!(
            "every option must be positive (and --envs at most 255); {usage}"
        ));
    }
    Ok(options)
}

#[signal_slot::main]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    load::run_if_asked(&std::env::args().collect::<Vec<_>>());
    let options = options()?;
    // Beside the whole run, from before the first process starts.
    let _load = load::Load::start(options.load)?;
    let mut main_loop = EventLoop::new("main")?;
    let coordinator = main_loop.add_with_id(
        "coordinator",
        Coordinator {
            // Every worker, the inference process and the learner report.
            expected: options.workers as usize + 2,
            reports: 0,
            started: 0,
            topology: options.topology.clone(),
            steps_per_second: 0.0,
            round_trips: vec![0; BUCKETS],
            dropped: 0,
            lines: Vec::new(),
        },
    )?;
    let process = |name: &str| {
        EventLoopProcess::with_options(EventLoop::builder(name).idle_wait(options.idle))
            .map(|process| process.start_method(options.method))
    };
    let mut inference = process("inference")?;
    let inference_loop = inference.event_loop().clone();
    let mut rollouts = Vec::new();
    let mut workers = Vec::new();
    for index in 0..options.workers {
        let rollout = process(&format!("rollout_{index}"))?;
        let worker = rollout.add_with_id(
            "worker",
            RolloutWorker::new(index, options.envs, options.rollout, inference_loop.clone()),
        )?;
        rollout.start_signal().connect(worker.begin())?;
        rollout.start_signal().connect(coordinator.on_started())?;
        rollout.terminate_signal().connect(worker.on_terminate())?;
        worker.report().connect(coordinator.on_worker_report())?;
        rollouts.push(rollout);
        workers.push(worker);
    }
    let policy = inference.add_with_id(
        "policy",
        PolicyWorker {
            version: 0,
            weights: vec![0.5; ACTIONS * OBSERVATION],
            workers: workers.clone(),
            requests: 0,
        },
    )?;
    for worker in &workers {
        worker.request().connect(policy.on_request())?;
    }
    policy.subscribe(PolicyUpdated, policy.on_policy_updated())?;
    inference
        .terminate_signal()
        .connect(policy.on_terminate())?;
    policy.report().connect(coordinator.on_report())?;
    inference.start_signal().connect(coordinator.on_started())?;
    let mut learner = process("learner")?.init_with(
        learner_setup,
        (
            options.batch,
            workers.clone(),
            inference_loop.clone(),
            coordinator.clone(),
        ),
    );
    learner.start_signal().connect(coordinator.on_started())?;

    // The stop: the coordinator asks every process to stop, and ends once
    // each has reported (or after a grace period).
    let stop = Timer::single_shot(&main_loop, Duration::from_secs_f64(options.seconds))?;
    stop.timeout().connect(coordinator.finish())?;
    for process in rollouts.iter().chain([&inference, &learner]) {
        coordinator.stop_all().connect(process.stop_slot())?;
    }
    let grace = Timer::single_shot(
        &main_loop,
        Duration::from_secs_f64(options.seconds) + Duration::from_secs(10),
    )?;
    grace.timeout().connect(main_loop.stop_slot())?;
    stop.start();
    grace.start();
    // The live view: on this loop, every second.
    let _top = if options.top {
        Some(top::Top::start(&main_loop)?)
    } else {
        None
    };

    let started = Instant::now();
    inference.start()?;
    for rollout in &mut rollouts {
        rollout.start()?;
    }
    learner.start()?;
    println!(
        "{} rollout workers × {} envs, an inference process, a learner with a batcher thread: \
         started by {:?} in {:.1} ms; {} busy program(s) beside",
        options.workers,
        options.envs,
        options.method,
        started.elapsed().as_secs_f64() * 1000.0,
        options.load,
    );
    main_loop
        .terminate_signal()
        .connect(coordinator.summary())?;
    let status = main_loop.exec();
    for process in rollouts.iter_mut().chain([&mut inference, &mut learner]) {
        let exit = process.join()?;
        if !exit.success() {
            println!("{}: {exit}", process.name());
        }
    }
    if !status.is_normal() {
        println!("coordinator: {status}");
    }
    Ok(())
}
