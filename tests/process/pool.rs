//! Shared buffers between processes: filled in place in one process, read
//! in place in another, counted in every process that holds them, and back
//! in their pool when the last holder lets go, ends, or is killed; the
//! buffers of signals that never arrive go back too.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use signal_slot::{
    BufferPool, Context, EventLoop, EventLoopBuilder, EventLoopProcess, SharedBuffer, StartMethod,
    event_loop_object,
};

use crate::common::Log;
use crate::common::harness::wait_until;
use crate::common::process::join;

const BUFFER_BYTES: usize = 64 << 10;

/// The bytes a buffer filled with `seed` holds.
fn pattern(seed: u8, len: usize) -> impl Iterator<Item = u8> {
    (0..len).map(move |index| seed.wrapping_add((index % 251) as u8))
}

fn filled(pool: &BufferPool, seed: u8, len: usize) -> SharedBuffer {
    let mut buffer = pool.try_take().expect("a free buffer");
    for (byte, value) in buffer.iter_mut().zip(pattern(seed, len)) {
        *byte = value;
    }
    buffer.freeze(len)
}

fn intact(buffer: &SharedBuffer) -> bool {
    let seed = buffer.first().copied().unwrap_or(0);
    buffer.iter().copied().eq(pattern(seed, buffer.len()))
}

/// Lives in a child: keeps what it is sent until told to let go, and
/// fills buffers of the pool to send back.
#[event_loop_object]
#[derive(Serialize, Deserialize)]
struct Keeper {
    pool: BufferPool,
    #[serde(skip)]
    kept: Vec<SharedBuffer>,
    /// A pool made in the child, on first use.
    #[serde(skip)]
    own: Option<BufferPool>,
}

#[event_loop_object]
impl Keeper {
    #[signal]
    fn said(text: String);

    #[signal]
    fn filled(buffer: SharedBuffer);

    #[slot]
    fn keep(&mut self, ctx: &mut Context<Self>, buffer: SharedBuffer) {
        let text = format!("kept {} bytes, intact: {}", buffer.len(), intact(&buffer));
        self.kept.push(buffer);
        ctx.said().emit(text);
    }

    #[slot]
    fn fill(&mut self, ctx: &mut Context<Self>, seed: u8, len: u64) {
        let buffer = filled(&self.pool, seed, len as usize);
        // Also kept here: the buffer is held by both processes.
        self.kept.push(buffer.clone());
        ctx.filled().emit(buffer);
    }

    #[slot]
    fn fill_from_own_pool(&mut self, ctx: &mut Context<Self>, seed: u8, len: u64) {
        let pool = self
            .own
            .get_or_insert_with(|| BufferPool::new(4096, 2).expect("a pool"));
        ctx.filled().emit(filled(pool, seed, len as usize));
        ctx.said()
            .emit(format!("own pool: {} free", pool.available()));
    }

    #[slot]
    fn take_some(&mut self, ctx: &mut Context<Self>, count: u64) {
        for seed in 0..count {
            self.kept.push(filled(&self.pool, seed as u8, 10));
        }
        ctx.said().emit(format!("holding {}", self.kept.len()));
    }

    #[slot]
    fn let_go(&mut self, ctx: &mut Context<Self>) {
        let text = format!("let go of {}", self.kept.len());
        self.kept.clear();
        ctx.said().emit(text);
    }

    #[slot]
    fn quit(&mut self, ctx: &mut Context<Self>) {
        ctx.stop_loop();
    }
}

/// Lives in the parent: says what it is sent, and keeps it.
#[event_loop_object]
struct Taker {
    log: Log,
    kept: Vec<SharedBuffer>,
}

#[event_loop_object]
impl Taker {
    #[slot]
    fn heard(&mut self, text: String) {
        self.log.push(text);
    }

    #[slot]
    fn take(&mut self, buffer: SharedBuffer) {
        self.log.push(format!(
            "took {} bytes, intact: {}",
            buffer.len(),
            intact(&buffer)
        ));
        self.kept.push(buffer);
    }

