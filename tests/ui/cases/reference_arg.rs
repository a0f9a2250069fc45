use signal_slot::event_loop_object;

#[event_loop_object]
struct A;

#[event_loop_object]
impl A {
    #[signal]
    fn named(name: &str);

    #[slot]
    fn on_bytes(&mut self, bytes: &[u8]) {
        let _ = bytes;
    }
}

fn main() {}
