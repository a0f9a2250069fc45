//! The parent's watch over a child: waits for it to end, records how, and
//! emits `finished`.

use std::sync::Arc;

use ipc_channel::ipc::IpcReceiver;

use crate::object::Handle;
use crate::platform::{self, RawExit};
use crate::status::ExitStatus;
use crate::transport::routes::{self, ProcessId};

use super::exit::{ExitRecord, ProcessExit};
use super::spawn::Spawned;

/// Emits `finished` when a child process ends; lives in the parent, on no
/// loop.
#[crate::event_loop_object]
pub(crate) struct ProcessMonitor;

#[crate::event_loop_object]
impl ProcessMonitor {
    #[signal]
    fn finished(exit: ProcessExit);

    #[signal]
    fn deaf(report: super::hearing::Deaf);
}

/// A child to watch.
pub(super) struct Watch {
    pub(super) name: Arc<str>,
    pub(super) pid: u32,
    /// Its number in the tree.
    pub(super) process: ProcessId,
    pub(super) record: Arc<ExitRecord>,
    pub(super) monitor: Handle<ProcessMonitor>,
    /// Where it reports how its loop ended.
    pub(super) report: IpcReceiver<ExitStatus>,
    /// What the parent keeps of a child started by spawn until it ends.
    pub(super) spawned: Option<Spawned>,
}

/// Waits for the child in a thread of its own and reports its end. The
/// thread ends once everything about the child's end is done (its exit
/// recorded, the others told, `finished` emitted).
pub(super) fn spawn(watch: Watch) -> Option<std::thread::JoinHandle<()>> {
    let Watch {
        name,
        pid,
        process,
        record,
        monitor,
        report,
        spawned,
    } = watch;
    let thread_name = format!("wait:{name}");
    let watch = move || {
        // Waits without reaping: until the exit is recorded below, the pid
        // cannot be reused, so `kill` cannot hit another process.
        let raw = platform::wait(pid);
        let status = report.try_recv().ok();
        let result = match raw {
            Ok(RawExit::Code(code)) => ProcessExit::Exited { code, status },
            Ok(RawExit::Signal(signal)) => ProcessExit::Signaled {
                signal,
                name: platform::signal_name(signal).to_owned(),
            },
            Err(error) => {
                tracing::error!(process = %name, %error, "cannot wait for process `{name}`");
                ProcessExit::Exited {
                    code: -1,
                    status: None,
                }
            }
        };
        // What it held of shared buffers goes back before joins return.
        crate::pool::process_ended(process);
        record.record(result.clone(), || {
            if let Err(error) = platform::reap(pid) {
                tracing::error!(process = %name, %error, "cannot reap process `{name}`");
            }
        });
        // Its lifeline can go now.
        drop(spawned);
        let _working = platform::working();
        // The exit is recorded (joins return); what follows must not take
        // the thread down unseen.
        let announced = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // Whatever was in transit to its loop is lost; the others hear
            // of it.
            routes::process_ended(process);
            if result.success() {
                tracing::debug!(process = %name, pid, "process `{name}` {result}");
            } else {
                tracing::warn!(process = %name, pid, "process `{name}` {result}");
            }
            monitor.finished().emit(result);
        }));
        if let Err(panic) = announced {
            tracing::error!(
                process = %name,
                "announcing the end of process `{name}` failed: {}",
                crate::util::panic_message(&*panic)
            );
        }
    };
    std::thread::Builder::new()
        .name(thread_name)
        .spawn(watch)
        .map_err(|error| {
            tracing::error!(%error, "cannot start the thread that waits for a process");
        })
        .ok()
}
