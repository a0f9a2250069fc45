use signal_slot::{EventLoop, event_loop_object};

#[event_loop_object]
struct A;

#[event_loop_object]
impl A {
    #[signal]
    fn signal_a(msg: String, other_data: i32);
}

#[event_loop_object]
struct B;

#[event_loop_object]
impl B {
    // A prefix of the signal's arguments would do (`msg: String`); the
    // second one alone does not.
    #[slot]
    fn on_data(&mut self, other_data: i32) {
        let _ = other_data;
    }
}

fn main() -> Result<(), signal_slot::Error> {
    let main_loop = EventLoop::new("main")?;
    let a = main_loop.add(A)?;
    let b = main_loop.add(B)?;
    a.signal_a().connect(b.on_data())?;
    Ok(())
}
