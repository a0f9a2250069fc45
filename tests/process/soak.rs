//! Soak: millions of signals between threads and child processes, every one
//! delivered, in order per stream.
//!
//! `cargo test --test process soak` runs the short soak (five million
//! deliveries), `cargo test --test process -- --ignored soak` the full one
//! (ten million). `SOAK_N` overrides the signals per stream of the short one.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::common::process::Probe;
use crate::common::{Log, sender_id};
use signal_slot::{
    Context, EventLoopProcess, EventLoopThread, ExitStatus, LoopHandle, ProcessExit,
    event_loop_object,
};

const ACK_EVERY: u64 = 1_000;
const WINDOW: u64 = 20_000;

/// Sends `n` signals to every connected checker, within a window of
/// un-acknowledged ones, then says so.
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
struct Stream {
    n: u64,
    sent: u64,
    acked: HashMap<String, u64>,
    checkers: usize,
    done: bool,
}

#[event_loop_object]
impl Stream {
    #[signal]
    fn data(seq: u64);

    #[signal]
    fn finished(text: String);

    #[slot]
    fn go(&mut self, ctx: &mut Context<Self>) {
        self.pump(ctx);
    }

    #[slot]
    fn on_ack(&mut self, ctx: &mut Context<Self>, stream: String, count: u64) {
        if stream != ctx.id() {
            return;
        }
        let checker = sender_id(ctx);
        self.acked.insert(checker, count);
        if !self.done && self.acked.len() == self.checkers && self.floor() == self.n {
            self.done = true;
            let text = format!("{} done", ctx.id());
            ctx.finished().emit(text);
        } else {
            self.pump(ctx);
        }
    }
}

impl Stream {
    fn new(n: u64, checkers: usize) -> Self {
        Stream {
            n,
            sent: 0,
            acked: HashMap::new(),
            checkers,
            done: false,
        }
    }

    fn floor(&self) -> u64 {
        if self.acked.len() < self.checkers {
            return 0;
        }
        self.acked.values().copied().min().unwrap_or(0)
    }

    fn pump(&mut self, ctx: &Context<Self>) {
        let floor = self.floor();
        while self.sent < self.n && self.sent - floor < WINDOW {
            ctx.data().emit(self.sent);
            self.sent += 1;
        }
    }
}

/// Checks order per emitter, counts, acknowledges, reports.
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
struct Checker {
    next: HashMap<String, u64>,
    out_of_order: u64,
}

#[event_loop_object]
impl Checker {
    #[signal]
    fn ack(stream: String, count: u64);

    #[signal]
    fn counts(text: String);

    #[slot]
    fn on_data(&mut self, ctx: &mut Context<Self>, seq: u64) {
        let sender = sender_id(ctx);
        let next = self.next.entry(sender.clone()).or_default();
        if seq != *next {
            self.out_of_order += 1;
        }
        *next = seq + 1;
        if (*next).is_multiple_of(ACK_EVERY) {
            let count = *next;
            ctx.ack().emit(sender, count);
        }
    }

    #[slot]
    fn report(&mut self, ctx: &mut Context<Self>) {
        let counts: BTreeMap<&String, &u64> = self.next.iter().collect();
        let text = format!(
            "{}: {counts:?} out_of_order={}",
            ctx.id(),
            self.out_of_order
        );
        ctx.counts().emit(text);
    }
}

/// A loop of the soak: a thread or a child process.
enum Place {
    Thread(EventLoopThread),
    Process(EventLoopProcess),
}

impl Place {
    fn handle(&self) -> &LoopHandle {
        match self {
            Place::Thread(thread) => thread,
            Place::Process(process) => process,
        }
    }

    fn start(&mut self) {
        match self {
            Place::Thread(thread) => thread.start().unwrap(),
            Place::Process(process) => process.start().unwrap(),
        }
    }

    fn stop_and_join(&mut self) {
        self.handle().stop();
        match self {
            Place::Thread(thread) => assert_eq!(thread.join().unwrap(), ExitStatus::Normal),
            Place::Process(process) => {
                let exit = process.join_timeout(Duration::from_secs(30)).unwrap();
                assert!(exit.as_ref().is_some_and(ProcessExit::success), "{exit:?}");
            }
        }
    }
}

/// Four loops (two threads, two processes), each with a stream and a
/// checker; every stream sends `n` signals to the three checkers of the
/// other loops. Every signal must arrive, in order per stream.
fn soak_with(n: u64) {
    let tag = n;
    let log = Log::default();
    let mut collector = EventLoopThread::new(format!("soak_collector_{tag}")).unwrap();
    let probe = collector
        .add_with_id(
            "probe",
            Probe {
                log: log.clone(),
                expected: usize::MAX,
            },
        )
        .unwrap();
    collector.start().unwrap();
    let mut places = vec![
        Place::Thread(EventLoopThread::new(format!("soak_thread_a_{tag}")).unwrap()),
        Place::Thread(EventLoopThread::new(format!("soak_thread_b_{tag}")).unwrap()),
        Place::Process(EventLoopProcess::new(format!("soak_process_a_{tag}")).unwrap()),
        Place::Process(EventLoopProcess::new(format!("soak_process_b_{tag}")).unwrap()),
    ];
    let mut streams = Vec::new();
    let mut checkers = Vec::new();
    for (index, place) in places.iter().enumerate() {
        streams.push(
            place
                .handle()
                .add_with_id(format!("stream{index}"), Stream::new(n, 3))
                .unwrap(),
        );
        checkers.push(
            place
                .handle()
                .add_with_id(
                    format!("checker{index}"),
                    Checker {
                        next: HashMap::new(),
                        out_of_order: 0,
                    },
                )
                .unwrap(),
        );
    }
    for (from, stream) in streams.iter().enumerate() {
        stream.finished().connect(probe.report()).unwrap();
        for (to, checker) in checkers.iter().enumerate() {
            if from != to {
                stream.data().connect(checker.on_data()).unwrap();
                checker.ack().connect(stream.on_ack()).unwrap();
            }
        }
    }
    for checker in &checkers {
        checker.counts().connect(probe.report()).unwrap();
    }
    for place in &mut places {
        place.start();
    }
    for stream in &streams {
        stream.go().invoke(()).unwrap();
    }
    let limit = Duration::from_secs(600);
    assert!(
        log.wait_for(4, limit),
        "streams did not finish: {:?}",
        log.entries()
    );
    for checker in &checkers {
        checker.report().invoke(()).unwrap();
    }
    assert!(
        log.wait_for(8, Duration::from_secs(30)),
        "{:?}",
        log.entries()
    );
    let mut entries = log.entries();
    entries.sort();
    let mut expected = Vec::new();
    for index in 0..4 {
        let others: Vec<String> = (0..4)
            .filter(|other| *other != index)
            .map(|other| format!("\"stream{other}\": {n}"))
            .collect();
        expected.push(format!(
            "checker{index}: {{{}}} out_of_order=0",
            others.join(", ")
        ));
    }
    for index in 0..4 {
        expected.push(format!("stream{index} done"));
    }
    expected.sort();
    assert_eq!(entries, expected);
    for place in &mut places {
        assert_eq!(place.handle().dropped_signals(), 0);
        place.stop_and_join();
    }
    collector.stop();
    collector.join().unwrap();
}

pub fn soak() {
    // Five million deliveries (4 streams × 3 checkers × n).
    soak_with(
        std::env::var("SOAK_N")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(417_000),
    );
}

pub fn soak_ten_million() {
    // 4 × 3 × 834,000: ten million deliveries.
    soak_with(834_000);
}
