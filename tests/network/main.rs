//! Across machines, over Zenoh: real programs (this binary run again in a
//! role), started separately, talking over explicit loopback endpoints
//! (no multicast). Needs the `zenoh` feature.
//!
//! A role is chosen by `SIGNAL_SLOT_NET_ROLE`; every role program ends by
//! itself after [`ROLE_LIMIT`], so that none outlives a failed test.

use std::collections::HashMap;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use serde::{Deserialize, Serialize};
use signal_slot::network::{Network, peer_config};
use signal_slot::{Context, Error, EventLoop, EventLoopThread, Handle, Timer, event_loop_object};

mod forged;
mod tls;

const ROLE: &str = "SIGNAL_SLOT_NET_ROLE";
const ROLE_LIMIT: Duration = Duration::from_secs(90);
/// How long a test waits for what another program does.
const PATIENCE: Duration = Duration::from_secs(30);

// ---- Objects of the role programs ----

/// Echoes values back, or (slow) takes each one in about 200 µs.
#[event_loop_object]
#[derive(Default)]
struct Echo {
    seen: u64,
    slow: bool,
}

#[event_loop_object]
impl Echo {
    #[signal]
    fn echoed(value: u64);

    #[signal]
    fn report(seen: u64, dropped: u64, rss_kib: u64);

    #[slot]
    fn on_value(&mut self, ctx: &mut Context<Self>, value: u64) {
        self.seen += 1;
        if self.slow {
            let until = Instant::now() + Duration::from_micros(200);
            while Instant::now() < until {
                std::hint::spin_loop();
            }
        } else {
            ctx.echoed().emit(value);
        }
    }

    #[slot]
    fn on_ask(&mut self, ctx: &mut Context<Self>) {
        let dropped = ctx.event_loop().dropped_signals();
        ctx.report().emit(self.seen, dropped, rss_kib());
    }

    #[signal]
    fn blob_back(bytes: Vec<u8>);

    /// Sends a large payload back as it came.
    #[slot]
    fn on_blob(&mut self, ctx: &mut Context<Self>, bytes: Vec<u8>) {
        ctx.blob_back().emit(bytes);
    }

    /// Counts a chunk, and keeps nothing of it.
    #[slot]
    fn on_chunk(&mut self, bytes: Vec<u8>) {
        let _ = bytes;
        self.seen += 1;
    }
}

/// Two builds of one type, as two versions of a program would have it.
mod v1 {
    use super::*;

    #[derive(Clone, Serialize, Deserialize)]
    pub struct Step {
        pub number: u32,
    }

    #[event_loop_object]
    pub struct Stepper;

    #[event_loop_object]
    impl Stepper {
        #[signal]
        fn stepped(step: Step);

        #[slot]
        fn on_step(&mut self, step: Step) {
            let _ = step;
        }
    }
}

mod v2 {
    use super::*;

    #[derive(Clone, Serialize, Deserialize)]
    pub struct Step {
        pub number: f64,
        pub label: String,
    }

    #[event_loop_object]
    pub struct Stepper;

    #[event_loop_object]
    impl Stepper {
        #[signal]
        fn stepped(step: Step);

        #[slot]
        fn on_step(&mut self, step: Step) {
            let _ = step;
        }
    }
}

// ---- The test's side ----

#[derive(Debug, Clone, PartialEq)]
enum Event {
    Echo(u64),
    Report {
        seen: u64,
        dropped: u64,
        rss_kib: u64,
    },
    Gone(String),
    Back(String),
    /// A payload came back: its length, and whether every byte is right.
    Blob(usize, bool),
}

/// Receives what the role programs send, on a loop of the test process.
#[event_loop_object]
struct Probe {
    events: Sender<Event>,
}

#[event_loop_object]
impl Probe {
    #[signal]
    fn value(value: u64);

    #[signal]
    fn step(step: v1::Step);

    #[signal]
    fn blob(bytes: Vec<u8>);

    #[slot]
    fn on_echo(&mut self, value: u64) {
        let _ = self.events.send(Event::Echo(value));
    }

