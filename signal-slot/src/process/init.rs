//! A child's init function: what runs in it before its loop.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::event_loop::LoopHandle;
use crate::util::panic_message;

use super::EventLoopProcess;

/// The function a child runs before its loop.
pub(super) type InitFn = Box<dyn FnOnce(&LoopHandle) + Send + 'static>;

/// A process's init function.
pub(super) enum Init {
    /// A closure: it runs in a forked child (or in serial mode).
    Closure(InitFn),
    /// A registered function (`#[signal_slot::init]`) and its arguments:
    /// it runs in a child however it starts. `args` is their MessagePack
    /// (or why they have none), for a child started by spawn; `run` runs
    /// it with them here or in a forked child.
    Registered {
        key: String,
        args: Result<Vec<u8>, String>,
        run: InitFn,
    },
}

impl Init {
    pub(super) fn into_closure(self) -> InitFn {
        match self {
            Init::Closure(run) | Init::Registered { run, .. } => run,
        }
    }
}

/// Drops the parent's copy of a child's init function (its captures are
/// the user's: their `Drop` may panic).
pub(super) fn drop_init(name: &str, init: Option<Init>) {
    if let Some(init) = init
        && let Err(panic) = catch_unwind(AssertUnwindSafe(|| drop(init)))
    {
        tracing::error!(
            process = %name,
            "dropping the init function of process `{name}` in the parent panicked: {}",
            panic_message(&*panic)
        );
    }
}

impl EventLoopProcess {
    /// A function to run in the child, on its loop's thread, before the
    /// loop starts: create objects that must be born there, connect them.
    /// Arguments are whatever the closure captures.
    ///
    /// A closure cannot travel to a process started by spawn (`start`
    /// then fails and says so): use [`init_with`](Self::init_with) for
    /// those.
    pub fn init(mut self, init: impl FnOnce(&LoopHandle) + Send + 'static) -> Self {
        self.init = Some(Init::Closure(Box::new(init)));
        self
    }

    /// An init function registered with `#[signal_slot::init]`, run with
    /// `args` in the child before its loop starts, however the child
    /// starts: by spawn, it is found by name and its arguments travel as
    /// MessagePack.
    ///
    /// ```
    /// use signal_slot::{EventLoopProcess, LoopHandle, event_loop_object};
    ///
    /// #[event_loop_object]
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct Worker { id: u32 }
    ///
    /// #[event_loop_object]
    /// impl Worker {}
    ///
    /// #[signal_slot::init]
    /// fn add_workers(event_loop: &LoopHandle, count: u32) {
    ///     for id in 0..count {
    ///         event_loop.add(Worker { id }).expect("a worker");
    ///     }
    /// }
    ///
    /// let mut workers = EventLoopProcess::new("init_with_example")?.init_with(add_workers, 3);
    /// workers.start()?;
    /// workers.stop();
    /// assert!(workers.join()?.success());
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    pub fn init_with<I: crate::ProcessInit>(mut self, init: I, args: I::Args) -> Self {
        let _ = init;
        let encoded = crate::codec::to_vec(&args);
        self.init = Some(Init::Registered {
            key: I::KEY.to_owned(),
            args: encoded,
            run: Box::new(move |handle: &LoopHandle| I::run(handle, args)),
        });
        self
    }

    /// [`init_with`](Self::init_with) by the init function's name (its
    /// module path and name, as `#[signal_slot::init]` registers it) and
    /// its arguments as MessagePack (an array, an element per argument,
    /// or the one argument itself for a function of one): for a program
    /// that does not have the function, such as a binding to another
    /// language starting a Rust program with
    /// [`spawn_program`](Self::spawn_program). The child looks the name up
    /// among its own init functions; one it does not have ends it with
    /// [`ExitStatus::InitFailed`](crate::ExitStatus::InitFailed) naming it.
    /// By fork or in serial mode the function runs in this executable: one
    /// it does not have fails `start` with [`Error::Process`](crate::Error::Process).
    ///
    /// ```no_run
    /// use signal_slot::EventLoopProcess;
    ///
    /// // `server` registers `#[signal_slot::init] fn serve(event_loop: &LoopHandle, port: u16)`.
    /// let mut server = EventLoopProcess::new("server")?
    ///     .spawn_program("./server", Vec::<String>::new())
    ///     .init_named("server::serve", vec![0xcd, 0x1f, 0x90]); // 8080
    /// server.start()?;
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    pub fn init_named(mut self, name: impl Into<String>, args: Vec<u8>) -> Self {
        let key = name.into();
        let here = key.clone();
        let bytes = args.clone();
        self.init = Some(Init::Registered {
            key,
            args: Ok(args),
            run: Box::new(move |handle: &LoopHandle| {
                if let Err(error) = crate::travel::run_registered_init(&here, handle, &bytes) {
                    panic!("init function `{here}`: {error}");
                }
            }),
        });
        self
    }
}