    #[slot]
    fn let_go(&mut self) {
        self.kept.clear();
        self.log.push("let go here".to_owned());
    }
}

/// Emits from the test's thread.
#[event_loop_object]
struct Giver;

#[event_loop_object]
impl Giver {
    #[signal]
    fn give(buffer: SharedBuffer);

    #[signal]
    fn fill(seed: u8, len: u64);

    #[signal]
    fn take_some(count: u64);

    #[signal]
    fn fill_from_own_pool(seed: u8, len: u64);

    #[signal]
    fn let_go();

    #[signal]
    fn quit();
}

struct Bench {
    log: Log,
    parent: signal_slot::EventLoopThread,
    taker: TakerHandle,
    _home: EventLoop,
    giver: GiverHandle,
}

fn bench(tag: &str) -> Bench {
    let log = Log::default();
    let mut parent = signal_slot::EventLoopThread::new(format!("{tag}_parent")).unwrap();
    let taker = parent
        .add_with_id(
            "taker",
            Taker {
                log: log.clone(),
                kept: Vec::new(),
            },
        )
        .unwrap();
    parent.start().unwrap();
    let home = EventLoop::new(format!("{tag}_home")).unwrap();
    let giver = home.add_with_id("giver", Giver).unwrap();
    Bench {
        log,
        parent,
        taker,
        _home: home,
        giver,
    }
}

fn keeper_in(
    options: EventLoopBuilder,
    pool: &BufferPool,
    bench: &Bench,
) -> (EventLoopProcess, KeeperHandle) {
    let child = EventLoopProcess::with_options(options).unwrap();
    let keeper = child
        .add_with_id(
            "keeper",
            Keeper {
                pool: pool.clone(),
                kept: Vec::new(),
                own: None,
            },
        )
        .unwrap();
    keeper.said().connect(bench.taker.heard()).unwrap();
    keeper.filled().connect(bench.taker.take()).unwrap();
    bench.giver.give().connect(keeper.keep()).unwrap();
    bench.giver.fill().connect(keeper.fill()).unwrap();
    bench.giver.take_some().connect(keeper.take_some()).unwrap();
    bench
        .giver
        .fill_from_own_pool()
        .connect(keeper.fill_from_own_pool())
        .unwrap();
    bench.giver.let_go().connect(keeper.let_go()).unwrap();
    bench.giver.quit().connect(keeper.quit()).unwrap();
    (child, keeper)
}

fn wait_for(log: &Log, count: usize) {
    assert!(
        log.wait_for(count, Duration::from_secs(20)),
        "{:?}",
        log.entries()
    );
}

pub fn shared_buffers_go_both_ways_in_place_and_back_to_their_pool() {
    let pool = BufferPool::new(BUFFER_BYTES, 8).unwrap();
    let bench = bench("pool_ways");
    let (mut child, _keeper) = keeper_in(EventLoop::builder("pool_ways_child"), &pool, &bench);
    child.start().unwrap();

    // Parent to child: filled here, read there.
    bench.giver.give().emit(filled(&pool, 7, 50_000));
    wait_for(&bench.log, 1);
    assert_eq!(bench.log.entries()[0], "kept 50000 bytes, intact: true");
    // The child holds it (this process let its copy go).
    assert_eq!(pool.available(), 7);

    // Child to parent: filled there (from the pool it was given), read
    // here; held by both.
    bench.giver.fill().emit(3, BUFFER_BYTES as u64);
    wait_for(&bench.log, 2);
    assert_eq!(bench.log.entries()[1], "took 65536 bytes, intact: true");
    assert_eq!(pool.available(), 6);

    // Let go in the child: the buffer the parent still holds stays out.
    bench.giver.let_go().emit();
    wait_for(&bench.log, 3);
    assert_eq!(pool.available(), 7);
    bench.taker.let_go().invoke(()).unwrap();
    wait_for(&bench.log, 4);
    assert_eq!(pool.available(), 8);

    child.stop();
    assert!(join(&mut child).success());
    assert_eq!(pool.available(), 8);
}

