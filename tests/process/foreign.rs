//! Objects of a child reached by name, without their types, as a program
//! written in another language reaches them; and a child started with an
//! init function given by name.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::Log;
use crate::common::process::join;
use signal_slot::{
    Context, Delivery, EncodedArgs, EventLoopProcess, EventLoopThread, ExitStatus, ForeignSlot,
    LoopHandle, ProcessExit, event_loop_object,
};

/// Lives in the child: keeps a balance, says when it changes.
#[event_loop_object]
struct Account {
    balance: i64,
}

#[event_loop_object]
impl Account {
    #[signal]
    fn changed(balance: i64, note: String, history: Vec<i64>);

    #[signal]
    fn echoed(bytes: Vec<u8>);

    /// Sends back the argument list it got, as bytes.
    #[slot]
    fn echo_raw(&mut self, ctx: &mut Context<Self>, args: EncodedArgs) {
        ctx.echoed().emit(args.into_bytes());
    }

    #[slot]
    fn deposit(&mut self, ctx: &mut Context<Self>, amount: i64, note: String) {
        self.balance += amount;
        ctx.changed()
            .emit(self.balance, note, vec![amount, self.balance]);
    }
}

/// Opens the account of a child, with its first balance.
#[signal_slot::init]
fn open_account(event_loop: &LoopHandle, balance: i64) {
    event_loop
        .add_with_id("account", Account { balance })
        .expect("a fresh id");
}

/// In the parent: what reaches it undecoded, with its emitter's loop.
#[event_loop_object]
struct Raw {
    seen: Seen,
    log: Log,
}

#[event_loop_object]
impl Raw {
    #[slot]
    fn take(&mut self, ctx: &mut Context<Self>, args: EncodedArgs) {
        let sender = ctx.sender().expect("an emitter");
        let from = format!("{}/{}", sender.loop_name().unwrap_or("-"), sender.id());
        self.seen
            .lock()
            .unwrap()
            .push((from, sender.signal().to_owned(), args.into_bytes()));
        self.log.push("raw");
    }
}

fn msgpack(value: &impl serde::Serialize) -> Vec<u8> {
    rmp_serde::to_vec(value).expect("encodes")
}

/// The parent's side: a loop on a thread with a `Raw` object.
struct Parent {
    home: EventLoopThread,
    take: ForeignSlot,
    seen: Seen,
    log: Log,
}

type Seen = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

impl Parent {
    fn new(name: &str) -> Self {
        let seen = Seen::default();
        let log = Log::default();
        let mut home = EventLoopThread::new(name).unwrap();
        let raw = home
            .add_with_id(
                "raw",
                Raw {
                    seen: seen.clone(),
                    log: log.clone(),
                },
            )
            .unwrap();
        home.start().unwrap();
        let take = ForeignSlot::of(&raw, "take").unwrap();
        Parent {
            home,
            take,
            seen,
            log,
        }
    }

    fn wait_for(&self, count: usize) {
        assert!(
            self.log.wait_for(count, Duration::from_secs(20)),
            "{:?}",
            self.seen.lock().unwrap()
        );
    }
}

/// A child's object found by name (its process asked what it is), a call
/// posted to its slot as MessagePack, its typed signal taken undecoded in
/// the parent: by fork and by spawn.
pub fn an_object_of_a_child_is_reached_by_name() {
    let mut parent = Parent::new("foreign_parent");
    let take = &parent.take;
    let mut child = EventLoopProcess::new("foreign_child")
        .unwrap()
        .init_with(open_account, 100);
    child.start().unwrap();
    let account = child.event_loop().foreign_object("account").unwrap();
    assert_eq!(account.type_name(), "Account");
    assert_eq!(account.signals(), ["changed", "echoed"]);
    assert_eq!(account.slots(), ["echo_raw", "deposit"]);
    assert!(child.event_loop().foreign_object("nobody").is_err());
    account.connect("changed", take, Delivery::FanOut).unwrap();
    let deposit = account.slot("deposit").unwrap();
    deposit
        .post(EncodedArgs::new(msgpack(&(20, "first"))))
        .unwrap();
    // Arguments the slot cannot decode: dropped there, the next one runs.
    deposit
        .post(EncodedArgs::new(msgpack(&("twenty", "bad"))))
        .unwrap();
    deposit
        .post_many(vec![EncodedArgs::new(msgpack(&(-5, "second")))])
        .unwrap();
    parent.wait_for(2);
    let from = "foreign_child/account".to_owned();
    assert_eq!(
        *parent.seen.lock().unwrap(),
        [
            (
                from.clone(),
                "changed".to_owned(),
                // A `Vec<i64>` argument travels as the bytes of its numbers.
                [msgpack(&(120, "first")), bin_of(&[20, 120])].concat_args(),
            ),
            (
                from,
                "changed".to_owned(),
                [msgpack(&(115, "second")), bin_of(&[-5, 115])].concat_args(),
            ),
        ]
    );
    assert!(account.disconnect("changed", take).unwrap());
    assert!(!account.disconnect("changed", take).unwrap());

    // A slot of encoded arguments called through its typed handle from
    // another process gets the bytes given, as it would here.
    account.connect("echoed", take, Delivery::FanOut).unwrap();
    let typed = child.object::<Account>("account").unwrap();
    typed
        .echo_raw()
        .post(EncodedArgs::new(vec![0x91, 0x05]))
        .unwrap();
    parent.wait_for(3);
    assert_eq!(
        parent.seen.lock().unwrap()[2].2,
        [0x91, 0xc4, 2, 0x91, 0x05]
    );
    child.stop();
    assert!(join(&mut child).success());
    parent.home.event_loop().stop();
    assert_eq!(parent.home.join().unwrap(), ExitStatus::Normal);
}

