//! What other processes send: records of their rings, frame by frame,
//! handled like what comes from this process.
//!
//! Each record is decoded in place, in the ring, and its space is freed
//! once its slots have run. Every signal is counted as *taken* before its
//! slots run (a slot that kills the process has received its signal), and
//! what a record held that no slot took (after a stop, or past a frame
//! that cannot be decoded) is counted as taken and dropped: a sender whose
//! loop dies reckons what it lost from these counts.

use std::cell::Cell;
use std::sync::Arc;

use crate::command::Command;
use crate::context::Sender;
use crate::sys::ring::Consumer;
use crate::transport::{DropReason, InboundRing};
use crate::wire::{self, Frame};

use super::EventLoop;
use super::dispatch::{Incoming, Payloads, Receivers};

/// Counts the signals of one record (or packet) as they are taken.
pub(super) struct Tally<'a> {
    ring: Option<&'a Consumer>,
    counted: Cell<u64>,
}

impl<'a> Tally<'a> {
    fn new(ring: Option<&'a Consumer>) -> Self {
        Tally {
            ring,
            counted: Cell::new(0),
        }
    }

    /// Counts `count` signals as taken.
    pub(super) fn taken(&self, count: u64) {
        self.counted.set(self.counted.get() + count);
        if let Some(ring) = self.ring {
            ring.count_taken(count);
        }
    }
}

/// The newest emission of a keep-latest connection from another process,
/// kept until the loop has read what waits in its rings.
pub(super) struct Newest {
    connection: Arc<LatestConnection>,
    payload: Vec<u8>,
    /// The shared buffers the payload names: the record's leases end
    /// before it is read.
    _held: crate::pool::Held,
}

/// Which keep-latest connection a frame belongs to.
#[derive(PartialEq, Eq, Hash)]
pub(super) struct LatestConnection {
    /// The emitter's id and loop.
    emitter: Option<(Box<str>, Option<Box<str>>)>,
    emitter_instance: u64,
    signal: Box<str>,
    receiver: (Box<str>, u16, u64),
}

/// The newest emissions of keep-latest connections from other processes,
/// in the order their connections first came up in the pass.
#[derive(Default)]
pub(super) struct NewestValues {
    values: Vec<Newest>,
    index: rustc_hash::FxHashMap<Arc<LatestConnection>, usize>,
}

/// How a record ended, for what it held that no slot took.
enum Rest {
    /// Everything was handed to slots.
    None,
    /// The loop stopped (or a slot failed) part-way.
    AfterStop,
    /// A frame could not be decoded; what follows it cannot be framed.
    Corrupt,
}

/// What a record from another program may carry: signals (as plain
/// deliveries: a reply route names a call of this process tree, which no
/// other program may answer), emissions on behalf of an emitter, and the
/// commands a handle sends to a loop (detach, subscribe, block). Nothing
/// that moves, keeps or revives objects.
fn admitted(frame: Frame<'_>) -> Option<Frame<'_>> {
    match frame {
        Frame::Signal { .. } => {
            let mut frame = frame;
            if let Frame::Signal { reply, .. } = &mut frame {
                *reply = None;
            }
            Some(frame)
        }
        Frame::EmitRequest { .. } => Some(frame),
        Frame::Command(
            Command::Detach { .. } | Command::Subscribe { .. } | Command::Block { .. },
        ) => Some(frame),
        Frame::Command(_) => None,
    }
}

/// Where a record came from, for reports.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// Another process of the tree, by its ring.
    Process(crate::protocol::ProcessId),
    /// The parent, before this process started.
    Parent,
    /// Another program, over the network.
    Program(&'a str),
}

impl std::fmt::Display for Source<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Process(process) => write!(f, "process {process}"),
            Source::Parent => f.write_str("the parent process"),
            Source::Program(program) => write!(f, "program {program} over the network"),
        }
    }
}

/// Gives back the shared buffers a record (or packet) leased to this
/// process, once nothing in it can be decoded any more.
fn end_leases(record: &[u8]) {
    if wire::has_leases(record) {
        crate::pool::end_leases(record);
    }
}

