use signal_slot::event_loop_object;

#[derive(Clone)]
struct Position {
    x: f64,
    y: f64,
}

#[event_loop_object]
struct Robot;

#[event_loop_object]
impl Robot {
    #[signal]
    fn moved(to: Position);
}

fn main() {}
