//! Objects and helpers of the tests with child processes: probes in the
//! parent, workers and victims in children, sources and feeders that emit.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use signal_slot::{
    Context, EventLoop, EventLoopProcess, EventLoopThread, ExitStatus, ProcessExit, Timer,
    event_loop_object,
};

use super::{Log, sender_id};

/// Records reports; stops its loop after `expected` of them (never, with
/// `usize::MAX`).
#[event_loop_object]
pub struct Probe {
    pub log: Log,
    pub expected: usize,
}

#[event_loop_object]
impl Probe {
    #[slot]
    pub fn report(&mut self, ctx: &mut Context<Self>, text: String) {
        self.log.push(text);
        if self.log.len() == self.expected {
            ctx.stop_loop();
        }
    }

    #[slot]
    pub fn report_value(&mut self, ctx: &mut Context<Self>, value: u64) {
        self.report(ctx, format!("value {value}"));
    }

    #[slot]
    pub fn on_exit(&mut self, ctx: &mut Context<Self>, exit: ProcessExit) {
        self.report(ctx, format!("exit: {exit}"));
    }
}

/// Lives in children: counts values (checking their order per emitter),
/// echoes texts with its process id, reports on request.
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Worker {
    received: u64,
    last: HashMap<String, u64>,
    out_of_order: u64,
}

impl Worker {
    pub fn new() -> Self {
        Worker {
            received: 0,
            last: HashMap::new(),
            out_of_order: 0,
        }
    }
}

#[event_loop_object]
impl Worker {
    #[signal]
    pub fn reply(text: String);

    #[signal]
    pub fn value_out(value: u64);

    #[slot]
    pub fn on_value(&mut self, ctx: &mut Context<Self>, value: u64) {
        let sender = sender_id(ctx);
        let expected = self.last.get(&sender).map_or(0, |last| last + 1);
        if value != expected {
            self.out_of_order += 1;
        }
        self.last.insert(sender, value);
        self.received += 1;
    }

    #[slot]
    pub fn on_text(&mut self, ctx: &mut Context<Self>, text: String) {
        let reply = format!("{}@{}:{text}", ctx.id(), std::process::id());
        ctx.reply().emit(reply);
    }

    #[slot]
    pub fn forward(&mut self, ctx: &mut Context<Self>, value: u64) {
        ctx.value_out().emit(value + 1);
    }

    #[slot]
    pub fn report(&mut self, ctx: &mut Context<Self>) {
        let text = format!(
            "{}: received={} out_of_order={}",
            ctx.id(),
            self.received,
            self.out_of_order
        );
        ctx.reply().emit(text);
    }

    #[slot]
    pub fn on_terminate(&mut self, ctx: &mut Context<Self>) {
        let text = format!("{}: terminate", ctx.id());
        ctx.reply().emit(text);
    }

    #[slot]
    pub fn explode(&mut self, value: u64) {
        panic!("worker cannot take {value}");
    }
}

/// Emits from the parent (or anywhere).
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Source;

#[event_loop_object]
impl Source {
    #[signal]
    pub fn value(value: u64);

    #[signal]
    pub fn text(text: String);

    #[signal]
    pub fn event();

    #[signal]
    pub fn telemetry(frame: Telemetry, tags: BTreeMap<String, Vec<i64>>, note: Option<String>);

