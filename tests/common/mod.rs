//! Objects and helpers shared by the behaviour tests.
#![allow(dead_code)]

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use signal_slot::{Context, EventLoopObject, event_loop_object};

pub mod harness;
pub mod process;

/// A shared log of what slots saw, in order.
#[derive(Clone, Default)]
pub struct Log(Arc<Shared>);

#[derive(Default)]
pub struct Shared {
    entries: Mutex<Vec<String>>,
    changed: Condvar,
}

impl Log {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.0
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub fn push(&self, entry: impl Into<String>) {
        self.lock().push(entry.into());
        self.0.changed.notify_all();
    }

    pub fn entries(&self) -> Vec<String> {
        self.lock().clone()
    }

    /// Forgets what the log holds.
    pub fn clear(&self) {
        self.lock().clear();
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Waits until the log holds `count` entries; false after `timeout`.
    pub fn wait_for(&self, count: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut entries = self.lock();
        while entries.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            entries = self
                .0
                .changed
                .wait_timeout(entries, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }
}

/// The id of the emitter of the signal a slot handles ("" for an invocation).
pub fn sender_id<T: EventLoopObject>(ctx: &Context<'_, T>) -> String {
    ctx.sender()
        .map(|sender| sender.id().to_owned())
        .unwrap_or_default()
}

/// Emits values, texts and bare events.
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Emitter;

#[event_loop_object]
impl Emitter {
    #[signal]
    pub fn value(value: u64);

    #[signal]
    pub fn text(text: String);

    #[signal]
    pub fn event();

    /// Emits `value(n)` for n in `0..count`.
    #[slot]
    pub fn emit_values(&mut self, ctx: &mut Context<Self>, count: u64) {
        for n in 0..count {
            ctx.value().emit(n);
        }
    }

    /// Emits `event()`.
    #[slot]
    pub fn emit_event(&mut self, ctx: &mut Context<Self>) {
        ctx.event().emit();
    }
}

/// Records what reaches it; stops its loop after `stop_after` values.
#[event_loop_object]
pub struct Recorder {
    pub log: Log,
    pub stop_after: Option<usize>,
    pub seen: usize,
}

impl Recorder {
    pub fn new(log: &Log) -> Self {
        Recorder {
            log: log.clone(),
            stop_after: None,
            seen: 0,
        }
    }

    pub fn stopping_after(log: &Log, count: usize) -> Self {
        Recorder {
            stop_after: Some(count),
            ..Recorder::new(log)
        }
    }

    fn count(&mut self, ctx: &Context<Self>) {
        self.seen += 1;
        if self.stop_after == Some(self.seen) {
            ctx.stop_loop();
        }
    }
}

#[event_loop_object]
impl Recorder {
    #[slot]
    pub fn on_value(&mut self, ctx: &mut Context<Self>, value: u64) {
        self.log.push(format!("{}:{value}", ctx.id()));
        self.count(ctx);
    }

    #[slot]
    pub fn on_value_again(&mut self, ctx: &mut Context<Self>, value: u64) {
        self.log.push(format!("{}:again:{value}", ctx.id()));
        self.count(ctx);
    }

    #[slot]
    pub fn on_text(&mut self, ctx: &mut Context<Self>, text: String) {
        self.log.push(format!("{}:{text}", ctx.id()));
        self.count(ctx);
    }

    #[slot]
    pub fn on_event(&mut self, ctx: &mut Context<Self>) {
        let from = ctx.sender().map_or("-", |sender| sender.id()).to_owned();
        self.log.push(format!("{}:event from {from}", ctx.id()));
        self.count(ctx);
    }
}

/// Captures what the library logs on this thread while `f` runs.
pub fn capture_logs<R>(f: impl FnOnce() -> R) -> (R, String) {
    capture(tracing::Level::DEBUG, false, f)
}

/// Captures everything the library traces on this thread while `f` runs,
/// each span's close included.
pub fn capture_spans<R>(f: impl FnOnce() -> R) -> (R, String) {
    capture(tracing::Level::TRACE, true, f)
}

fn capture<R>(level: tracing::Level, spans: bool, f: impl FnOnce() -> R) -> (R, String) {
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let span_events = if spans {
        tracing_subscriber::fmt::format::FmtSpan::CLOSE
    } else {
        tracing_subscriber::fmt::format::FmtSpan::NONE
    };
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(level)
        .with_span_events(span_events)
        .finish();
    let result = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8_lossy(&buffer.0.lock().unwrap_or_else(PoisonError::into_inner))
        .into_owned();
    (result, text)
}
