//! The methods of every generated per-signal type, as a macro the
//! generated code invokes.

/// The methods of a generated per-signal type, delegating to [`Signal`].
/// Generated code invokes it; its expansion is the API of every signal.
#[doc(hidden)]
#[macro_export]
macro_rules! __signal_methods {
    ($name:ident, $args:ty) => {
        #[allow(dead_code)]
        impl<'a> $name<'a> {
            /// The signal as a [`Signal`](::signal_slot::Signal), for code
            /// that is generic over signals.
            pub fn signal(&self) -> ::signal_slot::Signal<'a, $args> {
                self.0
            }

            /// Emits the signal with its arguments as one tuple; see
            /// [`Signal::emit_tuple`](::signal_slot::Signal::emit_tuple).
            pub fn emit_tuple(&self, args: $args) {
                self.0.emit_tuple(args)
            }

            /// Emits the signal once per item, as one message per receiving
            /// loop; see [`Signal::emit_many`](::signal_slot::Signal::emit_many).
            pub fn emit_many<I: ::core::iter::IntoIterator<Item = $args>>(&self, batch: I) {
                self.0.emit_many(batch)
            }

            /// Connects a slot (or a signal) of the same argument types, or a
            /// prefix of them; see
            /// [`Signal::connect`](::signal_slot::Signal::connect).
            ///
            /// # Errors
            ///
            /// As for [`Signal::connect`](::signal_slot::Signal::connect).
            pub fn connect<S: ::signal_slot::ConnectTo<$args>>(
                &self,
                slot: S,
            ) -> ::core::result::Result<::signal_slot::Connection, ::signal_slot::Error> {
                self.0.connect(slot)
            }

            /// Connects a slot as a balanced receiver; see
            /// [`Signal::connect_balanced`](::signal_slot::Signal::connect_balanced).
            ///
            /// # Errors
            ///
            /// As for [`Signal::connect`](::signal_slot::Signal::connect).
            pub fn connect_balanced<S: ::signal_slot::ConnectTo<$args>>(
                &self,
                slot: S,
            ) -> ::core::result::Result<::signal_slot::Connection, ::signal_slot::Error> {
                self.0.connect_balanced(slot)
            }

            /// Connects a slot as a keep-latest receiver; see
            /// [`Signal::connect_latest`](::signal_slot::Signal::connect_latest).
            ///
            /// # Errors
            ///
            /// As for [`Signal::connect`](::signal_slot::Signal::connect).
            pub fn connect_latest<S: ::signal_slot::ConnectTo<$args>>(
                &self,
                slot: S,
            ) -> ::core::result::Result<::signal_slot::Connection, ::signal_slot::Error> {
                self.0.connect_latest(slot)
            }

            /// Connects a slot for one emission; see
            /// [`Signal::connect_once`](::signal_slot::Signal::connect_once).
            ///
            /// # Errors
            ///
            /// As for [`Signal::connect`](::signal_slot::Signal::connect).
            pub fn connect_once<S: ::signal_slot::ConnectTo<$args>>(
                &self,
                slot: S,
            ) -> ::core::result::Result<::signal_slot::Connection, ::signal_slot::Error> {
                self.0.connect_once(slot)
            }

            /// Disconnects a slot; see
            /// [`Signal::disconnect`](::signal_slot::Signal::disconnect).
            ///
            /// # Errors
            ///
            /// As for [`Signal::disconnect`](::signal_slot::Signal::disconnect).
            pub fn disconnect<S: ::signal_slot::ConnectTo<$args>>(
                &self,
                slot: S,
            ) -> ::core::result::Result<(), ::signal_slot::Error> {
                self.0.disconnect(slot)
            }

            /// Connects a closure that runs on a loop; see
            /// [`Signal::connect_fn`](::signal_slot::Signal::connect_fn).
            ///
            /// # Errors
            ///
            /// As for [`Signal::connect_fn`](::signal_slot::Signal::connect_fn).
            pub fn connect_fn<F: ::signal_slot::SlotFn<$args, Args>, Args>(
                &self,
                event_loop: &::signal_slot::LoopHandle,
                closure: F,
            ) -> ::core::result::Result<::signal_slot::Connection, ::signal_slot::Error> {
                self.0.connect_fn(event_loop, closure)
            }

            /// Connects the signal to an async stream of its arguments; see
            /// [`Signal::stream`](::signal_slot::Signal::stream).
            ///
            /// # Errors
            ///
            /// As for [`Signal::stream`](::signal_slot::Signal::stream).
            pub fn stream(
                &self,
                event_loop: &::signal_slot::LoopHandle,
                delivery: ::signal_slot::Delivery,
                capacity: usize,
            ) -> ::core::result::Result<::signal_slot::SignalStream<$args>, ::signal_slot::Error>
            {
                self.0.stream(event_loop, delivery, capacity)
            }

            /// Ends every connection of the signal; see
            /// [`Signal::disconnect_all`](::signal_slot::Signal::disconnect_all).
            ///
            /// # Errors
            ///
            /// As for [`Signal::disconnect_all`](::signal_slot::Signal::disconnect_all).
            pub fn disconnect_all(&self) -> ::core::result::Result<bool, ::signal_slot::Error> {
                self.0.disconnect_all()
            }

            /// How many receivers the signal has; see
            /// [`Signal::receivers`](::signal_slot::Signal::receivers).
            ///
            /// # Errors
            ///
            /// As for [`Signal::receivers`](::signal_slot::Signal::receivers).
            pub fn receivers(&self) -> ::core::result::Result<usize, ::signal_slot::Error> {
                self.0.receivers()
            }

            /// Broadcasts the signal on a loop; see
            /// [`Signal::broadcast_on`](::signal_slot::Signal::broadcast_on).
            ///
            /// # Errors
            ///
            /// As for [`Signal::connect`](::signal_slot::Signal::connect).
            pub fn broadcast_on(
                &self,
                event_loop: &::signal_slot::LoopHandle,
            ) -> ::core::result::Result<(), ::signal_slot::Error> {
                self.0.broadcast_on(event_loop)
            }

            /// Publishes the signal under a topic on a loop; see
            /// [`Signal::publish_on`](::signal_slot::Signal::publish_on).
            ///
            /// # Errors
            ///
            /// As for [`Signal::connect`](::signal_slot::Signal::connect).
            pub fn publish_on<T: ::signal_slot::Topic<Args = $args>>(
                &self,
                topic: T,
                event_loop: &::signal_slot::LoopHandle,
            ) -> ::core::result::Result<(), ::signal_slot::Error> {
                self.0.publish_on(topic, event_loop)
            }

            /// Stops publishing under a topic on a loop; see
            /// [`Signal::stop_publishing_on`](::signal_slot::Signal::stop_publishing_on).
            ///
            /// # Errors
            ///
            /// As for [`Signal::connect`](::signal_slot::Signal::connect).
            pub fn stop_publishing_on<T: ::signal_slot::Topic<Args = $args>>(
                &self,
                topic: T,
                event_loop: &::signal_slot::LoopHandle,
            ) -> ::core::result::Result<(), ::signal_slot::Error> {
                self.0.stop_publishing_on(topic, event_loop)
            }

            /// Stops broadcasting on a loop; see
            /// [`Signal::stop_broadcast_on`](::signal_slot::Signal::stop_broadcast_on).
            ///
            /// # Errors
            ///
            /// As for [`Signal::connect`](::signal_slot::Signal::connect).
            pub fn stop_broadcast_on(
                &self,
                event_loop: &::signal_slot::LoopHandle,
            ) -> ::core::result::Result<(), ::signal_slot::Error> {
                self.0.stop_broadcast_on(event_loop)
            }
        }

        /// Connected to another signal, this one re-emits it.
        impl<'a, Args> ::signal_slot::ConnectTo<Args> for $name<'a>
        where
            ::signal_slot::Signal<'a, $args>: ::signal_slot::ConnectTo<Args>,
        {
            fn target(&self) -> (&::signal_slot::ObjectHandle, u16) {
                ::signal_slot::ConnectTo::<Args>::target(&self.0)
            }
        }
    };
}