    #[slot]
    pub fn emit_values(&mut self, ctx: &mut Context<Self>, count: u64) {
        for value in 0..count {
            ctx.value().emit(value);
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Telemetry {
    pub step: u64,
    pub position: (f64, f64),
    pub state: Mode,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Mode {
    Idle,
    Moving { speed: f32 },
}

/// Receives structured telemetry in a child and answers with what it saw.
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
pub struct TelemetrySink;

#[event_loop_object]
impl TelemetrySink {
    #[signal]
    pub fn seen(description: String);

    #[slot]
    pub fn on_telemetry(
        &mut self,
        ctx: &mut Context<Self>,
        frame: Telemetry,
        tags: BTreeMap<String, Vec<i64>>,
        note: Option<String>,
    ) {
        ctx.seen().emit(format!("{frame:?} {tags:?} {note:?}"));
    }
}

/// A probe on `main` that stops it after `expected` reports.
pub fn probe(main: &EventLoop, log: &Log, expected: usize) -> ProbeHandle {
    main.add_with_id(
        "probe",
        Probe {
            log: log.clone(),
            expected,
        },
    )
    .unwrap()
}

/// A parent loop with a probe that stops it after `expected` reports, and
/// a source of signals.
pub fn parent(name: &str, expected: usize) -> (Log, EventLoop, ProbeHandle, SourceHandle) {
    let log = Log::default();
    let main = EventLoop::new(name).unwrap();
    let probe = main
        .add_with_id(
            "probe",
            Probe {
                log: log.clone(),
                expected,
            },
        )
        .unwrap();
    let source = main.add_with_id("source", Source).unwrap();
    (log, main, probe, source)
}

/// Runs `main` until its probe stops it, or `limit` passes.
pub fn run(main: &mut EventLoop, limit: Duration) -> ExitStatus {
    let timer = Timer::single_shot(main, limit).expect("timer");
    timer.timeout().connect(main.stop_slot()).expect("connect");
    timer.start();
    main.exec()
}

/// A loop on a thread of its own, started, with a probe that never stops
/// it: for tests that wait on the log while children run.
pub fn probe_thread(name: &str) -> (Log, EventLoopThread, ProbeHandle) {
    let log = Log::default();
    let mut home = EventLoopThread::new(name).unwrap();
    let probe = home
        .add_with_id(
            "probe",
            Probe {
                log: log.clone(),
                expected: usize::MAX,
            },
        )
        .unwrap();
    home.start().unwrap();
    (log, home, probe)
}

/// Waits (up to 20 s) for `process` to end; kills it and fails if it does not.
pub fn join(process: &mut EventLoopProcess) -> ProcessExit {
    match process
        .join_timeout(Duration::from_secs(20))
        .expect("started")
    {
        Some(exit) => exit,
        None => {
            let _ = process.kill();
            panic!("process `{}` did not end", process.name());
        }
    }
}

/// Counts what it receives; at `kill_at` it kills its own process.
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Victim {
    pub received: u64,
    pub kill_at: u64,
}

#[event_loop_object]
impl Victim {
    #[signal]
    pub fn counted(text: String);

    #[slot]
    pub fn on_value(&mut self, _value: u64) {
        self.received += 1;
        if self.received == self.kill_at {
            // SIGKILL arrives before this slot can return: nothing after
            // this signal is handled.
            let pid = std::process::id().to_string();
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid])
                .status();
            unreachable!("killed");
        }
    }

    #[slot]
    pub fn report(&mut self, ctx: &mut Context<Self>) {
        let text = format!("{}: received {}", ctx.id(), self.received);
        ctx.counted().emit(text);
    }

    #[slot]
    pub fn echo(&mut self, ctx: &mut Context<Self>, value: u64) {
        let text = format!("{}: echo {value}", ctx.id());
        ctx.counted().emit(text);
    }
}

impl Victim {
    /// A victim that is never killed: it only counts.
    pub fn counting() -> Self {
        Victim {
            received: 0,
            kill_at: 0,
        }
    }
}

/// Emits from the parent.
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Feeder;

#[event_loop_object]
impl Feeder {
    #[signal]
    pub fn value(value: u64);

    #[signal]
    pub fn other(value: u64);
}

/// A probe on a collector thread, and a feeder on a loop of this thread.
pub fn fixture(tag: &str) -> (Log, EventLoopThread, ProbeHandle, EventLoop, FeederHandle) {
    let log = Log::default();
    let collector = EventLoopThread::new(format!("{tag}_collector")).unwrap();
    let probe = collector
        .add_with_id(
            "probe",
            Probe {
                log: log.clone(),
                expected: usize::MAX,
            },
        )
        .unwrap();
    let feeders = EventLoop::new(format!("{tag}_feeders")).unwrap();
    let feeder = feeders.add_with_id("feeder", Feeder).unwrap();
    (log, collector, probe, feeders, feeder)
}

/// What a process holds of the system: open descriptors, threads, resident
/// memory (Linux, from `/proc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub descriptors: usize,
    pub threads: usize,
    pub resident_kib: u64,
}

impl Usage {
    pub fn of_this_process() -> Self {
        Usage::at("/proc/self")
    }

    pub fn of(pid: u32) -> Self {
        Usage::at(&format!("/proc/{pid}"))
    }

    fn at(proc: &str) -> Self {
        let count =
            |dir: &str| std::fs::read_dir(format!("{proc}/{dir}")).map_or(0, Iterator::count);
        let resident_kib = std::fs::read_to_string(format!("{proc}/status"))
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find_map(|line| line.strip_prefix("VmRSS:"))
                    .and_then(|value| value.split_whitespace().next()?.parse().ok())
            })
            .unwrap_or(0);
        Usage {
            descriptors: count("fd"),
            threads: count("task"),
            resident_kib,
        }
    }
}

/// The example `name`'s executable, built as this test binary was (`cargo
/// test` builds the examples; a filtered run builds it here).
pub fn example(name: &str) -> std::path::PathBuf {
    let test = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test binary>
    let profile_dir = test.parent().and_then(|deps| deps.parent()).unwrap();
    let release = profile_dir
        .file_name()
        .is_some_and(|name| name == "release");
    let mut build = std::process::Command::new(env!("CARGO"));
    build
        .args(["build", "--quiet", "--example", name])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    // Without what cargo told this test binary about its own crate: a
    // build script that watches one of these (ring's watches
    // `CARGO_MANIFEST_DIR`) would see it changed and rebuild its crate and
    // everything above it.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_PKG_")
            || matches!(
                &*key,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
                    | "CARGO_RUSTC_CURRENT_DIR"
            )
        {
            build.env_remove(&*key);
        }
    }
    if release {
        build.arg("--release");
    }
    // With the features this binary has, or cargo would rebuild the
    // library without them (and the examples the run already built).
    if cfg!(feature = "zenoh") {
        build.args(["--features", "zenoh"]);
    }
    let status = build.status().expect("cannot run cargo");
    assert!(status.success(), "cannot build the {name} example");
    profile_dir.join("examples").join(name)
}
