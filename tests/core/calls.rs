//! Request and reply: a slot's value back to its caller, blocking from a
//! thread or as a call of a slot, and an error (never a hang) for every way
//! a call can fail.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use signal_slot::{
    CallError, Context, EventLoop, EventLoopThread, ExitStatus, PanicPolicy, event_loop_object,
};

const LONG: Duration = Duration::from_secs(10);

/// Answers questions in every way a slot can.
#[event_loop_object]
struct Service {
    calls: u32,
    /// Released by the test, for a slot that must take its time.
    gate: Option<mpsc::Receiver<()>>,
    /// Told when the slow slot starts waiting at the gate.
    entered: Option<mpsc::Sender<u64>>,
}

impl Service {
    fn new() -> Self {
        Service {
            calls: 0,
            gate: None,
            entered: None,
        }
    }

    fn gated(gate: mpsc::Receiver<()>) -> Self {
        Service {
            gate: Some(gate),
            ..Service::new()
        }
    }
}

#[event_loop_object]
impl Service {
    #[slot]
    fn square(&mut self, value: u64) -> u64 {
        self.calls += 1;
        value * value
    }

    #[slot]
    fn describe(&mut self, ctx: &mut Context<Self>, name: String, times: u32) -> Vec<String> {
        let _ = ctx.id();
        (0..times).map(|n| format!("{name} {n}")).collect()
    }

    #[slot]
    fn count(&mut self) {
        self.calls += 1;
    }

    #[slot]
    fn check(&mut self, value: i64) -> Result<(), String> {
        if value < 0 {
            Err(format!("{value} is negative"))
        } else {
            Ok(())
        }
    }

    #[slot]
    fn divide(&mut self, a: u64, b: u64) -> Result<u64, String> {
        a.checked_div(b)
            .ok_or_else(|| "division by zero".to_owned())
    }

    #[slot]
    fn explode(&mut self) -> u64 {
        panic!("the service exploded")
    }

    #[slot]
    fn slow(&mut self, value: u64) -> u64 {
        if let Some(entered) = &self.entered {
            let _ = entered.send(value);
        }
        if let Some(gate) = &self.gate {
            let _ = gate.recv();
        }
        value
    }
}

fn service_thread(name: &str) -> (EventLoopThread, ServiceHandle) {
    let mut worker = EventLoopThread::with_options(
        EventLoop::builder(name).panic_policy(PanicPolicy::KeepGoing),
    )
    .unwrap();
    let service = worker.add_with_id("service", Service::new()).unwrap();
    worker.start().unwrap();
    (worker, service)
}