impl EventLoop {
    /// Reads the rings of other processes, up to `budget` records; returns
    /// how many it handled.
    pub(super) fn drain_rings(&mut self, budget: usize) -> usize {
        if self.inbox.rings.is_empty() {
            return 0;
        }
        // Out of `self` while their records are dispatched (which needs
        // `&mut self`); rings only arrive through the queue, not meanwhile.
        let mut rings = std::mem::take(&mut self.inbox.rings);
        let mut handled = 0;
        let mut broken = Vec::new();
        for (index, ring) in rings.iter_mut().enumerate() {
            while handled < budget && !self.stopping() {
                let Some(next) = ring.consumer.next() else {
                    break;
                };
                let record = match next {
                    Ok(record) => record,
                    Err(corrupt) => {
                        tracing::error!(
                            event_loop = self.handle.name(),
                            from = ring.from,
                            "event loop `{}`: the ring from process {} is corrupt ({}); it is \
                             closed",
                            self.handle.name(),
                            ring.from,
                            corrupt.0
                        );
                        broken.push(index);
                        break;
                    }
                };
                // A record too large for the ring is in a segment of its
                // own, which may come after its stub.
                let segment = match wire::as_segment_stub(ring.consumer.body(&record)) {
                    None => None,
                    Some((id, len)) => match ring.take_segment(id) {
                        Some(segment) if segment.len() as u64 >= len => Some((segment, len)),
                        Some(segment) => {
                            tracing::error!(
                                event_loop = self.handle.name(),
                                from = ring.from,
                                "event loop `{}`: a record of {len} bytes from process {} came \
                                 in a segment of {}; the ring is closed",
                                self.handle.name(),
                                ring.from,
                                segment.len()
                            );
                            broken.push(index);
                            break;
                        }
                        None if ring.waited_too_long(std::time::Instant::now()) => {
                            self.give_up_on_segment(ring, record, id, len);
                            handled += 1;
                            continue;
                        }
                        // Not come yet: the ring waits for it.
                        None => break,
                    },
                };
                let tally = Tally::new(Some(&ring.consumer));
                let body = match &segment {
                    Some((segment, len)) => &segment.bytes()[..*len as usize],
                    None => ring.consumer.body(&record),
                };
                let rest = self.dispatch_frames(
                    body,
                    &tally,
                    Source::Process(ring.from),
                    Some(&mut ring.heads),
                );
                let left = u64::from(record.signals).saturating_sub(tally.counted.get());
                self.drop_rest(&tally, left, rest);
                end_leases(body);
                if let Some((segment, len)) = segment {
                    drop(segment);
                    ring.consumer.count_large_freed(len);
                }
                ring.consumer.release(record);
                handled += 1;
            }
        }
        for index in broken.into_iter().rev() {
            rings.swap_remove(index).close();
        }
        // A ring whose producer is done (or whose process ended) goes once
        // it is read.
        rings.retain(|ring| {
            let done = ring.orphaned || ring.consumer.producer_closed();
            !(done && ring.consumer.is_empty())
        });
        rings.append(&mut self.inbox.rings);
        self.inbox.rings = rings;
        self.deliver_newest();
        handled
    }

    /// Drops the signals of a stub whose segment never came (its process
    /// died between the two, or a machine swamped past patience), counted.
    fn give_up_on_segment(
        &mut self,
        ring: &mut InboundRing,
        record: crate::sys::ring::Record,
        id: u64,
        len: u64,
    ) {
        let signals = u64::from(record.signals);
        ring.consumer.count_taken(signals);
        ring.consumer.count_large_freed(len);
        ring.done_with(id);
        ring.consumer.release(record);
        let from = ring.from;
        self.handle
            .peer()
            .drops()
            .record(signals, DropReason::Gone, || {
                format!(
                    "a record of {len} bytes from process {from} whose shared memory never came"
                )
            });
    }

    /// Keeps `value` as the newest of its keep-latest connection, in place
    /// of an older one that waits (and of `replaced` older ones of its
    /// frame): what a reading pass finds waiting, only the newest of it
    /// reaches the slot.
    fn keep_newest(&mut self, value: Newest, replaced: usize) {
        let mut replaced = replaced as u64;
        let newest = &mut self.newest;
        match newest.index.get(&value.connection) {
            Some(&at) => {
                newest.values[at] = value;
                replaced += 1;
            }
            None => {
                newest
                    .index
                    .insert(value.connection.clone(), newest.values.len());
                newest.values.push(value);
            }
        }
        if replaced > 0 {
            let drops = self.handle.peer().drops();
            drops.record(replaced, DropReason::Replaced, || {
                "signals of a keep-latest connection from another process".to_owned()
            });
        }
    }

