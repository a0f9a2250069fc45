//! Objects reached by name, without their types (`ForeignObject`,
//! `ForeignSlot`, `EncodedArgs`): what a binding to another language uses.

use std::sync::{Arc, Mutex};

use signal_slot::{
    Context, Delivery, DropReason, EncodedArgs, Error, EventLoop, ForeignObject, ForeignSlot,
    event_loop_object,
};

use crate::common::Log;

/// Typed slots, reached by name.
#[event_loop_object]
struct Account {
    log: Log,
}

#[event_loop_object]
impl Account {
    #[signal]
    fn changed(balance: i64, note: String);

    #[signal]
    fn closed();

    #[slot]
    fn deposit(&mut self, amount: i64, note: String, tags: Vec<String>) {
        self.log
            .push(format!("deposit {amount} {note} {}", tags.join(",")));
    }

    #[slot]
    fn samples(&mut self, values: Vec<f32>) {
        self.log.push(format!("samples {values:?}"));
    }
}

/// What a `Raw` saw: emitter, signal, arguments.
type Seen = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

/// Takes any signal undecoded, with its emitter and name.
#[event_loop_object]
struct Raw {
    seen: Seen,
    log: Log,
}

#[event_loop_object]
impl Raw {
    #[slot]
    fn take(&mut self, ctx: &mut Context<Self>, args: EncodedArgs) {
        let sender = ctx.sender().expect("a signal has an emitter");
        let entry = (
            sender.id().to_owned(),
            sender.signal().to_owned(),
            args.into_bytes(),
        );
        self.seen.lock().unwrap().push(entry);
        self.log.push("raw");
    }
}

fn msgpack(value: &impl serde::Serialize) -> Vec<u8> {
    rmp_serde::to_vec(value).expect("encodes")
}

#[test]
fn an_object_is_reached_by_name_and_its_slots_decode_what_is_posted() {
    let log = Log::default();
    let mut main = EventLoop::new("foreign_post").unwrap();
    main.add_with_id("account", Account { log: log.clone() })
        .unwrap();
    let account = main.handle().foreign_object("account").unwrap();
    assert_eq!(account.id(), "account");
    assert_eq!(account.type_name(), "Account");
    assert_eq!(account.signals(), ["changed", "closed"]);
    assert_eq!(account.slots(), ["deposit", "samples"]);

    let deposit = account.slot("deposit").unwrap();
    assert_eq!(deposit.name(), "deposit");
    deposit
        .post(EncodedArgs::new(msgpack(&(40, "salary", ["a", "b"]))))
        .unwrap();
    // A batch, in one message, in order.
    deposit
        .post_many(vec![
            EncodedArgs::new(msgpack(&(1, "x", Vec::<String>::new()))),
            EncodedArgs::new(msgpack(&(2, "y", ["z"]))),
        ])
        .unwrap();
    // Numbers as a MessagePack array (as another language writes them)
    // and as the bytes of their values (as this runtime writes a `Vec`).
    let samples = account.slot("samples").unwrap();
    samples
        .post(EncodedArgs::new(msgpack(&([1.5f64, -2.0],))))
        .unwrap();
    let mut bin = vec![0x91, 0xc4, 8];
    bin.extend(0.5f32.to_le_bytes());
    bin.extend(4.0f32.to_le_bytes());
    samples.post(EncodedArgs::new(bin)).unwrap();
    // Arguments that do not decode into the slot's types: the slot does
    // not run, the loop goes on.
    samples
        .post(EncodedArgs::new(msgpack(&("not numbers",))))
        .unwrap();
    deposit
        .post(EncodedArgs::new(msgpack(&(3, "after", ["bad"]))))
        .unwrap();
    main.process_events();
    assert_eq!(
        log.entries(),
        [
            "deposit 40 salary a,b",
            "deposit 1 x ",
            "deposit 2 y z",
            "samples [1.5, -2.0]",
            "samples [0.5, 4.0]",
            "deposit 3 after bad",
        ]
    );
}