pub fn buffers_held_by_ended_or_killed_processes_go_back() {
    const ROUNDS: usize = 12;
    let pool = BufferPool::new(1024, 16).unwrap();
    for round in 0..ROUNDS {
        let bench = bench(&format!("pool_wave{round}"));
        let (mut child, _keeper) = keeper_in(
            EventLoop::builder(format!("pool_wave{round}_child")),
            &pool,
            &bench,
        );
        child.start().unwrap();
        bench.giver.give().emit(filled(&pool, 1, 100));
        bench.giver.give().emit(filled(&pool, 2, 100));
        bench.giver.take_some().emit(3);
        wait_for(&bench.log, 3);
        assert_eq!(bench.log.entries()[2], "holding 5", "round {round}");
        assert_eq!(pool.available(), 16 - 5, "round {round}");
        // Every way out: killed, stopped, or its loop ending on its own.
        match round % 3 {
            0 => child.kill().unwrap(),
            1 => child.stop(),
            _ => bench.giver.quit().emit(),
        }
        join(&mut child);
        // By the time the end is known, what it held is back.
        assert_eq!(pool.available(), 16, "round {round}");
    }
}

pub fn buffers_of_signals_that_never_arrive_go_back() {
    let pool = BufferPool::new(256, 64).unwrap();
    let bench = bench("pool_lost");
    // A ring of 4 KiB: most of a burst does not fit.
    let (mut child, keeper) = keeper_in(
        EventLoop::builder("pool_lost_child").inbox_bytes(4096),
        &pool,
        &bench,
    );
    child.start().unwrap();
    const SENT: u64 = 2_000;
    let one = filled(&pool, 9, 200);
    // Stopped (SIGSTOP), the child reads nothing: the ring fills.
    child.suspend(true).unwrap();
    for _ in 0..SENT {
        bench.giver.give().emit(one.clone());
    }
    drop(one);
    let dropped = child.dropped_signals();
    assert!(dropped > 0, "the ring of a stopped process fills");
    // What did not go holds nothing: only the ring's records do.
    assert_eq!(pool.available(), 63);
    child.suspend(false).unwrap();
    // An invocation gets through a full ring, after what is in it.
    keeper.let_go().invoke(()).unwrap();
    // Whatever arrived was kept, then let go; whatever did not fit was
    // dropped and counted, its lease given back at once.
    assert!(wait_until(Duration::from_secs(20), || bench
        .log
        .entries()
        .last()
        .is_some_and(|text| text.starts_with("let go of"))));
    let entries = bench.log.entries();
    let kept = entries
        .iter()
        .filter(|text| *text == "kept 200 bytes, intact: true")
        .count() as u64;
    assert_eq!(entries.last().unwrap(), &format!("let go of {kept}"));
    assert_eq!(
        child.dropped_signals(),
        dropped,
        "no drop after the continue"
    );
    assert_eq!(kept + dropped, SENT);
    assert_eq!(pool.available(), 64);
    child.stop();
    assert!(join(&mut child).success());
    drop(bench.parent);
}

pub fn one_buffer_to_two_processes_and_a_pool_made_in_a_child() {
    let pool = BufferPool::new(BUFFER_BYTES, 4).unwrap();
    let bench = bench("pool_fan");
    let (mut first, _first) = keeper_in(EventLoop::builder("pool_fan_first"), &pool, &bench);
    let (mut second, _second) = keeper_in(EventLoop::builder("pool_fan_second"), &pool, &bench);
    first.start().unwrap();
    second.start().unwrap();
    // One buffer, read in place by both.
    bench.giver.give().emit(filled(&pool, 5, 1000));
    wait_for(&bench.log, 2);
    assert_eq!(
        bench.log.entries(),
        [
            "kept 1000 bytes, intact: true",
            "kept 1000 bytes, intact: true"
        ]
    );
    assert_eq!(pool.available(), 3);
    // A pool made in a child: its buffers reach this process (the root)
    // and stay out of that pool while held here.
    bench.giver.fill_from_own_pool().emit(11, 3000);
    wait_for(&bench.log, 6);
    let mut rest = bench.log.entries().split_off(2);
    rest.sort();
    assert_eq!(
        rest,
        [
            "own pool: 1 free",
            "own pool: 1 free",
            "took 3000 bytes, intact: true",
            "took 3000 bytes, intact: true",
        ]
    );
    // One child ends: the other still holds the buffer they shared.
    first.stop();
    join(&mut first);
    assert_eq!(pool.available(), 3);
    second.stop();
    join(&mut second);
    assert_eq!(pool.available(), 4);
    // The buffers of the children's pools, still held here, are intact.
    let check = bench.taker.let_go();
    check.invoke(()).unwrap();
    wait_for(&bench.log, 7);
}

