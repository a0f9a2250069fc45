//! Micro-benchmarks of the hot paths: `cargo bench` (or `cargo bench -p signal-slot`).
//!
//! - `emit/N`: one `emit` with N receivers on one loop (the queue is drained
//!   between samples, untimed).
//! - `dispatch/N`: handing one queued signal to N slots.
//!
//! Between processes, `cargo run --release -p signal-slot-bench` measures the
//! whole path (the envelope's encoding included) in real processes.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use signal_slot::{EventLoop, event_loop_object};

#[event_loop_object]
struct Emitter;

#[event_loop_object]
impl Emitter {
    #[signal]
    fn value(value: u64);
}

#[event_loop_object]
struct Receiver {
    sum: u64,
}

#[event_loop_object]
impl Receiver {
    #[slot]
    fn on_value(&mut self, value: u64) {
        self.sum = self.sum.wrapping_add(value);
    }
}

const BATCH: u64 = 1_000;

/// A loop with `receivers` receivers of an emitter on another loop.
fn setup(name: &str, receivers: usize) -> (EventLoop, EventLoop, EmitterHandle) {
    let emitters = EventLoop::new(format!("{name}_emitters")).expect("loop");
    let mut receiving = EventLoop::builder(format!("{name}_receivers"))
        .capacity(10 * BATCH as usize)
        .catch_interrupt(false)
        .build()
        .expect("loop");
    let emitter = emitters.add(Emitter).expect("emitter");
    for _ in 0..receivers {
        let receiver = receiving.add(Receiver { sum: 0 }).expect("receiver");
        emitter
            .value()
            .connect(receiver.on_value())
            .expect("connect");
    }
    // Attach everything.
    receiving.process_events();
    (emitters, receiving, emitter)
}

fn drain(event_loop: &mut EventLoop) {
    while event_loop.pending_messages() > 0 {
        event_loop.process_events();
    }
}

fn emit(c: &mut Criterion) {
    let mut group = c.benchmark_group("emit");
    for receivers in [0, 1, 8] {
        let (_emitters, mut receiving, emitter) = setup(&format!("emit{receivers}"), receivers);
        group.bench_function(format!("{receivers}"), |b| {
            b.iter_custom(|iterations| {
                let mut timed = Duration::ZERO;
                let mut left = iterations;
                while left > 0 {
                    let count = left.min(BATCH);
                    let started = Instant::now();
                    for value in 0..count {
                        emitter.value().emit(value);
                    }
                    timed += started.elapsed();
                    drain(&mut receiving);
                    left -= count;
                }
                timed
            });
        });
    }
    group.finish();
}

fn dispatch(c: &mut Criterion) {
    let mut group = c.benchmark_group("dispatch");
    for receivers in [1, 8] {
        let (_emitters, mut receiving, emitter) = setup(&format!("dispatch{receivers}"), receivers);
        group.bench_function(format!("{receivers}"), |b| {
            b.iter_custom(|iterations| {
                let mut timed = Duration::ZERO;
                let mut left = iterations;
                while left > 0 {
                    let count = left.min(BATCH);
                    for value in 0..count {
                        emitter.value().emit(value);
                    }
                    let started = Instant::now();
                    drain(&mut receiving);
                    timed += started.elapsed();
                    left -= count;
                }
                timed
            });
        });
    }
    group.finish();
}

criterion_group!(benches, emit, dispatch);
criterion_main!(benches);
