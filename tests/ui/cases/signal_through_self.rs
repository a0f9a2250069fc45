use signal_slot::event_loop_object;

#[event_loop_object]
struct Ping;

#[event_loop_object]
impl Ping {
    #[signal]
    fn ping(round: u32);

    #[slot]
    fn on_pong(&mut self, round: u32) {
        self.ping().emit(round + 1);
    }
}

fn main() {}
