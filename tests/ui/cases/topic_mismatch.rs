use signal_slot::{EventLoop, event_loop_object, topic};

topic! {
    Weights(version: u64);
}

#[event_loop_object]
struct Learner;

#[event_loop_object]
impl Learner {
    #[signal]
    fn trained(version: u32);
}

#[event_loop_object]
struct Actor;

#[event_loop_object]
impl Actor {
    #[slot]
    fn on_weights(&mut self, version: String) {
        let _ = version;
    }
}

fn main() {
    let main = EventLoop::new("main").unwrap();
    let learner = main.add(Learner).unwrap();
    let actor = main.add(Actor).unwrap();
    // A signal of other types cannot publish under the topic.
    learner.trained().publish_on(Weights, &main).unwrap();
    // A slot of other types cannot subscribe to it.
    actor.subscribe(Weights, actor.on_weights()).unwrap();
    // A typo does not resolve.
    actor.subscribe(Wieghts, actor.on_weights()).unwrap();
}
