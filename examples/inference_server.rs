//! A Rust inference loop serving Python rollout workers: the program that
//! `signal-slot-py/examples/rollout.py` starts as a child process, in the
//! same process tree as its Python workers.
//!
//! ```text
//! cargo build --release --example inference_server
//! python signal-slot-py/examples/rollout.py --server target/release/examples/inference_server
//! ```
//!
//! Python starts it with `ProgramProcess(..., init="inference_server::serve",
//! init_args=(observation_size, action_size))`; `serve` puts the `Policy` on
//! the program's loop. A worker's `observations(worker, step, values)` (a
//! Python signal) reaches `Policy::on_observations` as typed Rust values;
//! the policy's `actions(worker, step, values)` (a Rust signal) reaches the
//! workers' Python slots as Python values. `Policy::on_values` and `values`
//! carry one argument of each kind MessagePack has, for the package's tests;
//! `Policy::on_frame` answers with a `SharedBuffer` (the bytes of a frame in
//! the shared memory of the process tree), which Python reads in place.
//!
//! Run on its own, it says what it is for and exits.

use std::collections::BTreeMap;

use signal_slot::{BufferPool, Context, LoopHandle, SharedBuffer, event_loop_object};

/// A linear policy: `actions = weights × observations`.
#[event_loop_object]
struct Policy {
    observation_size: usize,
    action_size: usize,
    /// Row-major, `action_size` rows of `observation_size`.
    weights: Vec<f32>,
    served: u64,
    /// Frames, 1 MiB each at most, 8 of them.
    frames: BufferPool,
}

#[event_loop_object]
impl Policy {
    /// The actions for a worker's observations of one step.
    #[signal]
    fn actions(worker: u32, step: u64, values: Vec<f32>);

    /// How many observations it has served.
    #[signal]
    fn served(count: u64);

    /// One value of each kind, back as they came (for tests).
    #[signal]
    fn values(
        text: String,
        blob: Vec<u8>,
        numbers: Vec<i64>,
        table: BTreeMap<String, f64>,
        maybe: Option<u32>,
        pair: (bool, String),
    );

    #[slot]
    fn on_observations(
        &mut self,
        ctx: &mut Context<Self>,
        worker: u32,
        step: u64,
        observations: Vec<f32>,
    ) {
        self.served += 1;
        let actions = (0..self.action_size)
            .map(|row| {
                let weights = &self.weights[row * self.observation_size..][..self.observation_size];
                weights
                    .iter()
                    .zip(&observations)
                    .map(|(weight, value)| weight * value)
                    .sum()
            })
            .collect();
        ctx.actions().emit(worker, step, actions);
    }

    /// A grid's cells by their coordinates, doubled (for tests: a map
    /// whose keys are tuples).
    #[signal]
    fn grid(cells: BTreeMap<(u32, u32), f64>);

    #[slot]
    fn on_grid(&mut self, ctx: &mut Context<Self>, cells: BTreeMap<(u32, u32), f64>) {
        ctx.grid().emit(
            cells
                .into_iter()
                .map(|(at, value)| (at, 2.0 * value))
                .collect(),
        );
    }

    /// A frame of `len` bytes, `(step + i) % 251` at `i`, in shared memory.
    #[signal]
    fn frame(step: u64, pixels: SharedBuffer);

    /// Fills a frame and sends it; with none free (the receivers hold all
    /// eight), it sends nothing and says so in the log.
    #[slot]
    fn on_frame(&mut self, ctx: &mut Context<Self>, step: u64, len: u32) {
        let Some(mut frame) = self.frames.try_take() else {
            tracing::warn!("no free frame for step {step}");
            return;
        };
        let len = (len as usize).min(frame.capacity());
        for (at, byte) in frame[..len].iter_mut().enumerate() {
            *byte = ((step as usize + at) % 251) as u8;
        }
        ctx.frame().emit(step, frame.freeze(len));
    }

    #[slot]
    fn on_count(&mut self, ctx: &mut Context<Self>) {
        ctx.served().emit(self.served);
    }

    #[allow(clippy::too_many_arguments)]
    #[slot]
    fn on_values(
        &mut self,
        ctx: &mut Context<Self>,
        text: String,
        blob: Vec<u8>,
        numbers: Vec<i64>,
        table: BTreeMap<String, f64>,
        maybe: Option<u32>,
        pair: (bool, String),
    ) {
        ctx.values().emit(text, blob, numbers, table, maybe, pair);
    }
}

/// Puts the policy on the program's loop, as object `policy`.
#[signal_slot::init]
fn serve(event_loop: &LoopHandle, observation_size: u32, action_size: u32) {
    let (observation_size, action_size) = (observation_size as usize, action_size as usize);
    // A fixed policy, so that a worker can check each action it gets.
    let weights = (0..observation_size * action_size)
        .map(|at| ((at % 7) as f32 - 3.0) / 4.0)
        .collect();
    event_loop
        .add_with_id(
            "policy",
            Policy {
                observation_size,
                action_size,
                weights,
                served: 0,
                frames: BufferPool::new(1 << 20, 8).expect("a pool of frames"),
            },
        )
        .expect("the policy's id is free on a new loop");
}

fn main() {
    // Started by a `ProgramProcess`: takes its role here, runs its loop
    // and exits.
    signal_slot::init_process();
    eprintln!(
        "inference_server: a program for signal-slot-py/examples/rollout.py, which starts it as a \
         child process (see the top of this file)"
    );
}
