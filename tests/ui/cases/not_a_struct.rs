use signal_slot::event_loop_object;

#[event_loop_object]
enum State {
    Idle,
    Busy,
}

#[event_loop_object]
fn helper() {}

fn main() {}
