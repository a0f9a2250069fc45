//! A long run compressed into waves: in each, processes and loops are
//! created (one loop made here and carried to a child), signals flow to
//! them (one receiver slow, one killed mid-stream), and all of them end. Every signal is delivered or counted, exactly, and
//! descriptors, threads and memory stay flat across waves.

use std::time::Duration;

use crate::common::harness::wait_until;
use crate::common::process::{Usage, Victim, fixture};
use signal_slot::{
    Context, EventLoop, EventLoopProcess, EventLoopThread, LoopHandle, event_loop_object,
};

/// Runs the loop carried to this child on a thread of its own.
#[signal_slot::init]
fn run_carried(_event_loop: &LoopHandle, name: String) {
    let mut carried = EventLoop::take_carried(&name).expect("carried here");
    std::thread::spawn(move || carried.exec());
}

/// Counts what it receives, slowly.
#[event_loop_object]
#[derive(serde::Serialize, serde::Deserialize)]
struct Slowpoke {
    received: u64,
}

#[event_loop_object]
impl Slowpoke {
    #[signal]
    fn counted(text: String);

    #[slot]
    fn on_value(&mut self, _value: u64) {
        self.received += 1;
        if self.received.is_multiple_of(64) {
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    #[slot]
    fn report(&mut self, ctx: &mut Context<Self>) {
        let text = format!("{}: received {}", ctx.id(), self.received);
        ctx.counted().emit(text);
    }
}

/// The count a report carries.
fn received(entries: &[String], id: &str) -> u64 {
    let prefix = format!("{id}: received ");
    entries
        .iter()
        .find_map(|entry| entry.strip_prefix(&prefix))
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no report from {id} in {entries:?}"))
}

fn waves(count: usize) {
    const SENT: u64 = 20_000;
    const KILL_AT: u64 = 7_777;
    let (log, mut collector, probe, _feeders, feeder) = fixture("waves");
    collector.start().unwrap();
    let mut usage_after_first = None;
    let mut slow_drops = 0;
    for wave in 0..count {
        log.clear();
        let carried = EventLoop::new(format!("wave_{wave}_carried")).unwrap();
        let mut steady = EventLoopProcess::new(format!("wave_{wave}_steady"))
            .unwrap()
            .init_with(run_carried, format!("wave_{wave}_carried"));
        let mut slow = EventLoopProcess::with_options(
            EventLoop::builder(format!("wave_{wave}_slow")).capacity(1_000),
        )
        .unwrap();
        let mut doomed = EventLoopProcess::new(format!("wave_{wave}_doomed")).unwrap();
        let mut thread = EventLoopThread::new(format!("wave_{wave}_thread")).unwrap();
        let steady_receiver = steady.add_with_id("steady", Victim::counting()).unwrap();
        let slow_receiver = slow.add_with_id("slow", Slowpoke { received: 0 }).unwrap();
        let doomed_receiver = doomed
            .add_with_id(
                "doomed",
                Victim {
                    received: 0,
                    kill_at: KILL_AT,
                },
            )
            .unwrap();
        let thread_receiver = thread.add_with_id("thread", Victim::counting()).unwrap();
        let carried_receiver = carried.add_with_id("carried", Victim::counting()).unwrap();
        let carried_loop = carried.handle();
        steady.carry(carried).unwrap();
        feeder.value().connect(steady_receiver.on_value()).unwrap();
        feeder.value().connect(slow_receiver.on_value()).unwrap();
        feeder.value().connect(doomed_receiver.on_value()).unwrap();
        feeder.value().connect(thread_receiver.on_value()).unwrap();
        feeder.value().connect(carried_receiver.on_value()).unwrap();
        let receivers = [
            &steady_receiver,
            &doomed_receiver,
            &thread_receiver,
            &carried_receiver,
        ];
        for receiver in receivers {
            receiver.counted().connect(probe.report()).unwrap();
        }
        slow_receiver.counted().connect(probe.report()).unwrap();
        steady.start().unwrap();
        slow.start().unwrap();
        doomed.start().unwrap();
        thread.start().unwrap();

        for value in 0..SENT {
            feeder.value().emit(value);
        }
        // The doomed child kills itself at KILL_AT; the others report what
        // they received when asked (after all that was sent before).
        let exit = doomed.join().unwrap();
        assert_eq!(exit.code(), None, "wave {wave}: {exit}");
        steady_receiver.report().invoke(()).unwrap();
        slow_receiver.report().invoke(()).unwrap();
        thread_receiver.report().invoke(()).unwrap();
        carried_receiver.report().invoke(()).unwrap();
        assert!(
            log.wait_for(4, Duration::from_secs(60)),
            "wave {wave}: {:?}",
            log.entries()
        );
        let entries = log.entries();
        assert_eq!(received(&entries, "steady"), SENT, "wave {wave}");
        assert_eq!(received(&entries, "thread"), SENT, "wave {wave}");
        assert_eq!(received(&entries, "carried"), SENT, "wave {wave}");
        assert_eq!(
            steady.dropped_signals() + thread.dropped_signals() + carried_loop.dropped_signals(),
            0
        );
        // The slow one drops what does not fit: each signal taken or
        // counted.
        let slow_received = received(&entries, "slow");
        slow_drops += slow.dropped_signals();
        assert_eq!(
            slow_received + slow.dropped_signals(),
            SENT,
            "wave {wave}: slow"
        );
        // The killed one: what it never took, exactly.
        assert_eq!(
            doomed.dropped_signals(),
            SENT - KILL_AT,
            "wave {wave}: doomed"
        );
        for receiver in receivers {
            feeder.value().disconnect(receiver.on_value()).unwrap();
        }
        feeder.value().disconnect(slow_receiver.on_value()).unwrap();
        for process in [&mut steady, &mut slow] {
            process.stop();
            assert!(process.join().unwrap().success(), "wave {wave}");
        }
        thread.stop();
        thread.join().unwrap();
        drop((steady, slow, doomed, thread));
        // What one wave made once (lazily built tables, the agent) stays;
        // nothing more may. The collector lets the rings of the ended
        // children go when it next runs: a moment later.
        match usage_after_first {
            None => usage_after_first = Some(Usage::of_this_process()),
            Some(first) => {
                let flat = |usage: Usage| {
                    usage.descriptors <= first.descriptors
                        && usage.threads <= first.threads
                        && usage.resident_kib < first.resident_kib + 32 * 1024
                };
                let settled = wait_until(Duration::from_secs(5), || flat(Usage::of_this_process()));
                assert!(
                    settled,
                    "wave {wave}: {first:?} -> {:?}",
                    Usage::of_this_process()
                );
            }
        }
    }
    assert!(slow_drops > 0, "the slow receiver's inbox never filled");
    collector.stop();
    collector.join().unwrap();
}

pub fn waves_of_processes_keep_every_promise() {
    waves(4);
}

pub fn a_hundred_waves_keep_every_promise() {
    waves(100);
}
