//! The raw floor of the `network` placement: plain Zenoh pub/sub between
//! this process and programs that re-execute this binary with
//! [`CHILD_FLAG`], on the same protocol and the same congestion control
//! (drop) as signal-slot's records.

use std::process::{Child, Command};
use std::time::Duration;

use ::signal_slot::network::zenoh;
use zenoh::Wait;
use zenoh::qos::CongestionControl;

use crate::protocol::{
    Receipts, RunResult, Workload, ack_message, drive_ping_pong, drive_stream, error_text,
    read_blob, read_stamp,
};

pub const NAME: &str = "zenoh pub/sub";

/// The first argument of a program: `bench --raw-zenoh-child ENDPOINT KEY
/// WORKLOAD`.
pub const CHILD_FLAG: &str = "--raw-zenoh-child";

/// How long a run waits for an ack before it counts as having lost one.
const ACK_LIMIT: Duration = Duration::from_secs(30);

/// The program's side: echoes pings (W1), or checks, counts and acks.
pub fn child(args: &[String]) -> Result<(), String> {
    let [endpoint, key, workload] = args else {
        return Err(format!("{CHILD_FLAG} takes ENDPOINT KEY WORKLOAD"));
    };
    let workload =
        Workload::from_name(workload).ok_or_else(|| format!("unknown workload `{workload}`"))?;
    let session = zenoh::open(crate::network::bench_config(&[], &[endpoint])?)
        .wait()
        .map_err(error_text)?;
    let acks = session
        .declare_publisher(format!("{key}/ack"))
        .congestion_control(CongestionControl::Drop)
        .wait()
        .map_err(error_text)?;
    let data = session
        .declare_subscriber(format!("{key}/data"))
        .wait()
        .map_err(error_text)?;
    // Declared before this: the parent sees the subscriber first.
    acks.put(b"ready".to_vec()).wait().map_err(error_text)?;
    let mut receipts = Receipts::new(workload.ack_every());
    while let Ok(sample) = data.recv() {
        let message = sample.payload().to_bytes();
        if message.as_ref() == b"end" {
            break;
        }
        if workload == Workload::W1 {
            acks.put(message.to_vec()).wait().map_err(error_text)?;
            continue;
        }
        let seq = if workload.sends_blobs() {
            read_blob(&message)
        } else {
            read_stamp(&message)
        };
        if let Some((count, errors)) = receipts.record(seq) {
            acks.put(ack_message(count, errors))
                .wait()
                .map_err(error_text)?;
        }
    }
    Ok(())
}

/// A program, once ready.
struct Peer {
    process: Child,
    data: zenoh::pubsub::Publisher<'static>,
    acks: zenoh::pubsub::Subscriber<zenoh::handlers::FifoChannelHandler<zenoh::sample::Sample>>,
}

fn spawn(
    session: &zenoh::Session,
    endpoint: &str,
    key: String,
    workload: Workload,
) -> Result<Peer, String> {
    let acks = session
        .declare_subscriber(format!("{key}/ack"))
        .wait()
        .map_err(error_text)?;
    let data = session
        .declare_publisher(format!("{key}/data"))
        .congestion_control(CongestionControl::Drop)
        .wait()
        .map_err(error_text)?;
    let exe = std::env::current_exe().map_err(error_text)?;
    let process = Command::new(exe)
        .args([CHILD_FLAG, endpoint, &key, workload.name()])
        .spawn()
        .map_err(error_text)?;
    let ready = acks.recv_timeout(ACK_LIMIT).map_err(error_text)?;
    if ready.is_none_or(|sample| sample.payload().to_bytes().as_ref() != b"ready") {
        return Err("the program did not say it was ready".to_owned());
    }
    Ok(Peer {
        process,
        data,
        acks,
    })
}

/// One run of `workload` with N = `n`: one program per receiving loop.
pub fn run(workload: Workload, n: u64) -> RunResult {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_err(error_text)?
        .port();
    let endpoint = format!("tcp/127.0.0.1:{port}");
    let session = zenoh::open(crate::network::bench_config(&[&endpoint], &[])?)
        .wait()
        .map_err(error_text)?;
    let peers: Vec<Peer> = (0..workload.receiving_loops())
        .map(|index| {
            let key = format!("raw-bench/{}/{index}", std::process::id());
            spawn(&session, &endpoint, key, workload)
        })
        .collect::<Result<_, _>>()?;
    let result = match workload {
        Workload::W1 => ping_pong(n, &peers[0]),
        // The raw floor of W2b is single sends, as for W2.
        _ => stream(workload, n, &peers),
    };
    for mut peer in peers {
        let _ = peer.data.put(b"end".to_vec()).wait();
        let _ = peer.process.wait();
    }
    let _ = session.close().wait();
    result
}

fn next_ack(peer: &Peer) -> Result<Vec<u8>, String> {
    match peer.acks.recv_timeout(ACK_LIMIT).map_err(error_text)? {
        Some(sample) => Ok(sample.payload().to_bytes().to_vec()),
        None => Err(format!("no ack within {ACK_LIMIT:?}: a message was lost")),
    }
}

fn ping_pong(n: u64, peer: &Peer) -> RunResult {
    drive_ping_pong(
        n,
        |ping| peer.data.put(ping.to_vec()).wait().map_err(error_text),
        || next_ack(peer),
    )
}

/// W2-W4: every message to every program, within the window.
fn stream(workload: Workload, n: u64, peers: &[Peer]) -> RunResult {
    drive_stream(
        workload,
        n,
        peers.len(),
        |peer, message| {
            peers[peer]
                .data
                .put(message.to_vec())
                .wait()
                .map_err(error_text)
        },
        |peer| next_ack(&peers[peer]),
    )
}
