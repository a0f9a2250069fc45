//! Large payloads between processes: any size arrives, in order with the
//! emitter's small signals, whichever way it goes; a slow receiver's memory
//! stays within its budget; and a process killed with large payloads in
//! flight leaves no memory and no descriptor behind.

use std::time::{Duration, Instant};

use crate::common::Log;
use crate::common::harness::wait_until;
use crate::common::process::{Probe, Usage, join};
use signal_slot::{Context, EventLoop, EventLoopProcess, EventLoopThread, event_loop_object};

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;

/// A payload that says which it is in every byte (the last one apart, so
/// that a short or shifted copy shows).
fn payload(seq: u64, size: usize) -> Vec<u8> {
    let mut bytes = vec![(seq % 251) as u8; size];
    if let Some(last) = bytes.last_mut() {
        *last = 0xab;
    }
    bytes
}

fn is_payload(seq: u64, bytes: &[u8]) -> bool {
    match bytes.split_last() {
        None => true,
        Some((last, rest)) => *last == 0xab && rest.iter().all(|&b| b == (seq % 251) as u8),
    }
}

/// Emits each size as a large signal between two small ones, all numbered
/// in one sequence, and a last small one.
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
struct Sender;

#[event_loop_object]
impl Sender {
    #[signal]
    fn small(seq: u64);

    #[signal]
    fn large(seq: u64, bytes: Vec<u8>);

    #[slot]
    fn send(&mut self, ctx: &mut Context<Self>, sizes: Vec<u64>) {
        let mut seq = 0;
        for size in sizes {
            ctx.small().emit(seq);
            ctx.large().emit(seq + 1, payload(seq + 1, size as usize));
            seq += 2;
        }
        ctx.small().emit(seq);
    }
}

/// Checks what passes through it (one sequence across both signals, every
/// byte of every payload) and passes it on; reports at the last one.
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
struct Relay {
    next: u64,
    last: u64,
    sizes: Vec<u64>,
    faults: Vec<String>,
}

impl Relay {
    fn new(last: u64) -> Self {
        Relay {
            next: 0,
            last,
            sizes: Vec::new(),
            faults: Vec::new(),
        }
    }

    fn expect(&mut self, seq: u64) {
        if seq != self.next {
            self.faults
                .push(format!("{seq} where {} was due", self.next));
        }
        self.next = seq + 1;
    }
}

#[event_loop_object]
impl Relay {
    #[signal]
    fn small(seq: u64);

    #[signal]
    fn large(seq: u64, bytes: Vec<u8>);

    #[signal]
    fn report(text: String);

    #[slot]
    fn on_small(&mut self, ctx: &mut Context<Self>, seq: u64) {
        self.expect(seq);
        ctx.small().emit(seq);
        if seq == self.last {
            let text = format!(
                "{}: sizes {:?} faults {:?}",
                ctx.id(),
                self.sizes,
                self.faults
            );
            ctx.report().emit(text);
        }
    }

    #[slot]
    fn on_large(&mut self, ctx: &mut Context<Self>, seq: u64, bytes: Vec<u8>) {
        self.expect(seq);
        if !is_payload(seq, &bytes) {
            self.faults
                .push(format!("payload {seq} of {} bytes is wrong", bytes.len()));
        }
        self.sizes.push(bytes.len() as u64);
        ctx.large().emit(seq, bytes);
    }
}

