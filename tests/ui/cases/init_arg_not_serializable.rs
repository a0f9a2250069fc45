use signal_slot::LoopHandle;

struct Config {
    workers: u32,
}

// A process started by spawn gets its init function's arguments as
// MessagePack: they must be serializable.
#[signal_slot::init]
fn prepare(event_loop: &LoopHandle, config: Config) {
    let _ = (event_loop, config.workers);
}

fn main() {}
