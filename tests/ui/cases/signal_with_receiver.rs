use signal_slot::event_loop_object;

#[event_loop_object]
struct A;

#[event_loop_object]
impl A {
    #[signal]
    fn changed(&self, value: u32);
}

fn main() {}