/// Sends `sizes` from the parent to a child, from it to another child,
/// and from that one back to the parent; each hop checks every byte and
/// the order.
fn through_two_children(tag: &str, sizes: &[usize]) {
    let last = 2 * sizes.len() as u64;
    let log = Log::default();
    let mut main = EventLoopThread::new(format!("{tag}_main")).unwrap();
    let probe = main
        .add_with_id(
            "probe",
            Probe {
                log: log.clone(),
                expected: usize::MAX,
            },
        )
        .unwrap();
    let sender = main.add_with_id("sender", Sender).unwrap();
    let home = main.add_with_id("home", Relay::new(last)).unwrap();
    let mut first = EventLoopProcess::new(format!("{tag}_first")).unwrap();
    let mut second = EventLoopProcess::new(format!("{tag}_second")).unwrap();
    let there = first.add_with_id("there", Relay::new(last)).unwrap();
    let beyond = second.add_with_id("beyond", Relay::new(last)).unwrap();
    sender.small().connect(there.on_small()).unwrap();
    sender.large().connect(there.on_large()).unwrap();
    there.small().connect(beyond.on_small()).unwrap();
    there.large().connect(beyond.on_large()).unwrap();
    beyond.small().connect(home.on_small()).unwrap();
    beyond.large().connect(home.on_large()).unwrap();
    for relay in [&there, &beyond, &home] {
        relay.report().connect(probe.report()).unwrap();
    }
    main.start().unwrap();
    first.start().unwrap();
    second.start().unwrap();
    let sizes_sent: Vec<u64> = sizes.iter().map(|&size| size as u64).collect();
    sender.send().invoke(sizes_sent.clone()).unwrap();
    let total: usize = sizes.iter().sum();
    let patience = Duration::from_secs(60) + Duration::from_secs((total / (8 * MIB)) as u64);
    assert!(log.wait_for(3, patience), "reports: {:?}", log.entries());
    let mut reports = log.entries();
    reports.sort();
    let expected = |id: &str| format!("{id}: sizes {sizes_sent:?} faults []");
    assert_eq!(
        reports,
        [expected("beyond"), expected("home"), expected("there")]
    );
    for process in [&first, &second] {
        assert_eq!(process.dropped_signals(), 0);
    }
    assert_eq!(main.dropped_signals(), 0);
    first.stop();
    second.stop();
    assert!(join(&mut first).success());
    assert!(join(&mut second).success());
    main.stop();
    main.join().unwrap();
}

/// Sizes from a kilobyte to 256 MiB, on both sides of half the ring
/// (4 MiB by default), parent to child, child to child and child to parent.
pub fn payloads_of_every_size_arrive_in_order_every_way() {
    through_two_children(
        "sizes",
        &[
            KIB,
            64 * KIB,
            MIB,
            3 * MIB,
            4 * MIB - 4 * KIB,
            4 * MIB,
            5 * MIB,
            32 * MIB,
            64 * MIB,
            256 * MIB,
            3,
        ],
    );
}

/// A gigabyte, every way.
pub fn a_gigabyte_payload_arrives_every_way() {
    through_two_children("gigabyte", &[1 << 30]);
}

