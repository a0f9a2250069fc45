//! Busy programs beside a measurement (`--load N`): a machine whose cores
//! are all busy, as in a training run whose environments keep every core
//! working.
//!
//! Each busy program is this executable started again with [`FLAG`]: a
//! process of its own at normal priority that computes without pause until
//! the measuring program ends (or dies: it watches its standard input, a
//! pipe the parent holds).

use std::io::Read;
use std::process::{Child, Command, Stdio};

/// The argument that makes this executable a busy program.
pub const FLAG: &str = "--busy-program";

/// Runs as a busy program, if `args` say so: never returns then.
pub fn run_if_asked(args: &[String]) {
    if args.get(1).map(String::as_str) != Some(FLAG) {
        return;
    }
    std::thread::spawn(|| {
        // The parent holds the other end: end with it.
        let _ = std::io::stdin().read(&mut [0u8; 1]);
        std::process::exit(0);
    });
    let mut state = 1u64;
    loop {
        state = std::hint::black_box(
            state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407),
        );
    }
}

/// `n` busy programs, running until this value is dropped.
pub struct Load {
    programs: Vec<Child>,
}

impl Load {
    /// Starts `n` busy programs (none for 0).
    pub fn start(n: usize) -> std::io::Result<Load> {
        let exe = std::env::current_exe()?;
        let mut load = Load {
            programs: Vec::with_capacity(n),
        };
        for _ in 0..n {
            load.programs.push(
                Command::new(&exe)
                    .arg(FLAG)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()?,
            );
        }
        Ok(load)
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        for program in &mut self.programs {
            let _ = program.kill();
            let _ = program.wait();
        }
    }
}
