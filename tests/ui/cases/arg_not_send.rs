use std::rc::Rc;

use signal_slot::event_loop_object;

#[event_loop_object]
struct Sink;

#[event_loop_object]
impl Sink {
    #[slot]
    fn on_shared(&mut self, value: Rc<u32>) {
        let _ = value;
    }
}

fn main() {}
