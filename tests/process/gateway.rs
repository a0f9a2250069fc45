//! The `gateway` example, as its users would meet it: started as a program,
//! asked over real HTTP by a real client (curl), its child killed under it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(60);

fn gateway_executable() -> PathBuf {
    crate::common::process::example("gateway")
}

/// The gateway, started with `args`, once it printed its address and its
/// child's pid; and the rest of its output, line by line.
struct Gateway {
    program: Child,
    address: String,
    child_pid: u32,
    output: mpsc::Receiver<String>,
}

impl Gateway {
    fn start(args: &[&str]) -> Gateway {
        // The start method this test runs under.
        let method = match signal_slot::start_method() {
            signal_slot::StartMethod::Spawn => "--spawn",
            _ => "--fork",
        };
        let mut program = Command::new(gateway_executable())
            .args(args)
            .arg(method)
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let output = lines(program.stdout.take().unwrap());
        let first = output
            .recv_timeout(LONG)
            .expect("the gateway printed nothing");
        let address = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {first}"))
            .to_owned();
        let second = output.recv_timeout(LONG).unwrap();
        let child_pid = second
            .strip_prefix("policy process pid ")
            .and_then(|pid| pid.parse().ok())
            .unwrap_or_else(|| panic!("unexpected second line: {second}"));
        Gateway {
            program,
            address,
            child_pid,
            output,
        }
    }

    /// `GET path` with curl: the status and the body.
    fn get(&self, path: &str) -> (u16, String) {
        let output = Command::new("curl")
            .args(["--silent", "--show-error", "--max-time", "30"])
            .args(["--write-out", "\n%{http_code}"])
            .arg(format!("{}{path}", self.address))
            .output()
            .expect("the test needs curl");
        assert!(output.status.success(), "curl failed: {output:?}");
        let text = String::from_utf8(output.stdout).unwrap();
        let (body, status) = text.rsplit_once('\n').unwrap();
        (status.parse().unwrap(), body.to_owned())
    }

    /// `GET /events` with curl, streaming: its lines as they come.
    fn events(&self) -> (Child, mpsc::Receiver<String>) {
        let mut curl = Command::new("curl")
            .args(["--silent", "--no-buffer", "--max-time", "60"])
            .arg(format!("{}/events", self.address))
            .stdout(Stdio::piped())
            .spawn()
            .expect("the test needs curl");
        let lines = lines(curl.stdout.take().unwrap());
        (curl, lines)
    }
}

fn lines(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if send.send(line).is_err() {
                break;
            }
        }
    });
    receive
}

/// The next `data:` line of a server-sent event stream.
fn next_event(lines: &mpsc::Receiver<String>) -> String {
    let deadline = Instant::now() + LONG;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines.recv_timeout(left).expect("no event came");
        if let Some(data) = line.strip_prefix("data:") {
            return data.trim().to_owned();
        }
    }
}

pub fn the_gateway_answers_over_http_and_says_503_when_its_child_is_killed() {
    let mut gateway = Gateway::start(&["--seconds", "600"]);
    // A listener first: the events of the calls below reach it.
    let (mut curl, events) = gateway.events();
    // Its first event says it is connected: every action after it comes.
    assert_eq!(next_event(&events), r#"{"connected":true}"#);
    let queries = [("0.1,0.7,0.2", 1), ("3,2,1", 0), ("-1,-2,5", 2), ("0.5", 0)];
    for (expected_step, (query, action)) in (1..).zip(queries) {
        let (status, body) = gateway.get(&format!("/act?obs={query}"));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, format!(r#"{{"action":{action}}}"#));
        assert_eq!(
            next_event(&events),
            format!(r#"{{"step":{expected_step},"action":{action}}}"#)
        );
    }
    // Bad input: a clear 400.
    let (status, body) = gateway.get("/act?obs=one,two");
    assert_eq!(status, 400);
    assert!(body.contains("numbers"), "{body}");

    // The policy's process is killed: 503 with the reason, at once.
    let killed = Command::new("kill")
        .args(["-KILL", &gateway.child_pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let started = Instant::now();
    let (status, body) = gateway.get("/act?obs=1,2");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("policy.act"), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    // And it stays so.
    assert_eq!(gateway.get("/act?obs=1,2").0, 503);

    let _ = curl.kill();
    let _ = curl.wait();
    let _ = gateway.program.kill();
    let _ = gateway.program.wait();
    drop(gateway.output);
}

/// `--seconds N`: serves for N seconds, then exits 0.
pub fn the_gateway_serves_for_its_seconds_then_exits_cleanly() {
    let mut gateway = Gateway::start(&["--seconds", "5"]);
    // An event stream open at the end does not keep it from exiting.
    let (mut curl, events) = gateway.events();
    assert_eq!(next_event(&events), r#"{"connected":true}"#);
    let (status, _) = gateway.get("/act?obs=2,1");
    assert_eq!(status, 200);
    let status = gateway.program.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut rest = String::new();
    while let Ok(line) = gateway.output.recv_timeout(Duration::from_secs(5)) {
        rest.push_str(&line);
        rest.push('\n');
    }
    assert!(rest.contains("policy process ended"), "{rest}");
    // The event stream ended with the server.
    assert!(curl.wait().unwrap().success());
}
