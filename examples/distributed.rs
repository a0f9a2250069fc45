//! A learner and its rollout workers as separate programs, over Zenoh:
//! workers send trajectories to the learner, which broadcasts new weights
//! back every few trajectories. The same objects would run as threads or
//! child processes of one program; here each role is a program of its own,
//! which could run on another host.
//!
//! ```text
//! # Every role on this host, over loopback TCP (the launcher starts them):
//! cargo run --features zenoh --example distributed -- --workers 2 --seconds 5
//!
//! # Roles on different hosts: the learner listens, workers connect to it.
//! learner-host$ cargo run --release --features zenoh --example distributed -- \
//!     --role learner --listen tcp/0.0.0.0:7447 --workers 2 --seconds 60
//! worker-host$  cargo run --release --features zenoh --example distributed -- \
//!     --role worker --id 0 --connect tcp/learner-host:7447 --seconds 60
//! ```
//!
//! Off a trusted network, add TLS with mutual authentication to the Zenoh
//! configuration (see the guide's "Across machines" chapter, `signal_slot::guide::network`).

use std::time::{Duration, Instant};

use signal_slot::network::{Network, peer_config};
use signal_slot::{Context, EventLoop, Timer, event_loop_object};

/// The system's name: programs of other systems on the same network are
/// not seen.
const SYSTEM: &str = "distributed-example";

/// Floats in a trajectory, and in the weights.
const TRAJECTORY: usize = 1024;
const WEIGHTS: usize = 4096;

/// Trajectories between two weight updates.
const UPDATE_EVERY: u64 = 16;

#[event_loop_object]
struct Learner {
    trajectories: Vec<u64>,
    steps: u64,
    version: u64,
}

#[event_loop_object]
impl Learner {
    /// New weights, for every worker.
    #[signal]
    fn weights(version: u64, weights: Vec<f32>);

    #[slot]
    fn on_trajectory(&mut self, ctx: &mut Context<Self>, worker: u32, steps: Vec<f32>) {
        if let Some(count) = self.trajectories.get_mut(worker as usize) {
            *count += 1;
        }
        self.steps += steps.len() as u64;
        if self.trajectories.iter().sum::<u64>() % UPDATE_EVERY == 0 {
            self.version += 1;
            ctx.weights()
                .emit(self.version, vec![self.version as f32; WEIGHTS]);
        }
    }
}

#[event_loop_object]
struct Worker {
    id: u32,
    sent: u64,
    version: u64,
    updates: u64,
}

#[event_loop_object]
impl Worker {
    #[signal]
    fn trajectory(worker: u32, steps: Vec<f32>);

    /// One rollout: a trajectory, computed with the newest weights.
    #[slot]
    fn on_tick(&mut self, ctx: &mut Context<Self>) {
        self.sent += 1;
        ctx.trajectory()
            .emit(self.id, vec![self.version as f32; TRAJECTORY]);
    }

    #[slot]
    fn on_weights(&mut self, version: u64, weights: Vec<f32>) {
        debug_assert_eq!(weights.len(), WEIGHTS);
        self.version = version;
        self.updates += 1;
    }
}

struct Options {
    role: Option<String>,
    workers: u32,
    seconds: f64,
    id: u32,
    listen: Option<String>,
    connect: Option<String>,
}

fn parse() -> Result<Options, String> {
    let usage = "usage: distributed [--workers N] [--seconds S] \
                 [--role learner|worker] [--id N] [--listen ENDPOINT] [--connect ENDPOINT]";
    let mut options = Options {
        role: None,
        workers: 2,
        seconds: 5.0,
        id: 0,
        listen: None,
        connect: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value; {usage}"));
        let bad = |text: &str| format!("bad value `{text}` for {arg}; {usage}");
        match arg.as_str() {
            "--role" => options.role = Some(value()?),
            "--workers" => {
                let text = value()?;
                options.workers = text.parse().map_err(|_| bad(&text))?;
            }
            "--seconds" => {
                let text = value()?;
                options.seconds = text.parse().map_err(|_| bad(&text))?;
            }
            "--id" => {
                let text = value()?;
                options.id = text.parse().map_err(|_| bad(&text))?;
            }
            "--listen" => options.listen = Some(value()?),
            "--connect" => options.connect = Some(value()?),
            _ => return Err(format!("unknown argument `{arg}`; {usage}")),
        }
    }
    Ok(options)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = parse()?;
    match options.role.as_deref() {
        None => launch(&options),
        Some("learner") => learner(&options),
        Some("worker") => worker(&options),
        Some(other) => Err(format!("no role `{other}`").into()),
    }
}

