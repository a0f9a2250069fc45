use signal_slot::{EventLoop, event_loop_object};

#[event_loop_object]
struct Lonely;

fn main() -> Result<(), signal_slot::Error> {
    let main_loop = EventLoop::new("main")?;
    main_loop.add(Lonely)?;
    Ok(())
}
