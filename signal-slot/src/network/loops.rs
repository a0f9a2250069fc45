//! Loops across the network: this program's loops exported under their
//! names (a liveliness token and a subscriber each), and the peers through
//! which this program reaches another program's loop.

use super::*;

impl Shared {
    pub(super) fn export(self: &Arc<Self>, peer: &Arc<LoopPeer>) -> Result<(), Error> {
        let name = peer.name_arc().clone();
        let refused = |why: &str| Err(Error::Network(format!("event loop `{name}` {why}")));
        if peer.local_inbox().is_none() || peer.runs_elsewhere() {
            return refused("does not run in this process");
        }
        if self.lock().exported.contains_key(&name) {
            return refused("is exported already");
        }
        let escaped = names::escape(&name);
        let others = self
            .session
            .liveliness()
            .get(self.key(format_args!("live/*/{escaped}")))
            .timeout(Duration::from_secs(1))
            .wait()
            .map_err(|error| Error::Network(error.to_string()))?;
        if let Ok(reply) = others.recv()
            && let Ok(sample) = reply.result()
        {
            return Err(Error::Network(format!(
                "event loop `{name}` is exported by another program already ({})",
                sample.key_expr()
            )));
        }
        let receiver = record::Receiver::new(name.clone());
        let subscriber = self
            .session
            .declare_subscriber(self.key(format_args!("loop/{escaped}")))
            .callback(move |sample| receiver.receive(&sample.payload().to_bytes()))
            .wait()
            .map_err(|error| Error::Network(error.to_string()))?;
        let token = self
            .session
            .liveliness()
            .declare_token(self.key(format_args!("live/{}/{escaped}", self.program)))
            .wait()
            .map_err(|error| Error::Network(error.to_string()))?;
        self.lock().exported.insert(
            name,
            Exported {
                _subscriber: subscriber,
                _token: token,
            },
        );
        Ok(())
    }

    /// This process's peer for the loop `name` of another program: known
    /// already, or made now. `None` if a loop of this process has the name.
    pub(super) fn peer_for(self: &Arc<Self>, name: &str) -> Option<Arc<LoopPeer>> {
        if let Some(known) = self.lock().known.get(name) {
            return Some(known.peer.clone());
        }
        // A loop of this process tree is reached through the tree.
        if let Some(tree) = registry()
            .loops
            .get(name)
            .filter(|peer| !peer.is_gone() && !peer.on_network())
        {
            return Some(tree.clone());
        }
        let key = self.key(format_args!("loop/{}", names::escape(name)));
        let publisher = |congestion| {
            self.session
                .declare_publisher(key.clone())
                .congestion_control(congestion)
                .wait()
                .map_err(|error| tracing::error!(event_loop = name, %error, "cannot publish to event loop `{name}`"))
                .ok()
        };
        let signals = publisher(zenoh::qos::CongestionControl::Drop)?;
        let urgent = publisher(zenoh::qos::CongestionControl::Block)?;
        let link = Arc::new(LinkState::new(signals, urgent, self.number));
        let name: Arc<str> = name.into();
        let control = Arc::new(NetControl {
            shared: Arc::downgrade(self),
            loop_name: name.clone(),
        });
        let peer = LoopPeer::on_network_via(
            name.clone(),
            Route::Remote(RemoteLoop::new(Box::new(NetLink(link.clone())))),
            control,
        );
        let mut state = self.lock();
        if let Some(known) = state.known.get(&name) {
            return Some(known.peer.clone());
        }
        registry().add_loop(peer.clone()).ok()?;
        link.set_up(state.owners.contains_key(&name));
        state.known.insert(
            name,
            Known {
                peer: peer.clone(),
                link,
            },
        );
        Some(peer)
    }
}
