//! Serial mode: loops that run on one thread, in a deterministic order.

use crate::common::Log;
use signal_slot::{Context, EventLoop, EventLoopThread, event_loop_object};

/// Emits along a chain: every hop records itself and passes on.
#[event_loop_object]
struct Hop {
    log: Log,
    name: &'static str,
}

#[event_loop_object]
impl Hop {
    #[signal]
    fn next(value: u64);

    #[slot]
    fn on_value(&mut self, ctx: &mut Context<Self>, value: u64) {
        self.log.push(format!(
            "{}:{value}:{:?}",
            self.name,
            std::thread::current().id()
        ));
        if value < 20 {
            ctx.next().emit(value + 1);
        } else {
            ctx.stop_loop();
        }
    }
}

fn serial_run(run: usize) -> Vec<String> {
    let log = Log::default();
    let mut main = EventLoop::new(format!("serial_main_{run}")).unwrap();
    let mut first = EventLoopThread::new_serial(format!("serial_first_{run}")).unwrap();
    let mut second = EventLoopThread::new_serial(format!("serial_second_{run}")).unwrap();
    let hops = [
        main.add_with_id(
            "m",
            Hop {
                log: log.clone(),
                name: "m",
            },
        )
        .unwrap(),
        first
            .add_with_id(
                "f1",
                Hop {
                    log: log.clone(),
                    name: "f1",
                },
            )
            .unwrap(),
        first
            .add_with_id(
                "f2",
                Hop {
                    log: log.clone(),
                    name: "f2",
                },
            )
            .unwrap(),
        second
            .add_with_id(
                "s",
                Hop {
                    log: log.clone(),
                    name: "s",
                },
            )
            .unwrap(),
    ];
    // Every hop passes on to all the others: fan-out across three loops.
    for from in &hops {
        for to in &hops {
            if from.id() != to.id() {
                from.next().connect(to.on_value()).unwrap();
            }
        }
    }
    main.terminate_signal().connect(first.stop_slot()).unwrap();
    main.terminate_signal().connect(second.stop_slot()).unwrap();
    first.start().unwrap();
    second.start().unwrap();
    hops[0].on_value().invoke((17,)).unwrap();
    main.exec();
    first.join().unwrap();
    second.join().unwrap();
    log.entries()
}

#[test]
fn serial_mode_runs_on_one_thread_in_a_deterministic_order() {
    let this_thread = format!("{:?}", std::thread::current().id());
    let runs: Vec<Vec<String>> = (0..3).map(serial_run).collect();
    assert!(runs[0].len() > 10, "{:?}", runs[0]);
    assert!(runs[0].iter().all(|entry| entry.ends_with(&this_thread)));
    assert_eq!(runs[0], runs[1]);
    assert_eq!(runs[1], runs[2]);
}

/// A serial loop runs on the thread that started it: joined there, never
/// from another thread (which gets an error that says so, and the loop is
/// joined on its own thread after).
#[test]
fn a_serial_loop_is_joined_on_its_own_thread() {
    let mut serial = EventLoopThread::new_serial("serial_joined_elsewhere").unwrap();
    serial.start().unwrap();
    serial.stop();
    let serial = std::thread::scope(|scope| {
        scope
            .spawn(move || {
                let mut serial = serial;
                let refused = serial.join().unwrap_err();
                assert!(
                    matches!(&refused, signal_slot::Error::Refused(why) if why.contains("thread that started it")),
                    "{refused}"
                );
                serial
            })
            .join()
            .unwrap()
    });
    let mut serial = serial;
    assert!(serial.join().unwrap().is_normal());
}
