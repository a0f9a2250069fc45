use signal_slot::event_loop_object;

#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[event_loop_object]
struct Counter {
    count: u64,
}

#[event_loop_object]
impl Counter {
    #[slot]
    fn snapshot(&mut self) -> Self {
        self.clone()
    }
}

fn main() {}
