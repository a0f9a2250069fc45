use signal_slot::event_loop_object;

#[event_loop_object]
struct Holder<T> {
    value: T,
}

fn main() {}
