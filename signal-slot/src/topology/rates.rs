//! Rates between two captures of the topology.

use std::collections::HashMap;

use super::{ConnectionInfo, ConnectionRates, Topology};

impl Topology {
    /// This topology with each connection's [`rates`](ConnectionInfo::rates)
    /// since `earlier`, an earlier capture: its signal's emissions and drops
    /// per second over the time between the two (counted per signal, as
    /// [`ConnectionInfo::emitted`] is). A signal that `earlier` did not have
    /// counts from zero; one whose counts ran backwards (its object was
    /// replaced by another of the same id) gets none. The diagrams show the
    /// rates in place of the counts.
    ///
    /// ```
    /// use std::time::Duration;
    /// use signal_slot::{EventLoop, Topology, event_loop_object};
    ///
    /// #[event_loop_object]
    /// struct Ticker;
    ///
    /// #[event_loop_object]
    /// impl Ticker {
    ///     #[signal]
    ///     fn tick(n: u64);
    ///
    ///     #[slot]
    ///     fn on_tick(&mut self, n: u64) {
    ///         let _ = n;
    ///     }
    /// }
    ///
    /// let main = EventLoop::new("rates_example")?;
    /// let ticker = main.add_with_id("ticker", Ticker)?;
    /// ticker.tick().connect(ticker.on_tick())?;
    /// let before = Topology::capture()?;
    /// for n in 0..100 {
    ///     ticker.tick().emit(n);
    /// }
    /// std::thread::sleep(Duration::from_millis(10));
    /// let now = Topology::capture()?.with_rates(&before);
    /// let tick = now.processes[0]
    ///     .loops
    ///     .iter()
    ///     .find(|event_loop| event_loop.name == "rates_example")
    ///     .and_then(|event_loop| event_loop.objects.iter().find(|object| object.id == "ticker"))
    ///     .map(|ticker| &ticker.connections[0])
    ///     .expect("the loop and its connection");
    /// assert!(tick.rates.expect("two captures").emitted > 0.0);
    /// assert!(now.to_mermaid().contains("/s"));
    /// # Ok::<(), signal_slot::Error>(())
    /// ```
    pub fn with_rates(mut self, earlier: &Topology) -> Topology {
        let Ok(elapsed) = self.captured.duration_since(earlier.captured) else {
            return self;
        };
        let seconds = elapsed.as_secs_f64();
        if seconds <= 0.0 {
            return self;
        }
        let before: HashMap<String, &ConnectionInfo> = earlier.signals().collect();
        let keys: Vec<String> = self.signals().map(|(key, _)| key).collect();
        let now = self
            .processes
            .iter_mut()
            .flat_map(|process| &mut process.loops)
            .flat_map(|event_loop| &mut event_loop.objects)
            .flat_map(|object| &mut object.connections);
        for (key, connection) in keys.into_iter().zip(now) {
            let (emitted, dropped) = before
                .get(&key)
                .map_or((0, 0), |then| (then.emitted, then.dropped.total()));
            connection.rates = connection
                .emitted
                .checked_sub(emitted)
                .zip(connection.dropped.total().checked_sub(dropped))
                .map(|(emitted, dropped)| ConnectionRates {
                    emitted: emitted as f64 / seconds,
                    dropped: dropped as f64 / seconds,
                });
        }
        self
    }

    /// Every connection, with a key that names its signal across captures:
    /// the loop, the object and the signal's name.
    fn signals(&self) -> impl Iterator<Item = (String, &ConnectionInfo)> + '_ {
        self.processes
            .iter()
            .flat_map(|process| &process.loops)
            .flat_map(|event_loop| {
                event_loop.objects.iter().flat_map(move |object| {
                    object.connections.iter().map(move |connection| {
                        let key = format!(
                            "{}\u{0}{}\u{0}{}",
                            event_loop.name, object.id, connection.signal
                        );
                        (key, connection)
                    })
                })
            })
    }
}
