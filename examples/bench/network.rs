//! The `network` placement: each receiving loop in a program of its own
//! (this binary run with [`CHILD_FLAG`]), over Zenoh on loopback TCP. The
//! benchmark's process joins once, listening on a free port; each program
//! joins the same system, makes its loop and its receivers, and exports it.

use std::process::{Child, Command};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ::signal_slot::network::{Network, peer_config, zenoh};
use ::signal_slot::{Error, EventLoop, LoopHandle};

use crate::protocol::{Workload, error_text};

/// The first argument of a program: `bench --net-child ENDPOINT SYSTEM
/// LOOP WORKLOAD INDEX`.
pub const CHILD_FLAG: &str = "--net-child";

/// The Zenoh configuration of every program of the placement (signal-slot's
/// and the raw baseline's): `peer_config`, and under congestion a message
/// waits up to 100 ms for room before Zenoh drops it (1 ms by default),
/// since the protocol's windows (64 payloads of 64 KiB in W4) are larger
/// than a link's queue (1 MiB) and a dropped signal fails a run. Both
/// systems get the same.
pub fn bench_config(listen: &[&str], connect: &[&str]) -> Result<zenoh::Config, String> {
    let mut config = peer_config(listen, connect).map_err(error_text)?;
    config
        .insert_json5(
            "transport/link/tx/queue/congestion_control/drop/wait_before_drop",
            "100000",
        )
        .map_err(error_text)?;
    Ok(config)
}

/// This process's membership: the network, its endpoint, its system.
struct Joined {
    network: Network,
    endpoint: String,
    system: String,
}

fn joined() -> Result<&'static Joined, Error> {
    static JOINED: OnceLock<Result<Joined, String>> = OnceLock::new();
    JOINED
        .get_or_init(|| {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|listener| listener.local_addr())
                .map_err(error_text)?
                .port();
            let endpoint = format!("tcp/127.0.0.1:{port}");
            let system = format!("bench-{}", std::process::id());
            let config = bench_config(&[&endpoint], &[])?;
            let network = Network::join(&system, config).map_err(error_text)?;
            Ok(Joined {
                network,
                endpoint,
                system,
            })
        })
        .as_ref()
        .map_err(|error| Error::Network(error.clone()))
}

/// Lets the programs reach `event_loop`, a loop of this process.
pub fn export(event_loop: &LoopHandle) -> Result<(), Error> {
    joined()?.network.export(event_loop)
}

/// A receiving loop in a program of its own.
pub struct Program {
    process: Child,
    handle: LoopHandle,
}

impl Program {
    /// Starts the program of the loop `name`, receiving `workload` as its
    /// `index`th loop, and waits until its loop is reached.
    pub fn start(name: &str, workload: Workload, index: usize) -> Result<Program, Error> {
        let joined = joined()?;
        let exe = std::env::current_exe().map_err(|error| Error::Network(error.to_string()))?;
        let mut process = Command::new(exe)
            .args([CHILD_FLAG, &joined.endpoint, &joined.system, name])
            .args([workload.name(), &index.to_string()])
            .spawn()
            .map_err(|error| Error::Network(error.to_string()))?;
        match joined.network.find_loop(name, Duration::from_secs(30)) {
            Ok(handle) => Ok(Program { process, handle }),
            Err(error) => {
                let _ = process.kill();
                let _ = process.wait();
                Err(error)
            }
        }
    }

    pub fn handle(&self) -> &LoopHandle {
        &self.handle
    }

    /// Waits (up to 20 s) for the program to end once its loop was told to
    /// stop.
    pub fn finish(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self.process.try_wait().map_err(error_text)? {
                Some(status) if status.success() => return Ok(()),
                Some(status) => return Err(format!("receiver program {status}")),
                None if Instant::now() > deadline => {
                    let _ = self.process.kill();
                    let _ = self.process.wait();
                    return Err("receiver program did not stop".to_owned());
                }
                None => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }
}

impl Drop for Program {
    /// A program whose run failed is not left behind.
    fn drop(&mut self) {
        if matches!(self.process.try_wait(), Ok(None)) {
            let _ = self.process.kill();
            let _ = self.process.wait();
        }
    }
}

/// A receiving program: joins, makes its loop and receivers, exports the
/// loop, and runs it until told to stop.
pub fn child(args: &[String]) -> Result<(), String> {
    let [endpoint, system, name, workload, index] = args else {
        return Err(format!(
            "{CHILD_FLAG} takes ENDPOINT SYSTEM LOOP WORKLOAD INDEX"
        ));
    };
    let workload =
        Workload::from_name(workload).ok_or_else(|| format!("unknown workload `{workload}`"))?;
    let index: usize = index.parse().map_err(error_text)?;
    let network = Network::join(system, bench_config(&[], &[endpoint])?).map_err(error_text)?;
    let mut main = EventLoop::builder(name.as_str())
        .catch_interrupt(false)
        .build()
        .map_err(error_text)?;
    crate::signal_slot::add_receivers(&main, workload, index).map_err(error_text)?;
    network.export(&main).map_err(error_text)?;
    main.exec();
    Ok(())
}