    #[slot]
    fn on_report(&mut self, seen: u64, dropped: u64, rss_kib: u64) {
        let _ = self.events.send(Event::Report {
            seen,
            dropped,
            rss_kib,
        });
    }

    #[slot]
    fn on_gone(&mut self, event_loop: String) {
        let _ = self.events.send(Event::Gone(event_loop));
    }

    #[slot]
    fn on_back(&mut self, event_loop: String) {
        let _ = self.events.send(Event::Back(event_loop));
    }

    #[slot]
    fn on_step(&mut self, step: v1::Step) {
        let _ = step;
    }

    /// Last: the forged records name the slots above by number.
    #[slot]
    fn on_blob_back(&mut self, bytes: Vec<u8>) {
        let whole = bytes
            .iter()
            .enumerate()
            .all(|(at, &byte)| byte == (at % 253) as u8);
        let _ = self.events.send(Event::Blob(bytes.len(), whole));
    }

    #[signal]
    fn chunk(bytes: Vec<u8>);
}

/// The test process in the system: its network, and a probe on a loop.
struct Tester {
    network: Network,
    probe_loop: EventLoopThread,
    probe: Handle<Probe>,
    events: Receiver<Event>,
    endpoint: String,
    system: String,
    programs: Vec<Child>,
}

impl Tester {
    /// Joins a system of its own (named after `test`), listening on a free
    /// loopback port.
    fn new(test: &str) -> Tester {
        let endpoint = format!("tcp/127.0.0.1:{}", free_port());
        let config = peer_config(&[&endpoint], &[]).expect("config");
        Tester::with_config(test, endpoint, config)
    }

    /// Joins a system of its own with `config`, which listens on
    /// `endpoint`.
    fn with_config(
        test: &str,
        endpoint: String,
        config: signal_slot::network::zenoh::Config,
    ) -> Tester {
        let system = format!("{test}-{}", std::process::id());
        let network = Network::join(&system, config).expect("join");
        let (sender, events) = crossbeam_channel::unbounded();
        let mut probe_loop = EventLoopThread::new(format!("probe-{test}")).expect("loop");
        let probe = probe_loop
            .add_with_id("probe", Probe { events: sender })
            .expect("probe");
        probe_loop.start().expect("start");
        network.export(probe_loop.event_loop()).expect("export");
        Tester {
            network,
            probe_loop,
            probe,
            events,
            endpoint,
            system,
            programs: Vec::new(),
        }
    }

    /// Starts this binary as a program in `role`, running the loop
    /// `loop_name`, connected to this one.
    fn start(&mut self, role: &str, loop_name: &str, extra: &[(&str, &str)]) -> usize {
        let mut command = Command::new(std::env::current_exe().expect("this binary"));
        command
            .env(ROLE, role)
            .env("NET_SYSTEM", &self.system)
            .env("NET_CONNECT", &self.endpoint)
            .env("NET_LOOP", loop_name);
        for (key, value) in extra {
            command.env(key, value);
        }
        self.programs.push(command.spawn().expect("a role program"));
        self.programs.len() - 1
    }

    fn next(&self, what: &str) -> Event {
        self.events
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|_| panic!("no {what} within {PATIENCE:?}"))
    }

    /// The next report, skipping echoes.
    fn report(&self) -> (u64, u64, u64) {
        loop {
            if let Event::Report {
                seen,
                dropped,
                rss_kib,
            } = self.next("report")
            {
                return (seen, dropped, rss_kib);
            }
        }
    }

    /// The echo object of the loop `name` of another program, connected
    /// both ways: the probe's values to it, its echoes to the probe.
    fn connect_echo(&self, name: &str) -> (signal_slot::LoopHandle, Handle<Echo>) {
        let event_loop = self.network.find_loop(name, PATIENCE).expect("its loop");
        let echo = event_loop.object::<Echo>("echo").expect("its object");
        self.probe.value().connect(echo.on_value()).expect("to it");
        echo.echoed()
            .connect(self.probe.on_echo())
            .expect("from it");
        echo.report()
            .connect(self.probe.on_report())
            .expect("reports");
        (event_loop, echo)
    }
}