    /// Hands the newest emissions of keep-latest connections to their
    /// slots (counted as taken already, when they were read). They were
    /// read before any stop the pass met: a requested stop delivers them,
    /// as it delivers what came before it; a failed slot or Ctrl-C drops
    /// them.
    fn deliver_newest(&mut self) {
        if self.newest.values.is_empty() {
            return;
        }
        let NewestValues { values, .. } = std::mem::take(&mut self.newest);
        for newest in values {
            let connection = &newest.connection;
            if self.stopping() && self.state.stop != Some(super::StopCause::Requested) {
                self.handle
                    .peer()
                    .drops()
                    .record(1, DropReason::AfterStop, || {
                        format!("signal `{}` of a keep-latest connection", connection.signal)
                    });
                continue;
            }
            let (object, slot, instance) = &connection.receiver;
            let receivers = [(&**object, *slot, *instance)];
            let items = [newest.payload.as_slice()];
            let tally = Tally::new(None);
            self.dispatch(Incoming {
                sender: connection.emitter.as_ref().map(|(id, loop_name)| Sender {
                    id,
                    loop_name: loop_name.as_deref(),
                    instance: connection.emitter_instance,
                    signal: &connection.signal,
                }),
                signal: &connection.signal,
                receivers: Receivers::Remote(&receivers),
                broadcast: false,
                reply: None,
                request: None,
                payloads: Payloads::Encoded {
                    items: &items,
                    tally: &tally,
                },
            });
        }
    }

    /// Handles a packet of frames from this process's queue (what was
    /// queued before the loop moved here), holding `signals` signals.
    pub(super) fn dispatch_packet(&mut self, bytes: &[u8], signals: u32) {
        let tally = Tally::new(None);
        let rest = self.dispatch_frames(bytes, &tally, Source::Parent, None);
        let left = u64::from(signals).saturating_sub(tally.counted.get());
        self.drop_rest(&tally, left, rest);
        // Packed by the parent, with no lease mark.
        crate::pool::end_leases(bytes);
        self.deliver_newest();
    }

    /// Dispatches a record from another program, over the network. It is
    /// untrusted: no shared buffer is decoded from it (nor given back),
    /// and what fails to decode is reported with the sender.
    pub(super) fn dispatch_network(&mut self, bytes: &[u8], signals: u32, from: &str) {
        let tally = Tally::new(None);
        crate::pool::untrusted(|| {
            let rest = self.dispatch_frames(bytes, &tally, Source::Program(from), None);
            let left = u64::from(signals).saturating_sub(tally.counted.get());
            self.drop_rest(&tally, left, rest);
            // Keep-latest values from it are decoded here: untrusted too.
            self.deliver_newest();
        });
    }

    /// Counts what the rings still hold as taken and dropped, and lets them
    /// go: the loop has ended.
    pub(super) fn drop_rings(&mut self) {
        let kept = std::mem::take(&mut self.newest).values.len() as u64;
        if kept > 0 {
            self.handle
                .peer()
                .drops()
                .record(kept, DropReason::AfterStop, || {
                    format!("{kept} signals of keep-latest connections from another process")
                });
        }
        for ring in std::mem::take(&mut self.inbox.rings) {
            let mut consumer = ring.consumer;
            consumer.close();
            while let Some(Ok(record)) = consumer.next() {
                let tally = Tally::new(Some(&consumer));
                self.drop_rest(&tally, u64::from(record.signals), Rest::AfterStop);
                end_leases(consumer.body(&record));
                consumer.release(record);
            }
        }
    }

    /// Counts `left` signals that no slot took as taken and dropped.
    fn drop_rest(&self, tally: &Tally<'_>, left: u64, rest: Rest) {
        if left == 0 {
            return;
        }
        tally.taken(left);
        let reason = match rest {
            Rest::Corrupt => DropReason::Corrupt,
            Rest::AfterStop | Rest::None => DropReason::AfterStop,
        };
        self.handle.peer().drops().record(left, reason, || {
            format!("{left} signals from another process")
        });
    }

    /// Handles the frames of a record (or packet), in order; those of a
    /// ring through the heads it carried lately.
    fn dispatch_frames(
        &mut self,
        bytes: &[u8],
        tally: &Tally<'_>,
        source: Source<'_>,
        heads: Option<&mut wire::Heads>,
    ) -> Rest {
        let mut reader = wire::Reader::new(bytes);
        let Some(heads) = heads else {
            // The parent's packets and other programs' records: read plainly.
            for frame in reader {
                if let Err(rest) = self.handle_frame(frame, tally, source) {
                    return rest;
                }
            }
            return Rest::None;
        };
        loop {
            let Some(frame) = reader.next_cached(heads) else {
                break;
            };
            if let Err(rest) = self.handle_frame(frame, tally, source) {
                return rest;
            }
            if let Some(head) = reader.take_head() {
                heads.learn(head);
            }
        }
        Rest::None
    }

