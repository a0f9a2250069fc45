//! The workloads of `BENCHMARKS.md` ([`protocol::Workload`]), for signal-slot
//! and for the raw transports under it, on the same protocol.
//!
//! ```text
//! cargo run --release -p signal-slot-bench                 # the table
//! cargo run --release -p signal-slot-bench -- --json       # and JSON lines
//! cargo run --release -p signal-slot-bench -- --quick      # small N, one run
//! cargo run --release -p signal-slot-bench -- --only W2    # one workload
//! cargo run --release -p signal-slot-bench -- --start      # process start-up times
//! cargo run --release -p signal-slot-bench -- --floor      # busy-polling W1 against the floor
//! cargo run --release -p signal-slot-bench -- --load 2     # with 2 busy programs beside every run
//! cargo run --release -p signal-slot-bench --features zenoh -- --network  # across programs
//! ```
//!
//! Placements: `thread` (the receiving loops on threads of this process),
//! `process` (in child processes), and with `--network` (built with
//! `--features zenoh`) `network` (in other programs, over Zenoh on
//! loopback TCP; W4z, shared buffers, does not cross the network). The raw baselines are plain
//! `crossbeam-channel` between two threads and plain `ipc-channel` between two
//! processes, sending single messages on the same protocol. Every receiver
//! checks order and count: a lost or reordered signal fails the run, and the
//! program exits with 1.
//!
//! With `--load N`, N busy programs (this executable again, computing
//! without pause at normal priority) run beside every run of every system,
//! from the first warm-up to the last row: the machine of a training run,
//! whose environments keep every core busy.
//!
//! For each row, each system runs once untimed (a warm-up), then the timed
//! runs alternate between the systems: signal-slot, raw, signal-slot, raw, ...
//! Each figure is the median of its system's timed runs (3 unless `--runs`),
//! each timed from the first emission to the final ack. The runs are
//! interleaved because the shared host's speed drifts 2-4x within minutes:
//! all of one system's runs and then all of the other's would turn that drift
//! into a false ratio.

mod copy_floor;
#[path = "../common/load.rs"]
mod load;
#[cfg(feature = "zenoh")]
mod network;
mod protocol;
mod raw_crossbeam;
mod raw_ipc;
mod raw_shm;
#[cfg(feature = "zenoh")]
mod raw_zenoh;
mod signal_slot;
mod start;

use std::time::Duration;

use ::signal_slot::IdleWait;
use protocol::{Placement, RunResult, Workload};

struct Options {
    json: bool,
    quick: bool,
    only: Option<String>,
    placements: Vec<Placement>,
    runs: usize,
    scale: f64,
    start: bool,
    /// Only the busy-polling W1 row and its floor.
    floor: bool,
    /// Busy programs beside every run.
    load: usize,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        json: false,
        quick: false,
        only: None,
        placements: vec![Placement::Thread, Placement::Process],
        runs: 3,
        scale: 1.0,
        start: false,
        floor: false,
        load: 0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => options.json = true,
            "--quick" => {
                options.quick = true;
                options.runs = 1;
                options.scale = 0.02;
            }
            "--only" => options.only = args.next(),
            "--start" => options.start = true,
            "--floor" => options.floor = true,
            "--thread" => options.placements = vec![Placement::Thread],
            "--process" => options.placements = vec![Placement::Process],
            "--network" => options.placements = vec![Placement::Network],
            "--load" => {
                options.load = args
                    .next()
                    .and_then(|load| load.parse().ok())
                    .ok_or("--load takes a number of busy programs")?;
            }
            "--runs" => {
                options.runs = args
                    .next()
                    .and_then(|runs| runs.parse().ok())
                    .filter(|runs| *runs > 0)
                    .ok_or("--runs takes a positive number")?;
            }
            "--scale" => {
                options.scale = args
                    .next()
                    .and_then(|scale| scale.parse().ok())
                    .filter(|scale: &f64| *scale > 0.0)
                    .ok_or("--scale takes a positive number")?;
            }
            other => {
                return Err(format!(
                    "unknown argument `{other}`; usage: bench [--json] [--quick] [--only W1|W2|W2b|W3|W4|W4z|W5] \
                     [--thread|--process|--network] [--runs N] [--scale X] [--start] [--floor] [--load N]"
                ));
            }
        }
    }
    Ok(options)
}

/// A system under test, as the driver sees it: it does run number `run` of
/// the row's workload and placement, run 0 being the warm-up.
type System<'a> = &'a dyn Fn(usize) -> RunResult;

/// The raw transport under `placement`: its name and its runner.
fn raw_transport(placement: Placement) -> (&'static str, fn(Workload, u64) -> RunResult) {
    match placement {
        Placement::Thread => (raw_crossbeam::NAME, raw_crossbeam::run),
        Placement::Process => (raw_ipc::NAME, raw_ipc::run),
        #[cfg(feature = "zenoh")]
        Placement::Network => (raw_zenoh::NAME, raw_zenoh::run),
        #[cfg(not(feature = "zenoh"))]
        Placement::Network => ("zenoh pub/sub", |_, _| {
            Err("the network placement needs `--features zenoh`".to_owned())
        }),
    }
}

