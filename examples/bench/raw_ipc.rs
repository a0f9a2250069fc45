//! The raw floor of the `process` placement: plain ipc-channel between this
//! process and children that re-execute this program with [`CHILD_FLAG`].

use std::process::{Child, Command};

use ipc_channel::ipc::{self, IpcBytesReceiver, IpcBytesSender, IpcOneShotServer, IpcSender};

use crate::protocol::{
    Receipts, RunResult, Workload, ack_message, drive_ping_pong, drive_stream, error_text,
    read_blob, read_stamp,
};

pub const NAME: &str = "ipc-channel";

/// The first argument of a child: `bench --raw-child SERVER WORKLOAD`.
pub const CHILD_FLAG: &str = "--raw-child";

/// What a child sends its parent on connecting.
#[derive(serde::Serialize, serde::Deserialize)]
struct Hello {
    data: IpcBytesSender,
    acks: IpcSender<IpcBytesSender>,
}

/// The child's side: connects to the parent's one-shot `server`, then echoes
/// pings (W1) or checks, counts and acks the signals of `workload`.
pub fn child(server: String, workload: &str) -> Result<(), String> {
    let workload =
        Workload::from_name(workload).ok_or_else(|| format!("unknown workload `{workload}`"))?;
    let hello_tx: IpcSender<Hello> = IpcSender::connect(server).map_err(error_text)?;
    let (data_tx, data_rx) = ipc::bytes_channel().map_err(error_text)?;
    let (acks_tx, acks_rx) = ipc::channel::<IpcBytesSender>().map_err(error_text)?;
    hello_tx
        .send(Hello {
            data: data_tx,
            acks: acks_tx,
        })
        .map_err(error_text)?;
    let back = acks_rx.recv().map_err(error_text)?;
    if workload == Workload::W1 {
        while let Ok(ping) = data_rx.recv() {
            if back.send(&ping).is_err() {
                break;
            }
        }
        return Ok(());
    }
    let mut receipts = Receipts::new(workload.ack_every());
    while let Ok(message) = data_rx.recv() {
        let seq = if workload.sends_blobs() {
            read_blob(&message)
        } else {
            read_stamp(&message)
        };
        let Some((count, errors)) = receipts.record(seq) else {
            continue;
        };
        if back.send(&ack_message(count, errors)).is_err() {
            break;
        }
    }
    Ok(())
}

/// A child, once connected.
struct Peer {
    process: Child,
    data: IpcBytesSender,
    acks: IpcBytesReceiver,
}

fn spawn(workload: Workload) -> Result<Peer, String> {
    let (server, name) = IpcOneShotServer::<Hello>::new().map_err(error_text)?;
    let exe = std::env::current_exe().map_err(error_text)?;
    let process = Command::new(exe)
        .args([CHILD_FLAG, &name, workload.name()])
        .spawn()
        .map_err(error_text)?;
    let (_, hello) = server.accept().map_err(error_text)?;
    let (ack_tx, ack_rx) = ipc::bytes_channel().map_err(error_text)?;
    hello.acks.send(ack_tx).map_err(error_text)?;
    Ok(Peer {
        process,
        data: hello.data,
        acks: ack_rx,
    })
}

/// One run of `workload` with N = `n`: one child per receiving loop.
pub fn run(workload: Workload, n: u64) -> RunResult {
    let peers: Vec<Peer> = (0..workload.receiving_loops())
        .map(|_| spawn(workload))
        .collect::<Result<_, _>>()?;
    let result = match workload {
        Workload::W1 => ping_pong(n, &peers[0]),
        // The raw floor of W2b is single sends, as for W2.
        _ => stream(workload, n, &peers),
    };
    for mut peer in peers {
        // Closing the data channel is what ends the child.
        drop(peer.data);
        let _ = peer.process.wait();
    }
    result
}

fn ping_pong(n: u64, peer: &Peer) -> RunResult {
    drive_ping_pong(
        n,
        |ping| peer.data.send(ping).map_err(error_text),
        || peer.acks.recv().map_err(error_text),
    )
}

/// W2-W4: every signal to every child, within the window.
fn stream(workload: Workload, n: u64, peers: &[Peer]) -> RunResult {
    drive_stream(
        workload,
        n,
        peers.len(),
        |peer, message| peers[peer].data.send(message).map_err(error_text),
        |peer| peers[peer].acks.recv().map_err(error_text),
    )
}
