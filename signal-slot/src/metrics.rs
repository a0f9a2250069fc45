//! The system's numbers through the [`metrics`](https://docs.rs/metrics)
//! facade (the `metrics` feature), so that any recorder exports them:
//! `metrics-exporter-prometheus`, StatsD, OpenTelemetry's.
//!
//! The numbers are counted whether or not they are exported (see
//! [`LoopStats`]); exporting reads them at an interval, off every loop's
//! path: [`record`] captures the [`Topology`] of the tree (every process,
//! through its agent) and sets each metric to its value now, and
//! [`export_every`] does so on a thread of its own.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `signal_slot_handled_total` | counter: slot runs | `loop`, `process` |
//! | `signal_slot_dropped_total` | counter: signals dropped | `loop`, `reason`, `process` (the one that dropped them) |
//! | `signal_slot_queued` | gauge: signals from its own process waiting | `loop`, `process` |
//! | `signal_slot_queued_high_water` | gauge: the most that ever waited | `loop`, `process` |
//! | `signal_slot_queued_from_processes` | gauge: signals waiting in its rings | `loop`, `process` |
//! | `signal_slot_busy_microseconds_total` | counter: time in slots | `loop`, `process` |
//! | `signal_slot_slow_runs_total` | counter: runs past `slow_slot` | `loop`, `process` |
//! | `signal_slot_running_seconds` | gauge: how long the slot that runs now has run | `loop`, `process` |
//! | `signal_slot_emitted_total` | counter: emissions of a signal that had a connection | `loop`, `object`, `signal`, `process` |
//! | `signal_slot_signal_dropped_total` | counter: its emissions dropped on the way from its process | `loop`, `object`, `signal`, `reason`, `process` |
//! | `signal_slot_ring_signals` | gauge: signals waiting in a process's ring to a loop | `loop` (the receiver), `process` (the sender) |
//! | `signal_slot_ring_fill` | gauge: how full that ring is, 0 to 1 | `loop`, `process` |
//! | `signal_slot_slot_runs_total` | counter | `loop`, `object`, `slot`, `process` |
//! | `signal_slot_slot_seconds` | gauge: run time, at `quantile` 0.5, 0.99 and 1 (the longest) | `loop`, `object`, `slot`, `quantile`, `process` |
//!
//! `reason` is one of [`DropReason::name`](crate::DropReason::name)'s;
//! `process` is the process's number in the tree (0 for the root).
//!
//! ```
//! use signal_slot::{EventLoop, metrics};
//!
//! // A recorder (here Prometheus's, rendered as text; a service installs
//! // one with `PrometheusBuilder::install`).
//! let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
//! let handle = recorder.handle();
//! let main = EventLoop::new("metrics_example")?;
//! ::metrics::with_local_recorder(&recorder, metrics::record)?;
//! let text = handle.render();
//! assert!(text.contains(r#"signal_slot_handled_total{loop="metrics_example",process="0"} 0"#), "{text}");
//! # Ok::<(), signal_slot::Error>(())
//! ```

use std::time::Duration;

use crate::error::Error;
use crate::stats::{DropReason, LoopStats};
use crate::topology::Topology;
use crate::util::Periodic;

/// Captures the tree's numbers now and records them with the installed
/// `metrics` recorder.
///
/// # Errors
///
/// As for [`Topology::capture`]: a process that does not answer.
pub fn record() -> Result<(), Error> {
    record_topology(&Topology::capture()?);
    Ok(())
}

/// Records the numbers of a captured topology.
pub fn record_topology(topology: &Topology) {
    for process in &topology.processes {
        let number = process.number.to_string();
        for event_loop in &process.loops {
            record_loop(&event_loop.stats, &number);
            record_signals(event_loop, &number);
        }
        for ring in &process.rings {
            let labels = [("loop", ring.to_loop.clone()), ("process", number.clone())];
            ::metrics::gauge!("signal_slot_ring_signals", &labels).set(ring.signals as f64);
            ::metrics::gauge!("signal_slot_ring_fill", &labels).set(ring.fraction());
        }
        for (loop_name, drops) in &process.drops {
            for reason in DropReason::ALL {
                ::metrics::counter!(
                    "signal_slot_dropped_total",
                    "loop" => loop_name.clone(),
                    "reason" => reason.name(),
                    "process" => number.clone(),
                )
                .absolute(drops.get(reason));
            }
        }
    }
}