/// Shared memory in use on the machine, in KiB (Linux's `Shmem`).
fn shared_kib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("Shmem:"))
                .and_then(|value| value.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// Names in `/dev/shm`.
fn dev_shm() -> usize {
    std::fs::read_dir("/dev/shm").map_or(0, Iterator::count)
}

/// Takes its time over each payload; says how many it took when asked.
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
struct SlowSink {
    received: u64,
    pause_ms: u64,
}

#[event_loop_object]
impl SlowSink {
    #[signal]
    fn said(text: String);

    #[slot]
    fn on_blob(&mut self, ctx: &mut Context<Self>, bytes: Vec<u8>) {
        // Some were dropped: which one this is shows in its bytes.
        let whole = bytes
            .split_last()
            .is_some_and(|(last, rest)| *last == 0xab && rest.iter().all(|&b| b == rest[0]));
        if !whole {
            ctx.said()
                .emit(format!("a payload of {} bytes is wrong", bytes.len()));
        }
        self.received += 1;
        ctx.said().emit(format!("took {}", self.received));
        std::thread::sleep(Duration::from_millis(self.pause_ms));
    }

    #[slot]
    fn report(&mut self, ctx: &mut Context<Self>) {
        ctx.said().emit(format!("received {}", self.received));
    }
}

#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
struct BlobSource;

#[event_loop_object]
impl BlobSource {
    #[signal]
    fn blob(bytes: Vec<u8>);

    /// Emits `count` payloads of `size` bytes.
    #[slot]
    fn flood(&mut self, ctx: &mut Context<Self>, count: u64, size: u64) {
        for seq in 0..count {
            ctx.blob().emit(payload(seq, size as usize));
        }
    }
}

/// A child that takes a 32 MiB payload every 50 ms, flooded with them:
/// the shared memory they hold never passes its budget (128 MiB here) by
/// more than the payload being read and the one being written, and every
/// payload is taken or counted.
pub fn a_slow_receiver_of_large_payloads_stays_within_its_budget() {
    const SIZE: usize = 32 * MIB;
    const BUDGET: usize = 128 * MIB;
    let log = Log::default();
    let mut main = EventLoopThread::new("budget_main").unwrap();
    let probe = main
        .add_with_id(
            "probe",
            Probe {
                log: log.clone(),
                expected: usize::MAX,
            },
        )
        .unwrap();
    let source = main.add_with_id("source", BlobSource).unwrap();
    let mut child = EventLoopProcess::with_options(
        EventLoop::builder("budget_child").large_inbox_bytes(BUDGET),
    )
    .unwrap();
    let sink = child
        .add_with_id(
            "sink",
            SlowSink {
                received: 0,
                pause_ms: 50,
            },
        )
        .unwrap();
    source.blob().connect(sink.on_blob()).unwrap();
    sink.said().connect(probe.report()).unwrap();
    main.start().unwrap();
    child.start().unwrap();
    let before = shared_kib();
    let shm_names = dev_shm();
    let mut sent = 0u64;
    let mut peak = before;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        source.blob().emit(payload(sent, SIZE));
        sent += 1;
        peak = peak.max(shared_kib());
    }
    // What the child holds now: what waits, in its budget.
    let dropped = child.dropped_signals();
    assert!(dropped > 0, "a flood of {sent} was all taken");
    let slack = (BUDGET + 3 * SIZE + 16 * MIB) as u64 / 1024;
    assert!(
        peak.saturating_sub(before) <= slack,
        "shared memory grew by {} KiB (budget {} KiB)",
        peak - before,
        BUDGET / 1024
    );
    // Everything not dropped is taken, then nothing is left behind.
    let taken = sent - dropped;
    let reported = |log: &Log| {
        log.entries()
            .iter()
            .any(|entry| *entry == format!("took {taken}"))
    };
    assert!(
        wait_until(Duration::from_secs(60), || reported(&log)),
        "sent {sent}, dropped {dropped}, the child said {:?}",
        log.entries().last()
    );
    sink.report().invoke(()).unwrap();
    let answer = format!("received {taken}");
    assert!(wait_until(Duration::from_secs(10), || {
        log.entries().contains(&answer)
    }));
    assert_eq!(child.dropped_signals(), dropped);
    child.stop();
    assert!(join(&mut child).success());
    assert!(
        wait_until(Duration::from_secs(10), || shared_kib()
            <= before + 8 * 1024),
        "shared memory {} KiB after, {before} KiB before",
        shared_kib()
    );
    assert_eq!(dev_shm(), shm_names);
    main.stop();
    main.join().unwrap();
}

/// A child killed while large payloads wait for it, and one killed while
/// it sends them: the survivor counts what was lost, and no shared memory
/// nor descriptor is left behind.
pub fn a_child_killed_with_large_payloads_in_flight_leaves_nothing_behind() {
    const SIZE: usize = 24 * MIB;
    const SENT: u64 = 8;
    let log = Log::default();
    let mut main = EventLoopThread::new("killed_main").unwrap();
    let probe = main
        .add_with_id(
            "probe",
            Probe {
                log: log.clone(),
                expected: usize::MAX,
            },
        )
        .unwrap();
    let source = main.add_with_id("source", BlobSource).unwrap();
    let home = main
        .add_with_id(
            "home",
            SlowSink {
                received: 0,
                pause_ms: 0,
            },
        )
        .unwrap();
    main.start().unwrap();
    // Warm: the process's own rings and threads exist before the count.
    let before = Usage::of_this_process();
    let shared_before = shared_kib();
    let shm_names = dev_shm();

    // Receiving: killed after it took the first, the rest in flight.
    let mut receiver = EventLoopProcess::new("killed_receiver").unwrap();
    let sink = receiver
        .add_with_id(
            "sink",
            SlowSink {
                received: 0,
                pause_ms: 400,
            },
        )
        .unwrap();
    source.blob().connect(sink.on_blob()).unwrap();
    sink.said().connect(probe.report()).unwrap();
    receiver.start().unwrap();
    source.flood().invoke((SENT, SIZE as u64)).unwrap();
    assert!(
        log.wait_for(1, Duration::from_secs(30)),
        "{:?}",
        log.entries()
    );
    receiver.kill().unwrap();
    let exit = join(&mut receiver);
    assert!(!exit.success());
    // What it took before it died reaches this process still.
    let taken = || {
        log.entries()
            .iter()
            .filter(|entry| entry.starts_with("took"))
            .count() as u64
    };
    assert!(
        wait_until(Duration::from_secs(10), || {
            receiver.dropped_signals() == SENT - taken()
        }),
        "dropped {} of {} lost",
        receiver.dropped_signals(),
        SENT - taken()
    );
    assert!(log.entries().iter().all(|entry| !entry.contains("wrong")));
    drop(receiver);

    // Sending: killed while it floods this process.
    let mut sender = EventLoopProcess::new("killed_sender").unwrap();
    let far = sender.add_with_id("far", BlobSource).unwrap();
    far.blob().connect(home.on_blob()).unwrap();
    home.said().connect(probe.report()).unwrap();
    sender.start().unwrap();
    log.clear();
    far.flood().invoke((200, SIZE as u64)).unwrap();
    assert!(
        log.wait_for(2, Duration::from_secs(30)),
        "{:?}",
        log.entries()
    );
    sender.kill().unwrap();
    assert!(!join(&mut sender).success());
    drop(sender);

    // The survivor let go of everything: what it mapped and what was on
    // its way to it.
    assert!(
        wait_until(Duration::from_secs(20), || {
            shared_kib() <= shared_before + 8 * 1024
                && Usage::of_this_process().descriptors <= before.descriptors
        }),
        "shared memory {} KiB (before {shared_before}), descriptors {} (before {})",
        shared_kib(),
        Usage::of_this_process().descriptors,
        before.descriptors
    );
    assert_eq!(dev_shm(), shm_names);
    main.stop();
    main.join().unwrap();
}

