//! The `signal-slot-mp` README example, in Rust.
//!
//! Object `a` lives on the main loop, object `b` on a loop in a child
//! process; they bounce two signals back and forth, each slot pausing for a
//! second, until a single-shot timer stops both loops after ten seconds.
//!
//! ```text
//! cargo run --example ping_pong                 # the original's 10 seconds
//! cargo run --example ping_pong -- --seconds 2  # shorter: pauses scale down
//! cargo run --example ping_pong -- --spawn      # the child is a fresh run
//! ```
//!
//! With `--spawn` the background process starts as a new run of this
//! executable (as with Python's `spawn` start method): `#[signal_slot::main]`
//! lets it take its role before `main` does anything else, and `b` travels
//! there as its serialized state.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use signal_slot::{Context, EventLoop, EventLoopProcess, StartMethod, Timer, event_loop_object};

// Objects declare signals and slots (any method marked #[slot] is one).
#[event_loop_object]
struct A {
    pause: Duration,
}

#[event_loop_object]
impl A {
    #[signal]
    fn signal_a(msg: String, other_data: i32);

    #[slot]
    fn on_signal_b(&mut self, ctx: &mut Context<Self>, msg: String) {
        println!("{} {} received signal_b: {msg}", now(), ctx.id());
        std::thread::sleep(self.pause);
        ctx.signal_a().emit("hello from A".to_owned(), 42);
    }
}

#[event_loop_object]
#[derive(Serialize, Deserialize)]
struct B {
    pause: Duration,
}

#[event_loop_object]
impl B {
    #[signal]
    fn signal_b(msg: String);

    #[slot]
    fn on_signal_a(&mut self, ctx: &mut Context<Self>, msg: String, other_data: i32) {
        println!(
            "{} {} received signal_a: {msg} {other_data}",
            now(),
            ctx.id()
        );
        std::thread::sleep(self.pause);
        ctx.signal_b().emit("hello from B".to_owned());
    }
}

#[signal_slot::main]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (run_for, method) = options()?;
    let pause = run_for / 10;

    // Create the main event loop and object `a` on it.
    let mut main_event_loop = EventLoop::new("main_loop")?;
    let a = main_event_loop.add_with_id("object: a", A { pause })?;

    // A background process with a loop of its own, and object `b` that
    // lives on that loop.
    let mut bg_process = EventLoopProcess::new("background_process")?.start_method(method);
    let b = bg_process.add_with_id("object: b", B { pause })?;

    // Connect signals to slots: a signature mismatch would not compile.
    a.signal_a().connect(b.on_signal_a())?;
    b.signal_b().connect(a.on_signal_b())?;

    // Emit from `a` to kick off the conversation.
    a.signal_a().emit("Initial hello from A".to_owned(), 1337);

    // A timer that stops the whole system after ten seconds.
    let stop_timer = Timer::single_shot(&main_event_loop, run_for)?;
    stop_timer.start();
    stop_timer.timeout().connect(main_event_loop.stop_slot())?;
    // Also stops the event loop of the background process.
    stop_timer.timeout().connect(bg_process.stop_slot())?;

    // Start the background process, then the main event loop.
    bg_process.start()?;
    main_event_loop.exec();

    // The main loop has stopped: wait for the background process to finish.
    bg_process.join()?;
    println!("{} Done!", now());
    Ok(())
}

/// `--seconds N` (or `PING_PONG_SECONDS=N`) shortens the run; `--spawn`
/// starts the child by spawn.
fn options() -> Result<(Duration, StartMethod), String> {
    let mut args = std::env::args().skip(1);
    let mut seconds = std::env::var("PING_PONG_SECONDS").ok();
    let mut method = signal_slot::start_method();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => seconds = args.next(),
            "--spawn" => method = StartMethod::Spawn,
            "--fork" => method = StartMethod::Fork,
            other => {
                return Err(format!(
                    "unknown argument `{other}`; usage: ping_pong [--seconds N] [--spawn | --fork]"
                ));
            }
        }
    }
    let seconds: f64 = match seconds {
        Some(text) => text
            .parse()
            .map_err(|_| format!("--seconds takes a number, not `{text}`"))?,
        None => 10.0,
    };
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(format!("--seconds must be positive, not {seconds}"));
    }
    Ok((Duration::from_secs_f64(seconds), method))
}

/// The wall clock as `YYYY-MM-DD HH:MM:SS.micros` (UTC), like Python's
/// `datetime.now()` in the original.
fn now() -> String {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let (days, time) = (seconds / 86_400, seconds % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:06}",
        time / 3600,
        time % 3600 / 60,
        time % 60,
        since_epoch.subsec_micros()
    )
}