/// Each signal's emissions and drops (once per signal, though each of its
/// connections carries them).
fn record_signals(event_loop: &crate::LoopInfo, process: &str) {
    for object in &event_loop.objects {
        let mut seen = std::collections::BTreeSet::new();
        for connection in &object.connections {
            if !seen.insert(&connection.signal) {
                continue;
            }
            let labels = [
                ("loop", event_loop.name.clone()),
                ("object", object.id.clone()),
                ("signal", connection.signal.clone()),
                ("process", process.to_owned()),
            ];
            ::metrics::counter!("signal_slot_emitted_total", &labels).absolute(connection.emitted);
            for reason in DropReason::ALL {
                let count = connection.dropped.get(reason);
                if count > 0 {
                    ::metrics::counter!(
                        "signal_slot_signal_dropped_total",
                        "loop" => event_loop.name.clone(),
                        "object" => object.id.clone(),
                        "signal" => connection.signal.clone(),
                        "reason" => reason.name(),
                        "process" => process.to_owned(),
                    )
                    .absolute(count);
                }
            }
        }
    }
}

fn record_loop(stats: &LoopStats, process: &str) {
    let labels = [
        ("loop", stats.name.clone()),
        ("process", process.to_owned()),
    ];
    ::metrics::counter!("signal_slot_handled_total", &labels).absolute(stats.handled);
    ::metrics::gauge!("signal_slot_queued", &labels).set(stats.queued as f64);
    ::metrics::gauge!("signal_slot_queued_high_water", &labels).set(stats.queued_high_water as f64);
    ::metrics::gauge!("signal_slot_queued_from_processes", &labels)
        .set(stats.queued_from_processes as f64);
    ::metrics::counter!("signal_slot_busy_microseconds_total", &labels)
        .absolute(u64::try_from(stats.busy.as_micros()).unwrap_or(u64::MAX));
    ::metrics::counter!("signal_slot_slow_runs_total", &labels).absolute(stats.slow_runs);
    ::metrics::gauge!("signal_slot_running_seconds", &labels).set(stats.running.as_secs_f64());
    for slot in &stats.slots {
        let labels = [
            ("loop", stats.name.clone()),
            ("object", slot.object.clone()),
            ("slot", slot.slot.clone()),
            ("process", process.to_owned()),
        ];
        ::metrics::counter!("signal_slot_slot_runs_total", &labels).absolute(slot.runs);
        for (quantile, value) in [("0.5", slot.p50), ("0.99", slot.p99), ("1", slot.max)] {
            ::metrics::gauge!(
                "signal_slot_slot_seconds",
                "loop" => stats.name.clone(),
                "object" => slot.object.clone(),
                "slot" => slot.slot.clone(),
                "quantile" => quantile,
                "process" => process.to_owned(),
            )
            .set(value.as_secs_f64());
        }
    }
}

/// Records the tree's numbers every `interval` on a thread of its own,
/// until the returned exporter is dropped. A capture that fails (a process
/// that does not answer) is logged and tried again at the next interval.
///
/// # Errors
///
/// [`Error::Io`] if the thread cannot be started.
pub fn export_every(interval: Duration) -> Result<Exporter, Error> {
    let thread = Periodic::start("signal-slot-metrics".to_owned(), move || {
        if let Err(error) = record() {
            tracing::warn!("metrics: cannot capture the system's numbers: {error}");
        }
        Some(interval)
    })
    .map_err(|error| Error::io("cannot start the metrics exporter", error))?;
    Ok(Exporter { _thread: thread })
}

/// Records the tree's numbers at an interval; see [`export_every`]. Dropping
/// it stops the thread (after a capture under way).
#[must_use = "dropping the exporter stops it"]
pub struct Exporter {
    _thread: Periodic,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter").finish_non_exhaustive()
    }
}
