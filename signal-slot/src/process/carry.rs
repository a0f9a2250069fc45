//! Loops carried to a child with its start: [`EventLoopProcess::carry`].

use crate::error::Error;
use crate::event_loop::EventLoop;
use crate::transport::routes;

use super::{EventLoopProcess, State};

/// The loops a process carries to its child.
#[derive(Default)]
pub(super) struct Carried {
    /// Until the start.
    pub(super) loops: Vec<EventLoop>,
    /// Their handles, to let their names go with the process.
    pub(super) handles: Vec<crate::event_loop::LoopHandle>,
}

impl EventLoopProcess {
    /// Carries `event_loop`, a loop of this process that has not run, to
    /// the child when it starts: the loop, its objects, their connections
    /// and what was queued for it go with the child (by fork, or packed
    /// for spawn as the process's own loop is), and every handle to it,
    /// in any process, reaches it there. In the child, take it with
    /// [`EventLoop::take_carried`] (in the init function, say) and run it
    /// where the child wants, on a thread of its own for instance.
    ///
    /// From this call on, other processes that send to the loop send to
    /// the child (what they send waits for it, within the loop's
    /// capacity), as they do for the process's own loop.
    ///
    /// ```
    /// use signal_slot::{EventLoop, EventLoopProcess, LoopHandle};
    ///
    /// #[signal_slot::init]
    /// fn run_batcher(_event_loop: &LoopHandle) {
    ///     let mut batcher = EventLoop::take_carried("carry_example_batcher").expect("carried");
    ///     std::thread::spawn(move || batcher.exec());
    /// }
    ///
    /// let batcher = EventLoop::new("carry_example_batcher")?;
    /// let mut learner = EventLoopProcess::new("carry_example_learner")?.init_with(run_batcher, ());
    /// learner.carry(batcher)?;
    /// learner.start()?;
    /// learner.stop();
    /// assert!(learner.join()?.success());
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyStarted`] once the process started; [`Error::Process`]
    /// if the loop ran already or took messages of another process;
    /// [`Error::Io`] if the process tree cannot be told. A loop refused
    /// is dropped, which ends it.
    pub fn carry(&mut self, event_loop: EventLoop) -> Result<(), Error> {
        if !matches!(self.state, State::Ready(_)) {
            return Err(Error::AlreadyStarted(self.name.to_string()));
        }
        event_loop.refuse_carry()?;
        if let Some(channels) = &self.channels {
            routes::carry_to_child(event_loop.peer(), channels).map_err(|source| {
                Error::io(
                    format!(
                        "process `{}`: cannot carry event loop `{}`",
                        self.name,
                        event_loop.name()
                    ),
                    source,
                )
            })?;
            event_loop.peer().bind_for_child(true);
        }
        self.carried.handles.push(event_loop.handle());
        self.carried.loops.push(event_loop);
        Ok(())
    }
}