impl Drop for Tester {
    fn drop(&mut self) {
        for program in &mut self.programs {
            let _ = program.kill();
            let _ = program.wait();
        }
        self.probe_loop.event_loop().stop();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// This process's resident memory, in KiB (0 where unknown).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

// ---- The tests ----

/// A 64 MiB argument goes to another program and back, whole, between
/// small signals that keep their order: none of those right behind a large
/// one is dropped for the congestion that the large one made itself.
fn a_large_payload_both_ways_across_the_network() {
    const BEHIND: u64 = 200;
    let mut tester = Tester::new("large");
    tester.start("echo", "echo-large", &[]);
    let (_, echo) = tester.connect_echo("echo-large");
    tester.probe.blob().connect(echo.on_blob()).expect("to it");
    echo.blob_back()
        .connect(tester.probe.on_blob_back())
        .expect("from it");
    let payload: Vec<u8> = (0..64 << 20).map(|at| (at % 253) as u8).collect();
    let mut expected = vec!["echo 0".to_owned(), format!("blob {} true", 64 << 20)];
    tester.probe.value().emit(0);
    tester.probe.blob().emit(payload.clone());
    for value in 1..=BEHIND {
        tester.probe.value().emit(value);
        expected.push(format!("echo {value}"));
    }
    tester.probe.blob().emit(payload[..5 << 20].to_vec());
    tester.probe.value().emit(BEHIND + 1);
    expected.push(format!("blob {} true", 5 << 20));
    expected.push(format!("echo {}", BEHIND + 1));
    let mut events = Vec::new();
    while events.len() < expected.len() {
        let event = tester.events.recv_timeout(PATIENCE).unwrap_or_else(|_| {
            panic!(
                "after {} events (the last {:?}), nothing within {PATIENCE:?}; the probe's loop dropped {}",
                events.len(),
                events.last(),
                tester.probe_loop.event_loop().dropped_signals()
            )
        });
        match event {
            Event::Echo(value) => events.push(format!("echo {value}")),
            Event::Blob(len, whole) => events.push(format!("blob {len} {whole}")),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(events, expected);
}

/// Typed signals both ways between three programs: fan-out to two, each
/// one's echoes in order.
fn signals_both_ways_between_three_programs() {
    let mut tester = Tester::new("both-ways");
    tester.start("echo", "echo-a", &[]);
    tester.start("echo", "echo-b", &[]);
    let (_, a) = tester.connect_echo("echo-a");
    let (_, b) = tester.connect_echo("echo-b");
    assert_eq!(tester.probe.value().receivers().expect("count"), 2);
    assert_eq!(
        a.echoed().receivers().expect("count"),
        1,
        "asked of its program"
    );
    drop(b);
    const VALUES: u64 = 2_000;
    for value in 0..VALUES {
        tester.probe.value().emit(value);
    }
    let mut echoes = Vec::new();
    while echoes.len() < 2 * VALUES as usize {
        match tester.next("echo") {
            Event::Echo(value) => echoes.push(value),
            other => panic!("unexpected {other:?}"),
        }
    }
    // Both programs echo every value once; interleaved, but each in order:
    // every value appears twice, and the count never runs ahead.
    let mut counts: HashMap<u64, u32> = HashMap::new();
    for value in &echoes {
        *counts.entry(*value).or_default() += 1;
    }
    assert!((0..VALUES).all(|value| counts.get(&value) == Some(&2)));
    let mut next = [0u64; 2];
    for value in echoes {
        let lane = usize::from(next[0] != value);
        assert_eq!(next[lane], value, "an echo out of order");
        next[lane] += 1;
    }
}

/// Broadcast and subscription, batches, and disconnection of an object of
/// another program, each in effect when its call returns.
fn broadcasts_batches_and_disconnection_across_the_network() {
    let mut tester = Tester::new("semantics");
    tester.start("echo", "echo-s", &[]);
    let event_loop = tester
        .network
        .find_loop("echo-s", PATIENCE)
        .expect("its loop");
    let echo = event_loop.object::<Echo>("echo").expect("its object");
    echo.echoed()
        .connect(tester.probe.on_echo())
        .expect("from it");
    // A subscription of the remote object, and a broadcast on its loop.
    echo.subscribe_by_name("value", echo.on_value())
        .expect("subscribed");
    tester
        .probe
        .value()
        .broadcast_on(&event_loop)
        .expect("broadcast");
    for value in 0..10 {
        tester.probe.value().emit(value);
    }
    for value in 0..10 {
        assert_eq!(tester.next("a broadcast echo"), Event::Echo(value));
    }
    tester
        .probe
        .value()
        .stop_broadcast_on(&event_loop)
        .expect("stopped");
    // A connection, and a batch through it.
    tester
        .probe
        .value()
        .connect(echo.on_value())
        .expect("connected");
    tester
        .probe
        .value()
        .emit_many((100..200).map(|value| (value,)));
    for value in 100..200 {
        assert_eq!(tester.next("a batch echo"), Event::Echo(value));
    }
    // Disconnected: the next emission reaches nothing, and an invocation
    // sent after it (in order with it) comes back first.
    tester
        .probe
        .value()
        .disconnect(echo.on_value())
        .expect("disconnected");
    tester.probe.value().emit(5_555);
    echo.on_value().invoke(9_999).expect("invoked");
    assert_eq!(tester.next("the invocation's echo"), Event::Echo(9_999));
    assert_eq!(tester.probe.value().receivers().expect("count"), 0);
}

/// Two builds of a type: a connection either way is refused at `connect`,
/// naming both sides; the same build connects.
fn a_fingerprint_mismatch_is_an_error_at_connect() {
    let mut tester = Tester::new("fingerprint");
    tester.start("stepper", "stepper-v2", &[]);
    let event_loop = tester
        .network
        .find_loop("stepper-v2", PATIENCE)
        .expect("its loop");
    // This program believes it runs a `v1::Stepper` (same type name).
    let stepper = event_loop.object::<v1::Stepper>("stepper").expect("object");
    let error = tester
        .probe
        .step()
        .connect(stepper.on_step())
        .expect_err("a slot of another shape");
    match &error {
        Error::Signature {
            what, here, there, ..
        } => {
            assert_eq!(what, "stepper.on_step");
            assert_ne!(here, there);
        }
        other => panic!("not a signature error: {other}"),
    }
    assert!(error.to_string().contains("stepper-v2"), "{error}");
    let error = stepper
        .stepped()
        .connect(tester.probe.on_step())
        .expect_err("a signal of another shape");
    assert!(
        matches!(&error, Error::Signature { what, .. } if what == "stepper.stepped"),
        "{error}"
    );
    // Nothing was connected either way.
    assert_eq!(tester.probe.step().receivers().expect("count"), 0);
    assert_eq!(stepper.stepped().receivers().expect("count"), 0);
    // The same program's own type connects: a `v2` stepper of this build.
    let same = event_loop.object::<v2::Stepper>("stepper").expect("object");
    same.stepped()
        .connect(same.on_step())
        .expect("same shape on both sides");
}

/// A program killed: its loop is reported gone, what is emitted to it is
/// counted; restarted, it is reported back and both directions work again
/// without new connections.
fn a_program_killed_and_restarted() {
    let mut tester = Tester::new("restart");
    tester
        .network
        .events()
        .loop_gone()
        .connect(tester.probe.on_gone())
        .expect("gone");
    tester
        .network
        .events()
        .loop_back()
        .connect(tester.probe.on_back())
        .expect("back");
    let first = tester.start("echo", "echo-r", &[]);
    let (event_loop, _) = tester.connect_echo("echo-r");
    tester.probe.value().emit(1);
    assert_eq!(tester.next("first echo"), Event::Echo(1));

    tester.programs[first].kill().expect("kill");
    tester.programs[first].wait().expect("reaped");
    assert_eq!(tester.next("gone"), Event::Gone("echo-r".to_owned()));
    let before = event_loop.dropped_signals();
    for value in 0..100 {
        tester.probe.value().emit(value);
    }
    assert_eq!(
        event_loop.dropped_signals() - before,
        100,
        "emitted to a gone loop: counted"
    );

    tester.start("echo", "echo-r", &[]);
    assert_eq!(tester.next("back"), Event::Back("echo-r".to_owned()));
    for value in 1000..1100 {
        tester.probe.value().emit(value);
    }
    for value in 1000..1100 {
        assert_eq!(tester.next("echo after the restart"), Event::Echo(value));
    }
}

/// A flood into a slow loop with a small inbox: its memory stays bounded,
/// and every signal is delivered or counted by the receiving program.
fn a_flood_into_a_slow_remote_loop() {
    let mut tester = Tester::new("flood");
    tester.start("echo", "slow", &[("NET_SLOW", "1")]);
    let (_, echo) = tester.connect_echo("slow");
    echo.on_ask().invoke(()).expect("ask");
    let (_, _, rss_before) = tester.report();
    const SIGNALS: u64 = 50_000;
    let payload_note = "a value and its frame: about 60 bytes a signal";
    for value in 0..SIGNALS {
        tester.probe.value().emit(value);
    }
    // Asked after the flood, in order with it (an invocation is taken even
    // by a full inbox).
    echo.on_ask().invoke(()).expect("ask");
    let (seen, dropped, rss_after) = tester.report();
    assert_eq!(seen + dropped, SIGNALS, "every signal delivered or counted");
    assert!(
        dropped > 0,
        "a slow loop with a small inbox drops ({payload_note})"
    );
    assert!(seen > 0);
    assert!(
        rss_after < rss_before + 64 * 1024,
        "memory grew from {rss_before} KiB to {rss_after} KiB"
    );
}

/// Signals that Zenoh drops under congestion at the end of a burst, with
/// no record after them, are counted all the same: the sender tells the
/// receiver its count after records that may have been dropped.
fn losses_at_the_end_of_a_burst_are_counted() {
    const CHUNKS: u64 = 400;
    let mut tester = Tester::new("tail");
    tester.start("echo", "echo-tail", &[("NET_TICK", "1")]);
    let (_, echo) = tester.connect_echo("echo-tail");
    tester
        .probe
        .chunk()
        .connect(echo.on_chunk())
        .expect("to it");
    // Under the size that waits for room: each may be dropped, and a
    // burst of them is more than Zenoh queues.
    let chunk = vec![7u8; 300 << 10];
    for _ in 0..CHUNKS {
        tester.probe.chunk().emit(chunk.clone());
    }
    // Nothing more is sent to it: its own reports say what it counted.
    let deadline = Instant::now() + PATIENCE;
    let (mut seen, mut dropped) = (0, 0);
    while seen + dropped < CHUNKS && Instant::now() < deadline {
        (seen, dropped, _) = tester.report();
    }
    assert_eq!(
        seen + dropped,
        CHUNKS,
        "every chunk delivered or counted ({seen} seen, {dropped} dropped)"
    );
}

/// A program of another system shares the endpoint but sees nothing of
/// this one, nor this one of it.
fn another_system_is_ignored() {
    let mut tester = Tester::new("systems");
    tester.start(
        "stranger",
        "stranger-loop",
        &[
            ("NET_OTHER_SYSTEM", "someone-else"),
            ("NET_LOOK_FOR", "probe-systems"),
        ],
    );
    let found = tester
        .network
        .find_loop("stranger-loop", Duration::from_secs(3));
    assert!(matches!(found, Err(Error::LoopNotFound(_))), "{found:?}");
    let status = tester.programs[0].wait().expect("its end");
    assert_eq!(
        status.code(),
        Some(0),
        "the stranger found this system's loop"
    );
}

/// Keeps a process's network joined for as long as its loop runs.
#[event_loop_object]
struct Member {
    _network: Network,
}

#[event_loop_object]
impl Member {}

/// Run in a child started by spawn: joins the system on its own, exports
/// its loop with an echo on it.
#[signal_slot::init]
fn join_from_a_child(event_loop: &signal_slot::LoopHandle, system: String, endpoint: String) {
    let network = Network::join(&system, peer_config(&[], &[&endpoint]).expect("config"))
        .expect("a child joins on its own");
    event_loop
        .add_with_id("echo", Echo::default())
        .expect("object");
    network.export(event_loop).expect("export");
    event_loop
        .add_with_id("member", Member { _network: network })
        .expect("member");
}

/// A process tree joins process by process: a child started by spawn joins
/// and exports its loop; the parent reaches it through the tree. Fork is
/// refused once Zenoh's threads run.
fn a_process_tree_joins_process_by_process() {
    let tester = Tester::new("tree");
    let mut forked = signal_slot::EventLoopProcess::new("tree-forked")
        .expect("process")
        .start_method(signal_slot::StartMethod::Fork);
    let refused = forked.start();
    assert!(
        matches!(&refused, Err(Error::Refused(why)) if why.contains("Spawn")),
        "{refused:?}"
    );
    let mut child = signal_slot::EventLoopProcess::new("tree-child")
        .expect("process")
        .start_method(signal_slot::StartMethod::Spawn)
        .init_with(
            join_from_a_child,
            (tester.system.clone(), tester.endpoint.clone()),
        );
    child.start().expect("started");
    let (_, _echo) = tester.connect_echo("tree-child");
    tester.probe.value().emit(5);
    assert_eq!(tester.next("an echo from the child"), Event::Echo(5));
    child.event_loop().stop();
    child.join().expect("joined");
}

/// A process forks children one after another while another thread joins
/// the network: each fork either ends before the join starts Zenoh's
/// threads (the child runs and ends normally) or is refused; none forks a
/// child in the middle of the join (which would inherit its locks taken).
fn forks_racing_a_join() {
    for _ in 0..3 {
        let mut program = Command::new(std::env::current_exe().expect("this binary"))
            .env(ROLE, "fork-racer")
            .env("NET_ENDPOINT", format!("tcp/127.0.0.1:{}", free_port()))
            .spawn()
            .expect("the racer");
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = program.try_wait().expect("its state") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = program.kill();
                panic!("the racer hung (a child forked in the middle of a join?)");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(status.code(), Some(0), "the racer failed");
    }
}

// ---- The role programs ----

fn env(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| panic!("{key} is not set"))
}

/// Runs `main` until it stops or [`ROLE_LIMIT`] passes.
fn run_until_limit(mut main: EventLoop) {
    let handle = main.handle();
    std::thread::spawn(move || {
        std::thread::sleep(ROLE_LIMIT);
        handle.stop();
    });
    main.exec();
}

fn join(system: &str) -> Network {
    let connect = env("NET_CONNECT");
    Network::join(system, peer_config(&[], &[&connect]).expect("config")).expect("join")
}

fn role_echo() {
    let network = join(&env("NET_SYSTEM"));
    let slow = std::env::var_os("NET_SLOW").is_some();
    let mut builder = EventLoop::builder(env("NET_LOOP"));
    if slow {
        builder = builder.capacity(64);
    }
    let main = builder.build().expect("loop");
    let echo = main
        .add_with_id("echo", Echo { seen: 0, slow })
        .expect("object");
    // Reports on its own, if asked to: a report asked for would be a
    // record after the ones it counts.
    let _ticks = std::env::var_os("NET_TICK").map(|_| {
        let timer = Timer::new(&main.handle(), Duration::from_millis(50)).expect("timer");
        timer.timeout().connect(echo.on_ask()).expect("ticks");
        timer.start();
        timer
    });
    network.export(&main.handle()).expect("export");
    run_until_limit(main);
}

fn role_stepper() {
    let network = join(&env("NET_SYSTEM"));
    let main = EventLoop::new(env("NET_LOOP")).expect("loop");
    main.add_with_id("stepper", v2::Stepper).expect("object");
    network.export(&main.handle()).expect("export");
    run_until_limit(main);
}

/// Joins another system on the same endpoint; exits 0 if it could not see
/// the loop `NET_LOOK_FOR` of the test's system.
fn role_stranger() {
    let network = join(&env("NET_OTHER_SYSTEM"));
    let main = EventLoop::new(env("NET_LOOP")).expect("loop");
    network.export(&main.handle()).expect("export");
    let found = network.find_loop(&env("NET_LOOK_FOR"), Duration::from_secs(3));
    std::process::exit(if found.is_err() { 0 } else { 1 });
}

/// Forks children from four threads at once (each child started, stopped
/// and joined) until forks are refused, while the main thread joins the
/// network.
fn role_fork_racer() {
    const FORKERS: usize = 4;
    let (started, first) = crossbeam_channel::bounded::<()>(FORKERS);
    let forkers: Vec<_> = (0..FORKERS)
        .map(|forker| {
            let started = started.clone();
            std::thread::spawn(move || -> Result<u32, String> {
                for index in 0.. {
                    let name = format!("racer-{forker}-{index}");
                    let mut child = signal_slot::EventLoopProcess::new(name)
                        .map_err(|error| error.to_string())?
                        .start_method(signal_slot::StartMethod::Fork);
                    match child.start() {
                        Ok(()) => {}
                        Err(Error::Refused(_)) => return Ok(index),
                        Err(error) => return Err(format!("fork {forker}-{index}: {error}")),
                    }
                    let _ = started.try_send(());
                    child.event_loop().stop();
                    match child.join_timeout(Duration::from_secs(10)) {
                        Ok(Some(status)) if status.success() => {}
                        other => {
                            let _ = child.kill();
                            return Err(format!(
                                "child {forker}-{index} did not end normally: {other:?}"
                            ));
                        }
                    }
                }
                unreachable!("the loop above only ends by returning")
            })
        })
        .collect();
    first.recv().expect("a first fork");
    let network = Network::join(
        "fork-racer",
        peer_config(&[&env("NET_ENDPOINT")], &[]).expect("config"),
    )
    .expect("join");
    let mut forks = 0;
    for forker in forkers {
        match forker.join().expect("a forker") {
            Ok(count) => forks += count,
            Err(error) => {
                eprintln!("{error}");
                std::process::exit(1);
            }
        }
    }
    eprintln!("{forks} forks before the join's refusal");
    drop(network);
    std::process::exit(0);
}

fn main() {
    // A child started by spawn takes its role here.
    signal_slot::init_process();
    if let Ok(role) = std::env::var(ROLE) {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
        match role.as_str() {
            "echo" => role_echo(),
            "stepper" => role_stepper(),
            "stranger" => role_stranger(),
            "tls-peer" => tls::role_tls_peer(),
            "fork-racer" => role_fork_racer(),
            other => panic!("no role `{other}`"),
        }
        return;
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let mut args = libtest_mimic::Arguments::from_args();
    // One network per process: one test at a time.
    args.test_threads = Some(1);
    let tests: Vec<(&str, fn())> = vec![
        (
            "signals_both_ways_between_three_programs",
            signals_both_ways_between_three_programs,
        ),
        (
            "a_fingerprint_mismatch_is_an_error_at_connect",
            a_fingerprint_mismatch_is_an_error_at_connect,
        ),
        (
            "a_program_killed_and_restarted",
            a_program_killed_and_restarted,
        ),
        (
            "a_flood_into_a_slow_remote_loop",
            a_flood_into_a_slow_remote_loop,
        ),
        ("another_system_is_ignored", another_system_is_ignored),
        (
            "losses_at_the_end_of_a_burst_are_counted",
            losses_at_the_end_of_a_burst_are_counted,
        ),
        (
            "a_large_payload_both_ways_across_the_network",
            a_large_payload_both_ways_across_the_network,
        ),
        (
            "broadcasts_batches_and_disconnection_across_the_network",
            broadcasts_batches_and_disconnection_across_the_network,
        ),
        (
            "forged_packets_are_dropped_and_the_loop_goes_on",
            forged::forged_packets_are_dropped_and_the_loop_goes_on,
        ),
        (
            "a_process_tree_joins_process_by_process",
            a_process_tree_joins_process_by_process,
        ),
        ("forks_racing_a_join", forks_racing_a_join),
        (
            "a_peer_without_valid_credentials_is_refused",
            tls::a_peer_without_valid_credentials_is_refused,
        ),
    ];
    let trials = tests
        .into_iter()
        .map(|(name, run)| {
            libtest_mimic::Trial::test(name, move || {
                run();
                Ok(())
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
