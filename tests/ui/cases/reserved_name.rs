use signal_slot::event_loop_object;

#[event_loop_object]
struct A;

#[event_loop_object]
impl A {
    #[signal]
    fn id(value: u32);

    #[slot]
    fn detach(&mut self) {}
}

fn main() {}
