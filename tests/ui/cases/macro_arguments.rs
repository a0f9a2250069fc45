use signal_slot::event_loop_object;

#[event_loop_object(thread = "main")]
struct A;

#[event_loop_object]
impl A {
    #[slot(queued)]
    fn on_value(&mut self, value: u32) {
        let _ = value;
    }
}

fn main() {}
