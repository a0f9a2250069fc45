//! The live view, as its users see it: `sample_factory --top` in a terminal
//! (a tmux pane), a frame a second with every loop of the tree, its rates
//! and its drops, each frame replacing the last.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::process::example;
use signal_slot::StartMethod;

/// Runs `tmux` on a server of this test's own.
fn tmux(socket: &str, args: &[&str]) -> std::process::Output {
    Command::new("tmux")
        .args(["-L", socket])
        .args(args)
        .output()
        .expect("tmux runs (the process tests need it: apt-get install tmux)")
}

pub fn sample_factory_top_shows_every_loop_in_a_terminal() {
    let executable = example("sample_factory");
    let socket = format!("signal-slot-top-{}", std::process::id());
    let method = match signal_slot::start_method() {
        StartMethod::Fork => "--fork",
        StartMethod::Spawn => "--spawn",
    };
    let command = format!(
        "{} --workers 2 --seconds 20 --top {method}",
        executable.display()
    );
    let started = tmux(
        &socket,
        &[
            "new-session",
            "-d",
            "-s",
            "top",
            "-x",
            "200",
            "-y",
            "40",
            &command,
        ],
    );
    assert!(started.status.success(), "{started:?}");
    // A frame with rates: the second one, or later.
    let deadline = Instant::now() + Duration::from_secs(30);
    let screen = loop {
        let captured = tmux(&socket, &["capture-pane", "-p", "-t", "top"]);
        let screen = String::from_utf8_lossy(&captured.stdout).into_owned();
        let rates = |name: &str| {
            screen
                .lines()
                .find(|line| line.split_whitespace().nth(2) == Some(name))
                .and_then(|line| line.split_whitespace().nth(6)?.parse::<f64>().ok())
        };
        if rates("rollout_0").is_some_and(|rate| rate > 0.0)
            && rates("rollout_1").is_some_and(|rate| rate > 0.0)
        {
            break screen;
        }
        assert!(
            Instant::now() < deadline,
            "no frame with rates after 30 s:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    tmux(&socket, &["kill-server"]);
    // Every loop of the tree, under the column heads, on one screen: each
    // frame cleared the one before.
    assert_eq!(screen.matches("signal-slot top:").count(), 1, "{screen}");
    assert!(
        screen.contains("HANDLED/s") && screen.contains("SLOWEST SLOT"),
        "{screen}"
    );
    // The rollout workers send (requests and trajectories) as they handle.
    let sent = |name: &str| {
        screen
            .lines()
            .find(|line| line.split_whitespace().nth(2) == Some(name))
            .and_then(|line| line.split_whitespace().nth(7)?.parse::<f64>().ok())
    };
    assert!(sent("rollout_0").is_some_and(|rate| rate > 0.0), "{screen}");
    // Loops fed from other processes show how full the fullest ring into
    // them is; the others a dash.
    let rings: Vec<&str> = screen
        .lines()
        .skip_while(|line| !line.contains("RING%"))
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(5))
        .collect();
    assert!(
        rings.iter().any(|ring| ring
            .parse::<f64>()
            .is_ok_and(|fill| (0.0..=100.0).contains(&fill))),
        "{screen}"
    );
    for name in [
        "main",
        "inference",
        "rollout_0",
        "rollout_1",
        "learner",
        "learner_batcher",
    ] {
        assert!(
            screen
                .lines()
                .any(|line| line.split_whitespace().nth(2) == Some(name)),
            "no loop {name}:\n{screen}"
        );
    }
    assert!(screen.contains("every drop in the tree:"), "{screen}");
}
