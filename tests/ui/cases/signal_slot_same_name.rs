use signal_slot::event_loop_object;

#[event_loop_object]
struct A;

#[event_loop_object]
impl A {
    #[signal]
    fn on_value(value: u32);

    #[slot]
    fn on_value(&mut self, value: u32) {
        let _ = value;
    }
}

fn main() {}
