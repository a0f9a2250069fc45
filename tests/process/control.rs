//! Controlling a child process: start, terminate, kill, join, its name and
//! pid, and serial processes that run on this thread.

use std::time::Duration;

use crate::common::process::{Worker, join, parent, run};
use signal_slot::{EventLoopProcess, ProcessExit};

pub fn process_control() {
    let mut idle = EventLoopProcess::new("control_idle").unwrap();
    assert!(matches!(
        idle.join(),
        Err(signal_slot::Error::NotStarted(_))
    ));
    assert!(matches!(
        idle.kill(),
        Err(signal_slot::Error::NotStarted(_))
    ));
    assert_eq!(
        (idle.pid(), idle.is_alive(), idle.name()),
        (None, false, "control_idle")
    );
    idle.start().unwrap();
    assert!(matches!(
        idle.start(),
        Err(signal_slot::Error::AlreadyStarted(_))
    ));
    assert!(idle.is_alive());
    assert_eq!(idle.join_timeout(Duration::from_millis(50)).unwrap(), None);
    idle.terminate().unwrap();
    let exit = join(&mut idle);
    assert_eq!(
        exit,
        ProcessExit::Signaled {
            signal: 15,
            name: "SIGTERM".to_owned()
        }
    );
    assert_eq!(idle.exit_code(), None);
    assert!(
        idle.kill().is_ok(),
        "signalling an ended process does nothing"
    );
    // The name is free again once the handle is gone.
    drop(idle);
    let mut again = EventLoopProcess::new("control_idle").unwrap();
    again.start().unwrap();
    // Dropping a running process stops it.
    let pid = again.pid().unwrap();
    drop(again);
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

pub fn serial_processes_run_on_this_thread() {
    let (log, mut main, probe, source) = parent("serial_proc_main", 2);
    let init_log = log.clone();
    let mut child = EventLoopProcess::new_serial("serial_proc_child")
        .unwrap()
        .init(move |event_loop| init_log.push(format!("init on {}", event_loop.name())));
    let worker = child.add_with_id("w", Worker::new()).unwrap();
    source.text().connect(worker.on_text()).unwrap();
    worker.reply().connect(probe.report()).unwrap();
    child.start().unwrap();
    source.text().emit("hi".to_owned());
    run(&mut main, Duration::from_secs(10));
    assert_eq!(
        log.entries(),
        [
            "init on serial_proc_child".to_owned(),
            format!("w@{}:hi", std::process::id())
        ]
    );
    child.stop();
    let exit = child.join().unwrap();
    assert!(exit.success());
}
