use signal_slot::event_loop_object;

#[event_loop_object]
struct A;

#[event_loop_object]
impl A {
    #[slot]
    fn on_value(&mut self, value: u32) {
        let _ = value;
    }

    #[slot]
    fn on_value(&mut self, value: u64) {
        let _ = value;
    }
}

fn main() {}
