use signal_slot::event_loop_object;

#[event_loop_object]
struct A;

#[event_loop_object]
impl A {
    #[slot]
    fn no_self(value: u32) {
        let _ = value;
    }

    #[slot]
    fn by_value(self) {}

    #[slot]
    async fn later(&mut self) {}
}

fn main() {}