/// Starts the learner and the workers as programs on this host.
fn launch(options: &Options) -> Result<(), Box<dyn std::error::Error>> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let endpoint = format!("tcp/127.0.0.1:{port}");
    let this = std::env::current_exe()?;
    let seconds = options.seconds.to_string();
    let workers = options.workers.to_string();
    let mut programs = vec![
        std::process::Command::new(&this)
            .args(["--role", "learner", "--listen", &endpoint])
            .args(["--workers", &workers, "--seconds", &seconds])
            .spawn()?,
    ];
    for id in 0..options.workers {
        programs.push(
            std::process::Command::new(&this)
                .args(["--role", "worker", "--id", &id.to_string()])
                .args(["--connect", &endpoint, "--seconds", &seconds])
                .spawn()?,
        );
    }
    let mut failed = 0;
    for mut program in programs {
        if !program.wait()?.success() {
            failed += 1;
        }
    }
    if failed > 0 {
        return Err(format!("{failed} programs failed").into());
    }
    Ok(())
}

fn learner(options: &Options) -> Result<(), Box<dyn std::error::Error>> {
    let listen = options.listen.as_deref().unwrap_or("tcp/127.0.0.1:7447");
    let connect: Vec<&str> = options.connect.as_deref().into_iter().collect();
    let network = Network::join(SYSTEM, peer_config(&[listen], &connect)?)?;
    let mut main = EventLoop::new("learner")?;
    let learner = main.add_with_id(
        "model",
        Learner {
            trajectories: vec![0; options.workers as usize],
            steps: 0,
            version: 0,
        },
    )?;
    network.export(&main.handle())?;
    println!(
        "learner: listening on {listen}, program {}",
        network.program_id()
    );
    // Ends after the run, and a second for what is in flight.
    let stop = Timer::single_shot(&main, Duration::from_secs_f64(options.seconds + 1.0))?;
    stop.timeout().connect(main.stop_slot())?;
    stop.start();
    let kept = main.keep(&learner)?;
    let started = Instant::now();
    main.exec();
    let elapsed = started.elapsed().as_secs_f64();
    let learner = kept.take()?;
    let total: u64 = learner.trajectories.iter().sum();
    println!(
        "learner: {total} trajectories ({:.0}/s, {:.1} M steps/s), per worker {:?}; \
         {} weight updates; {} signals dropped here",
        total as f64 / elapsed,
        learner.steps as f64 / elapsed / 1e6,
        learner.trajectories,
        learner.version,
        main.handle().dropped_signals(),
    );
    if learner.trajectories.contains(&0) {
        return Err("a worker sent nothing".into());
    }
    Ok(())
}

fn worker(options: &Options) -> Result<(), Box<dyn std::error::Error>> {
    let connect = options.connect.as_deref().unwrap_or("tcp/127.0.0.1:7447");
    let listen: Vec<&str> = options.listen.as_deref().into_iter().collect();
    let network = Network::join(SYSTEM, peer_config(&listen, &[connect])?)?;
    let name = format!("worker-{}", options.id);
    let mut main = EventLoop::new(&name)?;
    let worker = main.add_with_id(
        "worker",
        Worker {
            id: options.id,
            sent: 0,
            version: 0,
            updates: 0,
        },
    )?;
    network.export(&main.handle())?;
    // The learner may start after this program: waited for.
    let learner_loop = network.find_loop("learner", Duration::from_secs(30))?;
    let learner = learner_loop.object::<Learner>("model")?;
    worker.trajectory().connect(learner.on_trajectory())?;
    // A connection of the learner's signal, made in the learner's program.
    learner.weights().connect(worker.on_weights())?;

    let rollouts = Timer::new(&main, Duration::from_millis(2))?;
    rollouts.timeout().connect(worker.on_tick())?;
    rollouts.start();
    let stop = Timer::single_shot(&main, Duration::from_secs_f64(options.seconds))?;
    stop.timeout().connect(main.stop_slot())?;
    stop.start();
    let kept = main.keep(&worker)?;
    main.exec();
    let worker = kept.take()?;
    println!(
        "{name}: {} trajectories sent, {} weight updates received (newest {}), \
         {} signals to the learner dropped",
        worker.sent,
        worker.updates,
        worker.version,
        learner_loop.dropped_signals(),
    );
    if worker.updates == 0 {
        return Err("no weights came".into());
    }
    Ok(())
}
