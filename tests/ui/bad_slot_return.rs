use signal_slot::event_loop_object;

#[event_loop_object]
struct A;

#[event_loop_object]
impl A {
    #[slot]
    fn compute(&mut self, value: u32) -> u32 {
        value * 2
    }
}

fn main() {}
