//! Ctrl-C: SIGINT ends every running loop with `ExitStatus::Interrupted`.
//!
//! SIGINT reaches the whole process and every loop running in it, so in the
//! `core` binary, whose tests run in parallel, it would end other tests'
//! loops. This binary runs one test at a time and each ends its loops before
//! the next starts, so the signal reaches only this test's loops; and as the
//! library clears the flag when a loop starts while none runs (checked at the
//! end of the test), nothing carries over to the tests after it.

use crate::common::{Log, Recorder};
use signal_slot::{Context, EventLoop, EventLoopThread, ExitStatus, event_loop_object};

/// Sends SIGINT to this process when its slot runs.
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
struct Interrupter;

#[event_loop_object]
impl Interrupter {
    #[slot]
    fn interrupt(&mut self, _ctx: &mut Context<Self>) {
        let status = std::process::Command::new("kill")
            .args(["-INT", &std::process::id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }
}

pub fn ctrl_c_interrupts_every_running_loop() {
    let log = Log::default();
    let mut main = EventLoop::new("interrupt_main").unwrap();
    let mut worker = EventLoopThread::new("interrupt_worker").unwrap();
    let interrupter = main.add(Interrupter).unwrap();
    let observer = main.add_with_id("observer", Recorder::new(&log)).unwrap();
    worker
        .terminate_signal()
        .connect(observer.on_event())
        .unwrap();
    worker.start().unwrap();
    main.start_signal()
        .connect(interrupter.interrupt())
        .unwrap();
    assert_eq!(main.exec(), ExitStatus::Interrupted);
    assert_eq!(worker.join().unwrap(), ExitStatus::Interrupted);
    assert_eq!(ExitStatus::Interrupted.code(), 130);

    // Once no loop runs, the next loop starts afresh.
    let mut again = EventLoop::new("interrupt_again").unwrap();
    again.start_signal().connect(again.stop_slot()).unwrap();
    assert_eq!(again.exec(), ExitStatus::Normal);
}

/// Each call takes a while; the first one sends SIGINT to this process.
#[event_loop_object]
struct Laborer {
    log: Log,
}

#[event_loop_object]
impl Laborer {
    #[slot]
    fn labor(&mut self, round: u64) {
        self.log.push(format!("labor {round}"));
        if round == 0 {
            let status = std::process::Command::new("kill")
                .args(["-INT", &std::process::id().to_string()])
                .status()
                .expect("kill runs");
            assert!(status.success());
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

pub fn ctrl_c_ends_a_loop_after_the_slot_that_runs_now() {
    let log = Log::default();
    let mut main = EventLoop::new("interrupt_backlog_main").unwrap();
    let laborer = main.add(Laborer { log: log.clone() }).unwrap();
    for round in 0..4 {
        laborer.labor().invoke((round,)).unwrap();
    }
    let started = std::time::Instant::now();
    assert_eq!(main.exec(), ExitStatus::Interrupted);
    // Not after the backlog: three more slots of half a second each.
    assert!(
        started.elapsed() < std::time::Duration::from_millis(1_400),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(log.entries(), ["labor 0"]);
    // The rest is dropped and counted.
    assert_eq!(main.dropped_signals(), 3);
}