#[test]
fn unknown_names_are_errors_that_name_what_is_there() {
    let mut main = EventLoop::new("foreign_names").unwrap();
    let log = Log::default();
    let handle = main.add_with_id("account", Account { log }).unwrap();
    let account = main.handle().foreign_object("account").unwrap();
    let error = account.slot("withdraw").unwrap_err();
    assert!(
        matches!(&error, Error::NoMember { what: "slot", name, .. } if name == "withdraw"),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("`account` (a `Account`) has no slot `withdraw`")
    );
    // A slot's name is not a signal's.
    let raw = main
        .add_with_id(
            "raw",
            Raw {
                seen: Arc::default(),
                log: Log::default(),
            },
        )
        .unwrap();
    let take = ForeignSlot::of(&raw, "take").unwrap();
    let error = account
        .connect("deposit", &take, Delivery::FanOut)
        .unwrap_err();
    assert!(
        matches!(&error, Error::NoMember { what: "signal", .. }),
        "{error:?}"
    );
    let missing = main.handle().foreign_object("nobody").unwrap_err();
    assert!(
        matches!(missing, Error::ObjectNotFound { .. }),
        "{missing:?}"
    );
    // A detached object is not found.
    handle.detach().unwrap();
    main.process_events();
    assert!(main.handle().foreign_object("account").is_err());
}

#[test]
fn a_slot_of_encoded_args_takes_any_signal_with_its_emitter_and_name() {
    let log = Log::default();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut main = EventLoop::new("foreign_raw").unwrap();
    let account = main
        .add_with_id("account", Account { log: log.clone() })
        .unwrap();
    let raw = main
        .add_with_id(
            "raw",
            Raw {
                seen: seen.clone(),
                log: log.clone(),
            },
        )
        .unwrap();
    let take = ForeignSlot::of(&raw, "take").unwrap();
    let foreign = ForeignObject::new(&account);
    foreign.connect("changed", &take, Delivery::FanOut).unwrap();
    foreign.connect("closed", &take, Delivery::FanOut).unwrap();
    // A typed receiver too, so that the emission is cloned for one of them.
    let second = main
        .add_with_id(
            "second",
            Raw {
                seen: seen.clone(),
                log: log.clone(),
            },
        )
        .unwrap();
    foreign
        .connect(
            "changed",
            &ForeignSlot::of(&second, "take").unwrap(),
            Delivery::FanOut,
        )
        .unwrap();

    account.changed().emit(-5, "fee".to_owned());
    account
        .changed()
        .emit_many([(7, "a".to_owned()), (8, "b".to_owned())]);
    account.closed().emit();
    main.process_events();

    let seen = seen.lock().unwrap().clone();
    let expect = |signal: &str, bytes: Vec<u8>| ("account".to_owned(), signal.to_owned(), bytes);
    assert_eq!(
        seen,
        [
            expect("changed", msgpack(&(-5, "fee"))),
            expect("changed", msgpack(&(-5, "fee"))),
            expect("changed", msgpack(&(7, "a"))),
            expect("changed", msgpack(&(7, "a"))),
            expect("changed", msgpack(&(8, "b"))),
            expect("changed", msgpack(&(8, "b"))),
            expect("closed", vec![0x90]),
        ]
    );

    // Disconnected: nothing more, and a second disconnect finds nothing.
    assert!(foreign.disconnect("changed", &take).unwrap());
    assert!(!foreign.disconnect("changed", &take).unwrap());
    log.clear();
    account.changed().emit(1, "only the second".to_owned());
    main.process_events();
    assert_eq!(log.entries(), ["raw"]);
}

#[test]
fn a_post_meets_the_capacity_and_its_drops_are_counted() {
    let log = Log::default();
    let mut main = EventLoop::builder("foreign_full")
        .capacity(2)
        .build()
        .unwrap();
    main.add_with_id("account", Account { log: log.clone() })
        .unwrap();
    let deposit = main
        .handle()
        .foreign_object("account")
        .unwrap()
        .slot("deposit")
        .unwrap();
    let call = |n: i64| EncodedArgs::new(msgpack(&(n, "n", Vec::<String>::new())));
    let outcomes: Vec<_> = (0..5).map(|n| deposit.post(call(n))).collect();
    assert_eq!(
        outcomes,
        [
            Ok(()),
            Ok(()),
            Err(DropReason::Full),
            Err(DropReason::Full),
            Err(DropReason::Full)
        ]
    );
    assert_eq!(main.handle().dropped_signals(), 3);
    main.process_events();
    assert_eq!(log.entries(), ["deposit 0 n ", "deposit 1 n "]);
    // After the loop ended: gone, and counted.
    let handle = main.handle();
    drop(main);
    assert_eq!(deposit.post(call(9)), Err(DropReason::Gone));
    assert_eq!(handle.dropped_signals(), 4);
}
