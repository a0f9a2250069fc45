//! Waiting: a loop that sleeps between signals still wakes for every one of
//! them, at once.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::common::process::{Worker, join};
use signal_slot::{Context, EventLoop, EventLoopProcess, Timer, event_loop_object};

/// The ping that starts the child and makes the rings both ways: not
/// timed.
const WARM_UP: u64 = u64::MAX - 1;

/// Pings at every tick of its timer and times each echo, once a first
/// round trip has been made.
#[event_loop_object]
struct Metronome {
    warm: Option<bool>,
    pings: u64,
    sent: HashMap<u64, Instant>,
    round_trips: Vec<(Duration, u64)>,
}

#[event_loop_object]
impl Metronome {
    #[signal]
    fn ping(seq: u64);

    #[slot]
    fn on_tick(&mut self, ctx: &mut Context<Self>) {
        match self.warm {
            None => {
                self.warm = Some(false);
                ctx.ping().emit(WARM_UP);
                return;
            }
            Some(false) => return,
            Some(true) => {}
        }
        let seq = self.sent.len() as u64;
        if seq < self.pings {
            self.sent.insert(seq, Instant::now());
            ctx.ping().emit(seq);
        }
    }

    /// The child's worker echoes `seq + 1`.
    #[slot]
    fn on_echo(&mut self, ctx: &mut Context<Self>, echo: u64) {
        if echo - 1 == WARM_UP {
            self.warm = Some(true);
            return;
        }
        let sent = self.sent[&(echo - 1)];
        self.round_trips.push((sent.elapsed(), echo - 1));
        if self.round_trips.len() as u64 == self.pings {
            ctx.stop_loop();
        }
    }
}

/// A ping every 50 ms for 30 s to a child that sleeps in between: every
/// echo is back within a few milliseconds (a lost wake-up would leave a
/// ping waiting for the child's next poll, 50 ms later).
pub fn a_sleeping_child_wakes_for_every_signal_at_once() {
    // A tick is three orders of magnitude longer than the loop's spin:
    // every ping finds the child asleep.
    const PINGS: u64 = 240;
    const PERIOD: Duration = Duration::from_millis(25);
    const LATE: Duration = Duration::from_millis(20);
    let mut main = EventLoop::new("idle_main").unwrap();
    let metronome = main
        .add_with_id(
            "metronome",
            Metronome {
                warm: None,
                pings: PINGS,
                sent: HashMap::new(),
                round_trips: Vec::new(),
            },
        )
        .unwrap();
    let mut child = EventLoopProcess::new("idle_child").unwrap();
    let worker = child.add_with_id("worker", Worker::new()).unwrap();
    metronome.ping().connect(worker.forward()).unwrap();
    worker.value_out().connect(metronome.on_echo()).unwrap();
    let timer = Timer::new(&main, PERIOD).unwrap();
    timer.timeout().connect(metronome.on_tick()).unwrap();
    // Far beyond the run: the test fails, rather than hangs, on a lost echo.
    let limit = Timer::single_shot(&main, PERIOD * PINGS as u32 + Duration::from_secs(30)).unwrap();
    limit.timeout().connect(main.stop_slot()).unwrap();
    let kept = main.keep(&metronome).unwrap();
    child.start().unwrap();
    timer.start();
    limit.start();
    assert!(main.exec().is_normal());
    child.stop();
    assert!(join(&mut child).success());
    let mut round_trips = kept.take().unwrap().round_trips;
    assert_eq!(round_trips.len() as u64, PINGS, "every ping is echoed");
    round_trips.sort();
    let median = round_trips[round_trips.len() / 2].0;
    let slowest = round_trips[round_trips.len() - 1].0;
    eprintln!("round trips to a sleeping child: median {median:?}, slowest {slowest:?}");
    let late: Vec<_> = round_trips
        .iter()
        .filter(|(took, _)| *took > LATE)
        .collect();
    assert!(
        late.is_empty(),
        "{} of {PINGS} round trips took over {LATE:?} (time, ping; the first ten): {:?}",
        late.len(),
        &late[..late.len().min(10)]
    );
}
