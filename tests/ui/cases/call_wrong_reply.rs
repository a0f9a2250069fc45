use std::time::Duration;

use signal_slot::{CallError, Context, event_loop_object};

#[event_loop_object]
struct Oracle;

#[event_loop_object]
impl Oracle {
    #[slot]
    fn answer(&mut self, question: String) -> u32 {
        question.len() as u32
    }
}

#[event_loop_object]
struct Asker {
    oracle: OracleHandle,
}

#[event_loop_object]
impl Asker {
    #[slot]
    fn ask(&mut self, ctx: &mut Context<Self>) {
        // A reply slot of another type does not compile.
        let _ = self
            .oracle
            .answer()
            .call_then("why?".to_owned(), Duration::from_secs(1), ctx.on_text());
        // Nor do arguments of another type, or a value of another type.
        let _: Result<String, CallError> = self.oracle.answer().call(7u32, Duration::from_secs(1));
    }

    #[slot]
    fn on_text(&mut self, text: Result<String, CallError>) {
        let _ = text;
    }
}

fn main() {}
