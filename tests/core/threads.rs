//! Other threads that connect and emit while loops run, and the order per
//! emitter across concurrent emitters.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::{Emitter, Log, Recorder, sender_id};
use signal_slot::{Context, EventLoop, EventLoopThread, ExitStatus, event_loop_object};

#[test]
fn other_threads_connect_and_emit_while_loops_run() {
    let log = Log::default();
    let mut worker = EventLoopThread::new("threads_worker").unwrap();
    let recorder = worker
        .add_with_id("recorder", Recorder::stopping_after(&log, 4 * 1_000))
        .unwrap();
    let emitters = EventLoop::new("threads_emitters").unwrap();
    let emitters: Vec<_> = (0..4)
        .map(|index| {
            emitters
                .add_with_id(format!("emitter{index}"), Emitter)
                .unwrap()
        })
        .collect();
    worker.start().unwrap();
    std::thread::scope(|scope| {
        for emitter in &emitters {
            let recorder = recorder.clone();
            scope.spawn(move || {
                emitter.value().connect(recorder.on_value()).unwrap();
                for n in 0..1_000 {
                    emitter.value().emit(n);
                }
            });
        }
    });
    assert_eq!(worker.join().unwrap(), ExitStatus::Normal);
    let entries = log.entries();
    assert_eq!(entries.len(), 4_000);
    // Per emitter, in order: the n-th value of each emitter arrives as a
    // sequence 0..1000 once the interleaving is filtered by sender.
    let values: Vec<u64> = entries
        .iter()
        .map(|entry| entry.rsplit(':').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(values.iter().sum::<u64>(), 4 * (0..1_000).sum::<u64>());
}

#[event_loop_object]
struct PerSender {
    last: std::collections::HashMap<String, u64>,
    received: usize,
    expected: usize,
    out_of_order: Arc<AtomicUsize>,
}

#[event_loop_object]
impl PerSender {
    #[slot]
    fn on_value(&mut self, ctx: &mut Context<Self>, value: u64) {
        let sender = sender_id(ctx);
        if let Some(last) = self.last.insert(sender, value)
            && last + 1 != value
        {
            self.out_of_order.fetch_add(1, Ordering::SeqCst);
        }
        self.received += 1;
        if self.received == self.expected {
            ctx.stop_loop();
        }
    }
}

#[test]
fn order_holds_per_emitter_across_concurrent_emitters() {
    let out_of_order = Arc::new(AtomicUsize::new(0));
    let mut worker = EventLoopThread::new("per_sender_worker").unwrap();
    let checker = worker
        .add(PerSender {
            last: Default::default(),
            received: 0,
            expected: 3 * 20_000,
            out_of_order: out_of_order.clone(),
        })
        .unwrap();
    let emitters = EventLoop::new("per_sender_emitters").unwrap();
    let emitters: Vec<_> = (0..3).map(|_| emitters.add(Emitter).unwrap()).collect();
    for emitter in &emitters {
        emitter.value().connect(checker.on_value()).unwrap();
    }
    worker.start().unwrap();
    std::thread::scope(|scope| {
        for emitter in &emitters {
            scope.spawn(move || {
                for n in 0..20_000 {
                    emitter.value().emit(n);
                }
            });
        }
    });
    assert_eq!(worker.join().unwrap(), ExitStatus::Normal);
    assert_eq!(out_of_order.load(Ordering::SeqCst), 0);
    assert_eq!(worker.dropped_signals(), 0);
}
