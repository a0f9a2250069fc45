use signal_slot::event_loop_object;

#[event_loop_object]
struct A;

#[event_loop_object]
impl A {
    /// A value for callers must travel like an argument: an `Instant`
    /// does not.
    #[slot]
    fn started(&mut self) -> std::time::Instant {
        std::time::Instant::now()
    }
}

fn main() {}