    /// Applies a frame, or reports one that could not be decoded. `Err`
    /// ends the record: it cannot be framed further, or the loop stops.
    fn handle_frame(
        &mut self,
        frame: Result<Frame<'_>, crate::error::DecodeError>,
        tally: &Tally<'_>,
        source: Source<'_>,
    ) -> Result<(), Rest> {
        match frame {
            Ok(frame) => match source {
                Source::Program(from) => match admitted(frame) {
                    Some(frame) => self.apply_frame(frame, tally),
                    None => tracing::warn!(
                        event_loop = self.handle.name(),
                        from,
                        "a command from program {from} over the network is not one a \
                         program may send: ignored"
                    ),
                },
                _ => self.apply_frame(frame, tally),
            },
            Err(error) => {
                // Anyone who reaches the network can send garbage:
                // reported once a second at most, with how many more.
                static FROM_NETWORK: std::sync::LazyLock<crate::util::RateLimit> =
                    std::sync::LazyLock::new(|| {
                        crate::util::RateLimit::new(std::time::Duration::from_secs(1))
                    });
                let mut suppressed = 0;
                if let Source::Program(_) = source {
                    match FROM_NETWORK.allow() {
                        Some(count) => suppressed = count,
                        None => {
                            FROM_NETWORK.suppress();
                            return Err(Rest::Corrupt);
                        }
                    }
                }
                tracing::error!(
                    event_loop = self.handle.name(),
                    %error,
                    %source,
                    suppressed,
                    "event loop `{}`: a record from {source} cannot be decoded ({error}); \
                     the rest of it is dropped",
                    self.handle.name(),
                );
                return Err(Rest::Corrupt);
            }
        }
        if self.state.stop.is_some() {
            return Err(Rest::AfterStop);
        }
        Ok(())
    }