/// Each system's median of `runs` timed runs, the runs alternating between the
/// systems, after one untimed warm-up of each unless `quick`. A system whose
/// run fails is not run again (a run that lost a signal has waited out its
/// time limit), and its result is that failure.
fn measure_interleaved<const N: usize>(
    runs: usize,
    quick: bool,
    systems: [System; N],
) -> [RunResult; N] {
    let mut results: [Result<Vec<Duration>, String>; N] = std::array::from_fn(|_| Ok(Vec::new()));
    let first_run = if quick { 1 } else { 0 };
    for run in first_run..=runs {
        for (system, result) in systems.iter().zip(&mut results) {
            let Ok(times) = result else { continue };
            match system(run) {
                Ok(elapsed) if run > 0 => times.push(elapsed),
                Ok(_warm_up) => {}
                Err(error) => *result = Err(error),
            }
        }
    }
    results.map(|result| result.map(median))
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn describe(workload: Workload, n: u64, elapsed: Duration) -> String {
    let (value, unit) = workload.value(n, elapsed);
    match workload {
        Workload::W1 => format!(
            "{:>7.1}k rt/s ({:.1} µs)",
            value / 1e3,
            elapsed.as_secs_f64() * 1e6 / n as f64
        ),
        Workload::W4 | Workload::W4z | Workload::W5 => format!("{:>9.0} MB/s", value),
        _ => format!("{:>7.2}M {}", value / 1e6, unit.trim_end_matches("/s")),
    }
}

fn json(
    system: &str,
    workload: Workload,
    placement: Placement,
    n: u64,
    elapsed: Duration,
    load: usize,
) -> String {
    let (value, unit) = workload.value(n, elapsed);
    let extra = if workload == Workload::W1 {
        format!(
            ",\"mean_round_trip_us\":{:.3}",
            elapsed.as_secs_f64() * 1e6 / n as f64
        )
    } else {
        String::new()
    };
    format!(
        "{{\"system\":\"{system}\",\"workload\":\"{}\",\"placement\":\"{}\",\"n\":{n},\"value\":{value:.1},\"unit\":\"{unit}\",\"load\":{load}{extra}}}",
        workload.name(),
        placement.name()
    )
}

/// W1 between processes with busy-polling loops, against the floor: two
/// processes spinning on shared cache lines.
fn busy_poll_floor(options: &Options, lines: &mut Vec<String>) -> bool {
    let workload = Workload::W1;
    let n = workload.scaled_n(options.scale);
    let [ours, floor] = measure_interleaved(
        options.runs,
        options.quick,
        [
            &|run| signal_slot::run(workload, Placement::Process, n, run, IdleWait::BusyPoll),
            &|_| raw_shm::run(n),
        ],
    );
    let show = |result: &RunResult| match result {
        Ok(elapsed) => describe(workload, n, *elapsed),
        Err(error) => format!("FAILED: {error}"),
    };
    let ratio = match (&ours, &floor) {
        (Ok(ours), Ok(floor)) => format!("{:.2}×", ours.as_secs_f64() / floor.as_secs_f64()),
        _ => "-".to_owned(),
    };
    println!(
        "{:<4} {:<8} {:>9}  {:>26}  {:>26}  {:>7}   (busy-polling loops; floor: {})",
        workload.name(),
        "proc-bp",
        n,
        show(&ours),
        show(&floor),
        ratio,
        raw_shm::NAME
    );
    let mut ok = true;
    for (system, result) in [("signal-slot busy-poll", &ours), (raw_shm::NAME, &floor)] {
        match result {
            Ok(elapsed) => lines.push(json(
                system,
                workload,
                Placement::Process,
                n,
                *elapsed,
                options.load,
            )),
            Err(_) => ok = false,
        }
    }
    ok
}

fn main() {
    load::run_if_asked(&std::env::args().collect::<Vec<_>>());
    // A child started by spawn takes its role here.
    ::signal_slot::init_process();
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some(raw_ipc::CHILD_FLAG) => {
            let server = args.next().unwrap_or_default();
            let workload = args.next().unwrap_or_default();
            if let Err(error) = raw_ipc::child(server, &workload) {
                eprintln!("raw child: {error}");
                std::process::exit(1);
            }
            return;
        }
        #[cfg(feature = "zenoh")]
        Some(network::CHILD_FLAG) => {
            let rest: Vec<String> = args.collect();
            if let Err(error) = network::child(&rest) {
                eprintln!("network program: {error}");
                std::process::exit(1);
            }
            return;
        }
        #[cfg(feature = "zenoh")]
        Some(raw_zenoh::CHILD_FLAG) => {
            let rest: Vec<String> = args.collect();
            if let Err(error) = raw_zenoh::child(&rest) {
                eprintln!("raw zenoh program: {error}");
                std::process::exit(1);
            }
            return;
        }
        Some(raw_shm::CHILD_FLAG) => {
            if let Err(error) = raw_shm::child(args.next().unwrap_or_default()) {
                eprintln!("shared-memory child: {error}");
                std::process::exit(1);
            }
            return;
        }
        _ => {}
    }
    let options = match options() {
        Ok(options) => options,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(2);
        }
    };
    if options.start {
        let ok = start::report(options.runs.max(3));
        std::process::exit(if ok { 0 } else { 1 });
    }
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    // Runs until the end of main: beside every run of every system.
    let load = match load::Load::start(options.load) {
        Ok(load) => load,
        Err(error) => {
            eprintln!("cannot start the busy programs: {error}");
            std::process::exit(2);
        }
    };
    println!(
        "signal-slot benchmarks: {cores} cores, {} busy program(s) beside, median of {} run(s){}",
        options.load,
        options.runs,
        if options.quick {
            " (quick: small N, no warm-up)"
        } else {
            " after a warm-up"
        }
    );
    println!(
        "{:<4} {:<8} {:>9}  {:>26}  {:>26}  {:>7}",
        "", "", "n", "signal-slot", "raw transport", "ratio"
    );
    let mut failed = false;
    let mut lines = Vec::new();
    let workloads = if options.floor {
        &[][..]
    } else {
        &Workload::ALL[..]
    };
    for &workload in workloads {
        if options
            .only
            .as_deref()
            .is_some_and(|only| !only.eq_ignore_ascii_case(workload.name()))
        {
            continue;
        }
        let n = workload.scaled_n(options.scale);
        for &placement in &options.placements {
            if placement == Placement::Network && matches!(workload, Workload::W4z | Workload::W5) {
                // Shared buffers do not cross the network; W5's payloads
                // are measured where they stay on one machine.
                continue;
            }
            let (raw_name, raw_run) = raw_transport(placement);
            // W5 also runs its floor, interleaved with the others.
            let floor_runs = |_| {
                if workload == Workload::W5 {
                    copy_floor::run(workload, n)
                } else {
                    Ok(Duration::ZERO)
                }
            };
            let [ours, raw, floor] = measure_interleaved(
                options.runs,
                options.quick,
                [
                    &|run| signal_slot::run(workload, placement, n, run, IdleWait::default()),
                    &|_| raw_run(workload, n),
                    &floor_runs,
                ],
            );
            let show = |result: &RunResult| match result {
                Ok(elapsed) => describe(workload, n, *elapsed),
                Err(error) => format!("FAILED: {error}"),
            };
            let ratio = match (&ours, &raw) {
                (Ok(ours), Ok(raw)) => {
                    let ratio = if workload == Workload::W1 {
                        ours.as_secs_f64() / raw.as_secs_f64()
                    } else {
                        raw.as_secs_f64() / ours.as_secs_f64()
                    };
                    format!("{ratio:.2}×")
                }
                _ => "-".to_owned(),
            };
            println!(
                "{:<4} {:<8} {:>9}  {:>26}  {:>26}  {:>7}",
                workload.name(),
                placement.name(),
                n,
                show(&ours),
                show(&raw),
                ratio
            );
            if workload == Workload::W5 {
                let of_floor = match (&ours, &floor) {
                    (Ok(ours), Ok(floor)) => {
                        format!("{:.2}×", ours.as_secs_f64() / floor.as_secs_f64())
                    }
                    _ => "-".to_owned(),
                };
                println!(
                    "{:<4} {:<8} {:>9}  {:>26}  {:>26}  {:>7}   (signal-slot's time over the floor's)",
                    "",
                    "floor",
                    n,
                    "",
                    show(&floor),
                    of_floor
                );
                match &floor {
                    Ok(elapsed) => lines.push(json(
                        copy_floor::NAME,
                        workload,
                        placement,
                        n,
                        *elapsed,
                        options.load,
                    )),
                    Err(_) => failed = true,
                }
            }
            for (system, result) in [(signal_slot::NAME, &ours), (raw_name, &raw)] {
                match result {
                    Ok(elapsed) => {
                        lines.push(json(system, workload, placement, n, *elapsed, options.load))
                    }
                    Err(_) => failed = true,
                }
            }
        }
    }
    // Busy polling is for cores of its own: not measured beside busy
    // programs unless asked for.
    if options.placements.contains(&Placement::Process)
        && (options.load == 0 || options.floor)
        && options
            .only
            .as_deref()
            .is_none_or(|only| only.eq_ignore_ascii_case("W1"))
    {
        failed |= !busy_poll_floor(&options, &mut lines);
    }
    println!("ratio: throughput over the raw transport's (W1: round-trip time over the raw one's)");
    if options.json {
        for line in lines {
            println!("{line}");
        }
    }
    drop(load);
    if failed {
        eprintln!("some runs failed");
        std::process::exit(1);
    }
}