#[test]
fn a_blocking_call_gets_the_slots_value() {
    let (mut worker, service) = service_thread("calls_value");
    assert_eq!(service.square().call(7, LONG), Ok(49));
    assert_eq!(
        service.describe().call(("item".to_owned(), 2), LONG),
        Ok(vec!["item 0".to_owned(), "item 1".to_owned()])
    );
    // A slot that returns nothing gives `()` once it ran.
    assert_eq!(service.count().call((), LONG), Ok(()));
    // One that reports errors: `()`, or the error.
    assert_eq!(service.check().call(3, LONG), Ok(()));
    match service.check().call(-3, LONG) {
        Err(CallError::Failed { callee, why }) => {
            assert_eq!(callee, "service.check");
            assert!(why.contains("-3 is negative"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    // A `Result` with a value is the value.
    assert_eq!(service.divide().call((6, 3), LONG), Ok(Ok(2)));
    assert_eq!(
        service.divide().call((6, 0), LONG),
        Ok(Err("division by zero".to_owned()))
    );
    // Called and connected alike.
    worker.stop();
    assert_eq!(worker.join().unwrap(), ExitStatus::Normal);
}

#[test]
fn many_threads_call_at_once_and_each_gets_its_own_value() {
    let (mut worker, service) = service_thread("calls_many");
    std::thread::scope(|scope| {
        for thread in 0..4u64 {
            let service = service.clone();
            scope.spawn(move || {
                for n in 0..500u64 {
                    let value = thread * 1_000 + n;
                    assert_eq!(service.square().call(value, LONG), Ok(value * value));
                }
            });
        }
    });
    worker.stop();
    worker.join().unwrap();
}

#[test]
fn a_panicking_slot_is_an_error_for_its_caller_and_the_loop_goes_on() {
    let (mut worker, service) = service_thread("calls_panic");
    match service.explode().call((), LONG) {
        Err(CallError::Panicked { callee, message }) => {
            assert_eq!(callee, "service.explode");
            assert_eq!(message, "the service exploded");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(service.square().call(3, LONG), Ok(9));
    worker.stop();
    worker.join().unwrap();
}

#[test]
fn a_slow_callee_times_out_and_its_late_value_goes_nowhere() {
    let (release, gate) = mpsc::channel();
    let mut worker = EventLoopThread::new("calls_slow").unwrap();
    let service = worker.add(Service::gated(gate)).unwrap();
    // Dropped before the worker, should an assertion fail: the gate opens.
    let release = release;
    worker.start().unwrap();
    let started = Instant::now();
    match service.slow().call(1, Duration::from_millis(100)) {
        Err(CallError::Timeout { callee, timeout }) => {
            assert!(callee.ends_with(".slow"), "{callee}");
            assert_eq!(timeout, Duration::from_millis(100));
        }
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < LONG);
    release.send(()).unwrap();
    release.send(()).unwrap();
    // The first call's value came late and went nowhere; this one is ours.
    assert_eq!(service.slow().call(2, LONG), Ok(2));
    worker.stop();
    worker.join().unwrap();
}

#[test]
fn a_short_call_after_a_long_one_times_out_on_time() {
    let (release, gate) = mpsc::channel();
    let (entered, entries) = mpsc::channel();
    let mut worker = EventLoopThread::new("calls_deadlines").unwrap();
    let service = worker
        .add(Service {
            entered: Some(entered),
            ..Service::gated(gate)
        })
        .unwrap();
    // Dropped before the worker, should an assertion fail: the gate opens.
    let release = release;
    worker.start().unwrap();
    // A call with a far deadline waits at the gate...
    let long = std::thread::spawn({
        let service = service.clone();
        move || service.slow().call(1, Duration::from_secs(60))
    });
    assert_eq!(entries.recv_timeout(LONG), Ok(1));
    // ...and one with a near deadline, behind it, times out at that
    // deadline, not at the far one.
    let started = Instant::now();
    assert!(matches!(
        service.slow().call(2, Duration::from_millis(50)),
        Err(CallError::Timeout { .. })
    ));
    // (The blocking call gives up by itself a second after its timeout.)
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    release.send(()).unwrap();
    assert_eq!(long.join().unwrap(), Ok(1));
    release.send(()).unwrap();
    worker.stop();
    worker.join().unwrap();
}

#[test]
fn a_callee_that_is_gone_is_an_error_at_once() {
    let (mut worker, service) = service_thread("calls_gone");
    let other = worker.add_with_id("other", Service::new()).unwrap();
    other.detach().unwrap();
    let started = Instant::now();
    match other.square().call(2, LONG) {
        Err(CallError::Gone { why, .. }) => assert!(why.contains("no object `other`"), "{why}"),
        other => panic!("{other:?}"),
    }
    worker.stop();
    worker.join().unwrap();
    match service.square().call(2, LONG) {
        Err(CallError::Gone { .. }) => {}
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < LONG);

    // A call waiting in a loop that is dropped before it runs.
    let event_loop = EventLoop::new("calls_never_run").unwrap();
    let service = event_loop.add(Service::new()).unwrap();
    let caller = std::thread::spawn({
        let service = service.clone();
        move || service.square().call(5, LONG)
    });
    // Waits until the call is queued: an attach and a call.
    while event_loop.pending_messages() < 1 {
        std::thread::yield_now();
    }
    drop(event_loop);
    match caller.join().unwrap() {
        Err(CallError::Gone { why, .. }) => assert!(why.contains("ended"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < LONG);
}

/// Asks the service from its own loop, without blocking it.
#[event_loop_object]
struct Client {
    service: ServiceHandle,
    answers: Vec<Result<u64, CallError>>,
    expected: usize,
    /// Opens the service's gate (twice) once the first answer came.
    release: Option<mpsc::Sender<()>>,
}

#[event_loop_object]
impl Client {
    #[slot]
    fn ask(&mut self, ctx: &mut Context<Self>, value: u64, timeout_ms: u64) {
        let timeout = Duration::from_millis(timeout_ms);
        self.service
            .slow()
            .call_then(value, timeout, ctx.on_answer())
            .unwrap();
    }

    #[slot]
    fn ask_square(&mut self, ctx: &mut Context<Self>, value: u64) {
        self.service
            .square()
            .call_then(value, LONG, ctx.on_answer())
            .unwrap();
    }

    #[slot]
    fn on_answer(&mut self, ctx: &mut Context<Self>, answer: Result<u64, CallError>) {
        self.answers.push(answer);
        if let Some(release) = self.release.take() {
            release.send(()).unwrap();
            release.send(()).unwrap();
        }
        if self.answers.len() == self.expected {
            ctx.stop_loop();
        }
    }
}

#[test]
fn a_slot_calls_without_blocking_and_gets_exactly_one_outcome() {
    let (release, gate) = mpsc::channel();
    let mut worker = EventLoopThread::new("calls_then_worker").unwrap();
    let service = worker.add(Service::gated(gate)).unwrap();
    worker.start().unwrap();
    let mut main = EventLoop::new("calls_then_main").unwrap();
    let client = main
        .add(Client {
            service: service.clone(),
            answers: Vec::new(),
            expected: 3,
            release: Some(release),
        })
        .unwrap();
    let kept = main.keep(&client).unwrap();
    // The first times out (the service waits at its gate, which the client
    // opens on that first answer); the others go through after it.
    client.ask().invoke((1, 100)).unwrap();
    client.ask_square().invoke(4).unwrap();
    client.ask().invoke((2, 10_000)).unwrap();
    assert_eq!(main.exec(), ExitStatus::Normal);
    let answers = kept.take().unwrap().answers;
    assert_eq!(answers.len(), 3, "{answers:?}");
    assert!(
        matches!(answers[0], Err(CallError::Timeout { .. })),
        "{answers:?}"
    );
    let mut rest = answers[1..].to_vec();
    rest.sort_by_key(|answer| format!("{answer:?}"));
    assert_eq!(rest, [Ok(16), Ok(2)]);
    worker.stop();
    worker.join().unwrap();
}