    /// Applies one frame.
    fn apply_frame(&mut self, frame: Frame<'_>, tally: &Tally<'_>) {
        match frame {
            Frame::Signal {
                emitter_loop,
                emitter,
                emitter_instance,
                signal,
                receivers,
                latest: true,
                payloads,
                ..
            } => {
                tally.taken(payloads.len() as u64);
                let (Some(&receiver), Some(&newest)) = (receivers.first(), payloads.last()) else {
                    return;
                };
                let value = Newest {
                    connection: Arc::new(LatestConnection {
                        emitter: emitter.map(|id| (id.into(), emitter_loop.map(Into::into))),
                        emitter_instance,
                        signal: signal.into(),
                        receiver: (receiver.0.into(), receiver.1, receiver.2),
                    }),
                    payload: newest.to_vec(),
                    _held: crate::pool::Held::of([newest]),
                };
                let replaced = payloads.len() - 1;
                self.keep_newest(value, replaced);
            }
            Frame::Signal {
                emitter_loop,
                emitter,
                emitter_instance,
                signal,
                receivers,
                broadcast,
                reply,
                payloads,
                ..
            } => self.dispatch(Incoming {
                sender: emitter.map(|id| Sender {
                    id,
                    loop_name: emitter_loop,
                    instance: emitter_instance,
                    signal,
                }),
                signal,
                receivers: Receivers::Remote(&receivers),
                broadcast,
                request: None,
                reply: reply.map(|(process, call)| crate::protocol::ReplyRoute { process, call }),
                payloads: Payloads::Encoded {
                    items: &payloads,
                    tally,
                },
            }),
            Frame::EmitRequest {
                emitter,
                instance,
                signal,
                payloads,
            } => {
                tally.taken(payloads.len() as u64);
                // Quietly nothing if the emitter was detached (the signal
                // is an emission of that object, not of its id).
                let Some(shared) = self.local_object(emitter, instance) else {
                    return;
                };
                let items = payloads.iter().map(|payload| payload.to_vec()).collect();
                // The shared buffers they name, held here: the record's
                // leases end before these are read.
                let held = crate::pool::Held::of(payloads.iter().copied());
                crate::connection::emit(&shared, signal, || {
                    crate::payload::Args::encoded(items, held)
                });
            }
            Frame::Command(command) => self.apply_command(command),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    use proptest::prelude::*;

    use crate::codec::Encoder;
    use crate::command::Command;
    use crate::connection::{Change, Delivery, ReceiverRef};
    use crate::event_loop::EventLoop;
    use crate::sys::ring::{Consumer, Producer};
    use crate::transport::{Envelope, InboundRing};
    use crate::wire::Writer;

    #[crate::event_loop_object]
    struct Target {
        pings: Arc<AtomicU64>,
        /// Invocations of `mark`, the slot no generated record names.
        marks: Arc<AtomicU64>,
    }

    #[crate::event_loop_object]
    impl Target {
        #[slot]
        fn ping(&mut self) {
            self.pings.fetch_add(1, Ordering::SeqCst);
        }

        #[slot]
        fn text(&mut self, text: String, number: i64) {
            let _ = (text, number);
        }

        #[slot]
        fn bytes(&mut self, bytes: Vec<u8>) {
            let _ = bytes;
        }

        #[slot]
        fn mark(&mut self) {
            self.marks.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// An object whose signal commands connect.
    #[crate::event_loop_object]
    struct Emitter;

    #[crate::event_loop_object]
    impl Emitter {
        #[signal]
        fn fired();
    }

    /// A record of one signal to `target`'s `ping`, with a reply route.
    fn ping_record(reply: Option<(u64, u64)>) -> Vec<u8> {
        let receiver = ReceiverRef {
            object: "target".into(),
            slot: 0,
            instance: 0,
            lease: None,
        };
        let mut record = Vec::new();
        Writer::new(&mut Encoder::growing(&mut record))
            .signal(
                Some("elsewhere"),
                Some(("caller", 1)),
                "ping",
                [receiver].iter(),
                (false, false),
                reply,
                1,
                |_, buf| {
                    rmp::encode::write_array_len(buf, 0)
                        .map(|_| ())
                        .map_err(|error| crate::error::EncodeError(error.to_string()))
                },
            )
            .unwrap();
        record
    }

    /// A loop `name` with a `Target` "target" on it, and its count of pings.
    fn loop_with_target(name: &str) -> (EventLoop, Arc<AtomicU64>) {
        let event_loop = EventLoop::builder(name)
            .catch_interrupt(false)
            .build()
            .unwrap();
        let pings = Arc::new(AtomicU64::new(0));
        let target = Target {
            pings: pings.clone(),
            marks: Arc::default(),
        };
        event_loop.add_with_id("target", target).unwrap();
        (event_loop, pings)
    }

    /// Runs `event_loop` until `done`, for a few rounds at most.
    fn run_until(event_loop: &mut EventLoop, done: impl Fn() -> bool) {
        for _ in 0..16 {
            assert!(event_loop.process_events().is_none(), "the loop ended");
            if done() {
                return;
            }
        }
        panic!("not done after 16 rounds");
    }

    /// A signal from another program over the network is delivered, but
    /// its reply route is not followed: it could answer (with its own
    /// bytes) a call this process waits on. The same record from a process
    /// of the tree answers the call.
    #[test]
    fn a_record_from_the_network_answers_no_call() {
        let (mut event_loop, pings) = loop_with_target("network_reply_loop");
        let answered = Arc::new(AtomicU64::new(0));
        let call = || {
            let answered = answered.clone();
            crate::call::register(
                "target.ping".into(),
                "elsewhere".into(),
                std::time::Duration::from_secs(600),
                Box::new(move |_| {
                    answered.fetch_add(1, Ordering::SeqCst);
                }),
            )
        };
        let inbox = event_loop.peer().local_inbox().unwrap();

        let route = call();
        let forged = Envelope::Network {
            bytes: ping_record(Some((route.process, route.call))),
            signals: 1,
            from: "intruder".into(),
        };
        assert!(inbox.send(forged).is_ok());
        run_until(&mut event_loop, || pings.load(Ordering::SeqCst) == 1);
        assert_eq!(
            answered.load(Ordering::SeqCst),
            0,
            "a program answered a call"
        );
        assert!(crate::call::cancel(route.call), "the call no longer waits");

        let route = call();
        let trusted = Envelope::Frames {
            bytes: ping_record(Some((route.process, route.call))),
            signals: 1,
        };
        assert!(inbox.send(trusted).is_ok());
        run_until(&mut event_loop, || pings.load(Ordering::SeqCst) == 2);
        assert_eq!(answered.load(Ordering::SeqCst), 1);
    }

    /// Another program cannot change this program's connections in band
    /// (that goes through the network's control, which checks
    /// signatures); the same command from a process of the tree does.
    #[test]
    fn a_record_from_the_network_changes_no_connection() {
        let name = "network_connection_loop";
        let (mut event_loop, pings) = loop_with_target(name);
        let emitter = event_loop.add_with_id("emitter", Emitter).unwrap();
        let connect = || {
            crate::wire::command_packet(Command::Connection {
                emitter: "emitter".into(),
                signal: 0,
                event_loop: name.into(),
                change: Change::Connect(
                    ReceiverRef {
                        object: "target".into(),
                        slot: 0,
                        instance: 0,
                        lease: None,
                    },
                    Delivery::FanOut,
                ),
            })
        };
        let inbox = event_loop.peer().local_inbox().unwrap();
        let forged = Envelope::Network {
            bytes: connect(),
            signals: 0,
            from: "intruder".into(),
        };
        assert!(inbox.send(forged).is_ok());
        // A marker after it: once it ran, the command before it was seen.
        let marker = Envelope::Network {
            bytes: ping_record(None),
            signals: 1,
            from: "intruder".into(),
        };
        assert!(inbox.send(marker).is_ok());
        run_until(&mut event_loop, || pings.load(Ordering::SeqCst) == 1);
        assert_eq!(
            emitter.fired().receivers().unwrap(),
            0,
            "a program connected"
        );

        let trusted = Envelope::Frames {
            bytes: connect(),
            signals: 0,
        };
        assert!(inbox.send(trusted).is_ok());
        run_until(&mut event_loop, || {
            emitter.fired().receivers().unwrap() == 1
        });
    }

    /// What another process might send: garbage, or frames with random
    /// receivers, slots and payloads.
    fn packet() -> impl Strategy<Value = Vec<u8>> {
        let garbage = prop::collection::vec(any::<u8>(), 0..200);
        let frame = (
            prop::sample::select(vec!["target", "missing", "frames_loop", ""]),
            // Any slot but 3, the mark the test counts (a well-formed frame
            // to it would be delivered); 4 and 5 are none of the target's.
            prop::sample::select(vec![0u16, 1, 2, 4, 5]),
            any::<(bool, bool)>(),
            prop::option::of((0u64..3, any::<u64>())),
            prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..4),
        )
            .prop_map(|(receiver, slot, flags, reply, payloads)| {
                let mut packet = Vec::new();
                let receiver = ReceiverRef {
                    object: receiver.into(),
                    slot,
                    instance: 0,
                    lease: None,
                };
                let _ = Writer::new(&mut Encoder::growing(&mut packet)).signal(
                    Some("elsewhere"),
                    Some(("emitter", 3)),
                    "noise",
                    [receiver].iter(),
                    flags,
                    reply,
                    payloads.len(),
                    |index, buf| {
                        std::io::Write::write_all(buf, &payloads[index])
                            .map_err(|error| crate::error::EncodeError(error.to_string()))
                    },
                );
                packet
            });
        prop_oneof![garbage, frame]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Bad records from another process reach the dispatch path without
        /// a panic or a hang, and the loop goes on delivering.
        #[test]
        fn bad_packets_leave_the_loop_running(packets in prop::collection::vec(packet(), 1..6)) {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let name = format!("frames_loop_{}", NEXT.fetch_add(1, Ordering::Relaxed));
            let mut event_loop = EventLoop::builder(name).catch_interrupt(false).build().unwrap();
            let marks = Arc::new(AtomicU64::new(0));
            let target = Target { pings: Arc::default(), marks: marks.clone() };
            let target = event_loop.add_with_id("target", target).unwrap();
            // Another process's ring, with these records in it.
            let (mut producer, shared) = Producer::create(1 << 16, 1000).unwrap();
            for (count, packet) in packets.iter().enumerate() {
                producer
                    .write(count as u32, false, |out| {
                        std::io::Write::write_all(out, packet)
                            .map_err(|error| crate::error::EncodeError(error.to_string()))
                    })
                    .unwrap();
            }
            let ring = InboundRing::new(7, Consumer::open(shared).unwrap());
            assert!(event_loop.peer().local_inbox().unwrap().send(Envelope::Ring(Box::new(ring))).is_ok());
            target.mark().invoke(()).unwrap();
            for _ in 0..8 {
                prop_assert!(event_loop.process_events().is_none(), "the loop ended");
                if marks.load(Ordering::SeqCst) == 1 {
                    break;
                }
            }
            prop_assert_eq!(marks.load(Ordering::SeqCst), 1);
        }
    }
}