/// The MessagePack `bin` this runtime writes for a `Vec<i64>` argument.
fn bin_of(numbers: &[i64]) -> Vec<u8> {
    let mut bytes = vec![0xc4, u8::try_from(numbers.len() * 8).unwrap()];
    for number in numbers {
        bytes.extend(number.to_le_bytes());
    }
    bytes
}

/// Appends one more argument to an encoded argument list.
trait ConcatArgs {
    fn concat_args(self) -> Vec<u8>;
}

impl ConcatArgs for [Vec<u8>; 2] {
    fn concat_args(self) -> Vec<u8> {
        let [list, extra] = self;
        // A fixarray: one more element.
        let mut bytes = vec![list[0] + 1];
        bytes.extend(&list[1..]);
        bytes.extend(extra);
        bytes
    }
}

/// A program started with an init function named as a string and its
/// arguments as MessagePack; a name the program does not have ends the
/// child with an error that names it.
pub fn a_program_starts_with_an_init_function_given_by_name() {
    let mut parent = Parent::new("named_init_parent");
    let program = std::env::current_exe().unwrap();
    let mut child = EventLoopProcess::new("named_init_child")
        .unwrap()
        .spawn_program(&program, Vec::<String>::new())
        .init_named("process::foreign::open_account", msgpack(&7));
    child.start().unwrap();
    let account = child.event_loop().foreign_object("account").unwrap();
    account
        .connect("changed", &parent.take, Delivery::FanOut)
        .unwrap();
    account
        .slot("deposit")
        .unwrap()
        .post(EncodedArgs::new(msgpack(&(1, "one"))))
        .unwrap();
    parent.wait_for(1);
    assert_eq!(
        parent.seen.lock().unwrap()[0].2,
        [msgpack(&(8, "one")), bin_of(&[1, 8])].concat_args()
    );
    child.stop();
    assert!(join(&mut child).success());

    let mut unknown = EventLoopProcess::new("named_init_unknown")
        .unwrap()
        .spawn_program(&program, Vec::<String>::new())
        .init_named("process::foreign::no_such_init", msgpack(&7));
    // The child may fail before or after `start` returns.
    let outcome = unknown.start().map(|()| join(&mut unknown));
    let message = match outcome {
        Ok(ProcessExit::Exited {
            status: Some(ExitStatus::InitFailed(message)),
            ..
        }) => message,
        Err(error) => error.to_string(),
        other => panic!("{other:?}"),
    };
    parent.home.event_loop().stop();
    assert_eq!(parent.home.join().unwrap(), ExitStatus::Normal);
    assert!(
        message.contains("no init function `process::foreign::no_such_init`"),
        "{message}"
    );

    // By fork, or in serial mode, the function runs in this executable:
    // one it does not have is refused at `start`, and nothing starts.
    for serial in [false, true] {
        let made = if serial {
            EventLoopProcess::new_serial("named_init_here")
        } else {
            EventLoopProcess::new("named_init_here")
        };
        let mut here = made
            .unwrap()
            .start_method(signal_slot::StartMethod::Fork)
            .init_named("process::foreign::no_such_init", msgpack(&7));
        match here.start() {
            Err(signal_slot::Error::Process { message, .. }) => assert!(
                message.contains("no init function `process::foreign::no_such_init`"),
                "{message}"
            ),
            other => panic!("started without its init function: {other:?}"),
        }
        assert!(here.pid().is_none());
    }
}

/// A loop made again under the name of one that ended is the one that
/// children reach, those started before it too, even while the old loop's
/// value still exists.
pub fn a_loop_made_again_under_an_old_name_is_reached() {
    let mut previous: Option<signal_slot::EventLoop> = None;
    for round in 0..3 {
        let mut child = EventLoopProcess::new(format!("reused_name_child{round}"))
            .unwrap()
            .init_with(open_account, 0);
        child.start().unwrap();
        let seen = Seen::default();
        let log = Log::default();
        let mut main = signal_slot::EventLoop::new("reused_name_parent").unwrap();
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
        // The loop that ended under this name goes only now.
        drop(previous.take());
        let account = child.event_loop().foreign_object("account").unwrap();
        account.connect("changed", &take, Delivery::FanOut).unwrap();
        account
            .slot("deposit")
            .unwrap()
            .post(EncodedArgs::new(msgpack(&(round, "again"))))
            .unwrap();
        let handle = main.handle();
        let stopper = std::thread::spawn(move || {
            let arrived = log.wait_for(1, Duration::from_secs(20));
            handle.stop();
            arrived
        });
        main.exec();
        assert!(stopper.join().unwrap(), "round {round}: nothing arrived");
        child.stop();
        assert!(join(&mut child).success());
        previous = Some(main);
    }
}
