//! A live view of a running system, in the shape of `top`: every second,
//! each loop of the tree with its process, what waits for it, how full the
//! fullest ring into it is, its rates, its drops by reason and its slowest
//! slot. On a terminal each frame
//! replaces the last; otherwise frames follow each other.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::time::{Duration, Instant};

use signal_slot::{DropCounts, Timer, Topology, event_loop_object};

/// Prints a frame at every tick of its timer.
#[event_loop_object]
pub struct Top {
    started: Instant,
    /// The last frame's numbers of each loop (process, loop name):
    /// handled, dropped, busy time, and when.
    last: HashMap<(u64, String), (u64, u64, u64, Duration)>,
    last_at: Option<Instant>,
}

#[event_loop_object]
impl Top {
    #[slot]
    pub fn on_tick(&mut self) {
        match Topology::capture() {
            Ok(topology) => {
                let frame = self.frame(&topology);
                let mut out = std::io::stdout().lock();
                if out.is_terminal() {
                    // Home, and clear the screen.
                    let _ = write!(out, "\x1b[H\x1b[2J");
                }
                let _ = writeln!(out, "{frame}");
                let _ = out.flush();
            }
            Err(error) => println!("top: no picture of the system now: {error}"),
        }
    }
}

impl Top {
    /// Starts a view of the system on `event_loop`, refreshed every second.
    pub fn start(
        event_loop: &signal_slot::LoopHandle,
    ) -> Result<(TopHandle, Timer), signal_slot::Error> {
        let top = event_loop.add_with_id(
            "top",
            Top {
                started: Instant::now(),
                last: HashMap::new(),
                last_at: None,
            },
        )?;
        let timer = Timer::new(event_loop, Duration::from_secs(1))?;
        timer.timeout().connect(top.on_tick())?;
        timer.start();
        Ok((top, timer))
    }

    fn frame(&mut self, topology: &Topology) -> String {
        let now = Instant::now();
        let seconds = self.last_at.map_or(0.0, |last| (now - last).as_secs_f64());
        // Drops of each loop, by whichever process counted them.
        let mut drops: HashMap<&str, DropCounts> = HashMap::new();
        for process in &topology.processes {
            for (name, counts) in &process.drops {
                *drops.entry(name.as_str()).or_default() += *counts;
            }
        }
        let loops: usize = topology.processes.iter().map(|p| p.loops.len()).sum();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "signal-slot top: {:.0} s, {} processes, {loops} loops; every drop in the tree: {}",
            self.started.elapsed().as_secs_f64(),
            topology.processes.len(),
            topology.drops(),
        );
        let _ = writeln!(
            out,
            "{:>4} {:>8}  {:<16} {:>7} {:>7} {:>6} {:>11} {:>9} {:>6} {:>10}  {:<24} SLOWEST SLOT (longest run)",
            "PROC",
            "PID",
            "LOOP",
            "QUEUED",
            "HIGH",
            "RING%",
            "HANDLED/s",
            "SENT/s",
            "BUSY%",
            "DROPPED/s",
            "DROPS"
        );
        for process in &topology.processes {
            for event_loop in &process.loops {
                let stats = &event_loop.stats;
                let dropped = drops.get(stats.name.as_str()).copied().unwrap_or_default();
                let key = (process.number, stats.name.clone());
                let rate = |now: u64, then: u64| now.saturating_sub(then) as f64 / seconds;
                let (handled_rate, sent_rate, dropped_rate, busy) = match self.last.get(&key) {
                    Some((handled, sent, was_dropped, was_busy)) if seconds > 0.0 => (
                        rate(stats.handled, *handled),
                        rate(stats.emitted, *sent),
                        rate(dropped.total(), *was_dropped),
                        (stats.busy.saturating_sub(*was_busy)).as_secs_f64() / seconds,
                    ),
                    _ => (0.0, 0.0, 0.0, stats.busy_fraction()),
                };
                self.last.insert(
                    key,
                    (stats.handled, stats.emitted, dropped.total(), stats.busy),
                );
                // The fullest ring of another process into the loop.
                let ring = topology
                    .rings_to(&stats.name)
                    .map(|(_, ring)| ring.fraction())
                    .fold(None, |fullest: Option<f64>, fill| {
                        Some(fullest.map_or(fill, |fullest| fullest.max(fill)))
                    })
                    .map_or_else(|| "-".to_owned(), |fill| format!("{:.0}", fill * 100.0));
                let slowest = stats.slowest_slot().map_or_else(
                    || "-".to_owned(),
                    |slot| format!("{}.{} {:.2?}", slot.object, slot.slot, slot.max),
                );
                let _ = writeln!(
                    out,
                    "{:>4} {:>8}  {:<16} {:>7} {:>7} {:>6} {:>11.0} {:>9.0} {:>6.1} {:>10.0}  {:<24} {}",
                    process.number,
                    process.pid,
                    stats.name,
                    stats.queued + stats.queued_from_processes,
                    stats.queued_high_water,
                    ring,
                    handled_rate,
                    sent_rate,
                    (busy * 100.0).min(100.0),
                    dropped_rate,
                    dropped.to_string(),
                    slowest,
                );
            }
        }
        self.last_at = Some(now);
        out
    }
}