/// In a spawned child, before its agent answers anyone: a pool of its own,
/// and a buffer of it sent to the parent at once.
#[signal_slot::init]
fn send_from_a_pool_made_in_init(event_loop: &signal_slot::LoopHandle) {
    let pool = BufferPool::new(4096, 2).expect("a pool");
    let keeper = event_loop
        .object::<Keeper>("keeper")
        .expect("attached before the start");
    keeper.filled().emit(filled(&pool, 21, 2000));
}

pub fn a_pool_made_in_a_spawned_childs_init_reaches_the_root() {
    let pool = BufferPool::new(BUFFER_BYTES, 2).unwrap();
    let bench = bench("pool_init");
    let (child, _keeper) = keeper_in(EventLoop::builder("pool_init_child"), &pool, &bench);
    let mut child = child
        .start_method(StartMethod::Spawn)
        .init_with(send_from_a_pool_made_in_init, ());
    child.start().unwrap();
    wait_for(&bench.log, 1);
    assert_eq!(bench.log.entries(), ["took 2000 bytes, intact: true"]);
    child.stop();
    assert!(join(&mut child).success());
    drop(bench.parent);
}

/// Holds a buffer in its state.
#[event_loop_object]
#[derive(Serialize, Deserialize)]
struct Holder {
    buffer: Option<SharedBuffer>,
}

#[event_loop_object]
impl Holder {
    #[signal]
    fn said(text: String);

    #[slot]
    fn show(&mut self, ctx: &mut Context<Self>) {
        let text = match &self.buffer {
            Some(buffer) => format!("holding {} bytes, intact: {}", buffer.len(), intact(buffer)),
            None => "holding nothing".to_owned(),
        };
        ctx.said().emit(text);
    }

    #[slot]
    fn let_go(&mut self, ctx: &mut Context<Self>) {
        self.buffer = None;
        ctx.said().emit("let go".to_owned());
    }
}

pub fn a_buffer_in_an_object_moves_with_it_to_a_child() {
    let pool = BufferPool::new(512, 2).unwrap();
    let bench = bench("pool_state");
    for (round, method) in [StartMethod::Fork, StartMethod::Spawn]
        .into_iter()
        .enumerate()
    {
        let mut child = EventLoopProcess::new(format!("pool_state{round}"))
            .unwrap()
            .start_method(method);
        let holder = child
            .add_with_id(
                "holder",
                Holder {
                    buffer: Some(filled(&pool, 6, 400)),
                },
            )
            .unwrap();
        holder.said().connect(bench.taker.heard()).unwrap();
        child.start().unwrap();
        // This process's copy went with the object.
        assert_eq!(pool.available(), 1, "{method:?}");
        holder.show().invoke(()).unwrap();
        holder.let_go().invoke(()).unwrap();
        wait_for(&bench.log, 2 * round + 2);
        assert_eq!(
            bench.log.entries()[2 * round..],
            ["holding 400 bytes, intact: true", "let go"]
        );
        // Nothing else held it: not this process, not the journey.
        assert_eq!(pool.available(), 2, "{method:?}");
        child.stop();
        assert!(join(&mut child).success());
        assert_eq!(pool.available(), 2, "{method:?}");
    }
}