/// Answers calls with payloads of the size asked for; holds a payload of
/// its own, as state.
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
struct Store {
    /// As `bin`, as a large byte field of a type that travels should be.
    #[serde(with = "serde_bytes")]
    held: Vec<u8>,
}

#[event_loop_object]
impl Store {
    #[slot]
    fn fetch(&mut self, seq: u64, size: u64) -> Vec<u8> {
        payload(seq, size as usize)
    }

    /// Moves itself, with its state, to the loop `name`.
    #[slot]
    fn go_to(&mut self, ctx: &mut Context<Self>, name: String) {
        let to = signal_slot::LoopHandle::named(&name).expect("the loop is known");
        ctx.handle().move_to(&to).expect("it can move");
    }

    /// The state it holds, checked, and where it is.
    #[slot]
    fn describe(&mut self) -> (u64, bool, u32) {
        (
            self.held.len() as u64,
            is_payload(7, &self.held),
            std::process::id(),
        )
    }
}

/// A call answered with 16 MiB comes back whole; an object holding
/// 16 MiB of state reaches a child at its start (spawned: its state
/// travels) and another one by `move_to`, whole (past half a ring: in a
/// segment).
pub fn large_replies_and_large_objects_travel() {
    const SIZE: usize = 16 * MIB;
    let mut child = EventLoopProcess::new("large_state_child").unwrap();
    let store = child
        .add_with_id(
            "store",
            Store {
                held: payload(7, SIZE),
            },
        )
        .unwrap();
    child.start().unwrap();
    let pid = child.pid().unwrap();
    let limit = Duration::from_secs(60);
    let reply = store.fetch().call((3, SIZE as u64), limit).unwrap();
    assert_eq!(reply.len(), SIZE);
    assert!(is_payload(3, &reply));
    assert_eq!(
        store.describe().call((), limit),
        Ok((SIZE as u64, true, pid))
    );

    // Moved to a second child, with its state.
    let mut other = EventLoopProcess::new("large_state_other").unwrap();
    let anchor = other.add_with_id("anchor", BlobSource).unwrap();
    other.start().unwrap();
    let other_pid = other.pid().unwrap();
    store
        .go_to()
        .invoke("large_state_other".to_owned())
        .unwrap();
    assert!(
        wait_until(limit, || {
            store.describe().call((), limit) == Ok((SIZE as u64, true, other_pid))
        }),
        "the object did not arrive whole"
    );
    drop(anchor);
    for process in [&mut child, &mut other] {
        process.stop();
        assert!(join(process).success());
        assert_eq!(process.dropped_signals(), 0);
    }
}
