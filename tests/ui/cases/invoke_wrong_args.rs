use signal_slot::{EventLoop, event_loop_object};

#[event_loop_object]
struct Counter;

#[event_loop_object]
impl Counter {
    #[slot]
    fn add(&mut self, amount: u64) {
        let _ = amount;
    }
}

fn main() {
    let main = EventLoop::new("main").unwrap();
    let counter = main.add(Counter).unwrap();
    counter.add().invoke("five").unwrap();
}
