//! Request and reply across processes: blocking calls into a child, calls
//! from a child's slot back to the parent, and a call whose callee panics,
//! cannot encode its value, or is killed while the caller waits.

use std::time::{Duration, Instant};

use crate::common::Log;
use crate::common::process::join;
use signal_slot::{
    CallError, Context, EventLoop, EventLoopProcess, EventLoopThread, PanicPolicy,
    event_loop_object,
};

const LONG: Duration = Duration::from_secs(20);

/// A value whose `Serialize` fails: it cannot go back to another process.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
pub struct Unsendable(u32);

impl serde::Serialize for Unsendable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("this value stays where it is"))
    }
}

/// Lives in the child.
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
struct Remote {
    calls: u64,
    /// The parent's counter, called back from here.
    home: Option<HomeHandle>,
}

#[event_loop_object]
impl Remote {
    #[slot]
    fn pid_plus(&mut self, add: u64) -> u64 {
        self.calls += 1;
        u64::from(std::process::id()) + add
    }

    #[slot]
    fn explode(&mut self) -> u64 {
        panic!("exploded in {}", std::process::id())
    }

    #[slot]
    fn unsendable(&mut self) -> Unsendable {
        Unsendable(7)
    }

    #[slot]
    fn swallow(&mut self, value: Unsendable) -> u32 {
        value.0
    }

    #[slot]
    fn hang(&mut self) -> u64 {
        if let Some(home) = &self.home {
            home.record().invoke("hanging".to_owned()).unwrap();
        }
        // Until the process is killed.
        loop {
            std::thread::park();
        }
    }

    /// Calls the parent's counter, and reports the outcome there.
    #[slot]
    fn call_home(&mut self, ctx: &mut Context<Self>, value: u64) {
        if let Some(home) = &self.home {
            home.add()
                .call_then(value, LONG, ctx.on_home_answer())
                .unwrap();
        }
    }

    #[slot]
    fn on_home_answer(&mut self, answer: Result<u64, CallError>) {
        if let Some(home) = &self.home {
            home.record()
                .invoke(format!("home answered {answer:?}"))
                .unwrap();
        }
    }
}

/// Lives in the parent.
#[event_loop_object]
pub struct Home {
    total: u64,
    log: Log,
}

#[event_loop_object]
impl Home {
    #[slot]
    fn add(&mut self, value: u64) -> u64 {
        self.total += value;
        self.total
    }

    #[slot]
    fn record(&mut self, text: String) {
        self.log.push(text);
    }

    #[slot]
    fn ask_child(&mut self, ctx: &mut Context<Self>, remote: RemoteHandle) {
        remote
            .pid_plus()
            .call_then(1, LONG, ctx.on_child_answer())
            .unwrap();
    }

    #[slot]
    fn on_child_answer(&mut self, answer: Result<u64, CallError>) {
        self.log.push(format!("child answered {answer:?}"));
    }
}

fn child(name: &str) -> EventLoopProcess {
    EventLoopProcess::with_options(EventLoop::builder(name).panic_policy(PanicPolicy::KeepGoing))
        .unwrap()
}

/// A started thread loop with a `Home`, and the child process `name` with
/// a `Remote` (which calls home if `calls_home`), not started.
fn home_and_child(
    name: &str,
    calls_home: bool,
) -> (
    Log,
    EventLoopThread,
    HomeHandle,
    EventLoopProcess,
    RemoteHandle,
) {
    let log = Log::default();
    let mut home_loop = EventLoopThread::new(format!("{name}_home")).unwrap();
    let home = home_loop
        .add_with_id(
            "home",
            Home {
                total: 0,
                log: log.clone(),
            },
        )
        .unwrap();
    home_loop.start().unwrap();
    let process = child(&format!("{name}_child"));
    let remote = process
        .add_with_id(
            "remote",
            Remote {
                calls: 0,
                home: calls_home.then(|| home.clone()),
            },
        )
        .unwrap();
    (log, home_loop, home, process, remote)
}

/// A call queued for a loop before it moves to a child is answered from
/// the child.
pub fn a_call_queued_before_the_start_is_answered_by_the_child() {
    let (log, mut home_loop, home, mut process, remote) = home_and_child("calls_queued", false);
    // Queued in the loop before it moves.
    remote
        .pid_plus()
        .call_then(3, LONG, home.on_child_answer())
        .unwrap();
    process.start().unwrap();
    let pid = u64::from(process.pid().unwrap());
    assert!(log.wait_for(1, LONG));
    assert_eq!(log.entries(), [format!("child answered Ok({})", pid + 3)]);
    process.stop();
    assert!(join(&mut process).success());
    home_loop.stop();
    home_loop.join().unwrap();
}

pub fn calls_into_a_child_and_back() {
    let (log, mut home_loop, home, mut process, remote) = home_and_child("calls", true);
    process.start().unwrap();
    let pid = u64::from(process.pid().unwrap());

    // Blocking, from this thread.
    assert_eq!(remote.pid_plus().call(5, LONG), Ok(pid + 5));
    // From a slot of the parent, without blocking its loop.
    home.ask_child().invoke(remote.clone()).unwrap();
    assert!(log.wait_for(1, LONG));
    assert_eq!(log.entries()[0], format!("child answered Ok({})", pid + 1));
    // From a slot of the child to the parent, and back.
    remote.call_home().invoke(10).unwrap();
    assert!(log.wait_for(2, LONG));
    assert_eq!(log.entries()[1], "home answered Ok(10)");
    // Many calls in a row.
    for add in 0..200 {
        assert_eq!(remote.pid_plus().call(add, LONG), Ok(pid + add));
    }

    // The slot panics: an error naming the panic; the loop goes on.
    match remote.explode().call((), LONG) {
        Err(CallError::Panicked { message, .. }) => {
            assert_eq!(message, format!("exploded in {pid}"));
        }
        other => panic!("{other:?}"),
    }
    // The value cannot travel back: an error that says so.
    match remote.unsendable().call((), LONG) {
        Err(CallError::Failed { why, .. }) => {
            assert!(why.contains("this value stays where it is"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    // Nor the arguments there: the same kind of error, at once.
    match remote.swallow().call(Unsendable(3), LONG) {
        Err(CallError::Failed { why, .. }) => assert!(why.contains("encoded"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(remote.pid_plus().call(1, LONG), Ok(pid + 1));

    // The child is killed while a call waits: an error as soon as its end
    // is known, long before the timeout.
    let started = Instant::now();
    let waiting = std::thread::spawn({
        let remote = remote.clone();
        move || remote.hang().call((), LONG)
    });
    // The call is under way once the child's slot runs; kill it then.
    assert!(log.wait_for(3, LONG));
    assert_eq!(log.entries()[2], "hanging");
    process.kill().unwrap();
    let exit = join(&mut process);
    assert!(!exit.success());
    match waiting.join().unwrap() {
        Err(CallError::Gone { .. }) => {}
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < LONG / 2, "{:?}", started.elapsed());
    // And a call after its end fails at once.
    assert!(matches!(
        remote.pid_plus().call(1, LONG),
        Err(CallError::Gone { .. })
    ));
    home_loop.stop();
    home_loop.join().unwrap();
}
