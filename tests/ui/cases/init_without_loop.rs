// An init function takes the loop first.
#[signal_slot::init]
fn prepare(workers: u32) -> u32 {
    workers
}

fn main() {}
