//! Topics: typed names for broadcasts, declared once and used by emitters
//! and subscribers alike.

/// A typed broadcast name: what a signal is published under
/// ([`Signal::publish_on`](crate::Signal::publish_on)) and what objects
/// subscribe to ([`ObjectHandle::subscribe`](crate::ObjectHandle::subscribe)),
/// with the argument types both sides must have.
///
/// Declared with [`topic!`](crate::topic); never implemented by hand. Its
/// name is the declaration's path, so two topics of the same name in
/// different modules do not meet.
pub trait Topic: Copy + Send + Sync + 'static {
    /// The argument tuple every broadcast under the topic carries.
    type Args;
    /// The topic's name on the wire: its module path and name.
    const NAME: &'static str;
}

/// Declares [`Topic`]s: a unit struct per topic, naming it and the
/// argument types of what is broadcast under it.
///
/// Emitters publish a signal of the same argument types under it, and
/// objects subscribe a slot of the same argument types to it: a typo in the
/// name does not resolve, and a type mismatch on either side does not
/// compile. Who publishes and who subscribes never name each other.
///
/// ```
/// use signal_slot::{Context, EventLoop, event_loop_object, topic};
///
/// topic! {
///     /// The learner's newest weights.
///     pub NewWeights(version: u64);
/// }
///
/// #[event_loop_object]
/// struct Learner;
///
/// #[event_loop_object]
/// impl Learner {
///     #[signal]
///     fn trained(version: u64);
/// }
///
/// #[event_loop_object]
/// struct Actor { version: u64 }
///
/// #[event_loop_object]
/// impl Actor {
///     #[slot]
///     fn on_weights(&mut self, ctx: &mut Context<Self>, version: u64) {
///         self.version = version;
///         ctx.stop_loop();
///     }
/// }
///
/// let mut main = EventLoop::new("topic_example")?;
/// let learner = main.add(Learner)?;
/// let actor = main.add(Actor { version: 0 })?;
/// actor.subscribe(NewWeights, actor.on_weights())?;
/// learner.trained().publish_on(NewWeights, &main)?;
/// learner.trained().emit(7);
/// assert!(main.exec().is_normal());
/// # Ok::<(), signal_slot::Error>(())
/// ```
#[macro_export]
macro_rules! topic {
    ($(
        $(#[$meta:meta])*
        $vis:vis $name:ident ( $($arg:ident : $ty:ty),* $(,)? );
    )+) => {$(
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        $vis struct $name;

        impl $crate::Topic for $name {
            type Args = ($($ty,)*);
            const NAME: &'static str =
                ::core::concat!(::core::module_path!(), "::", ::core::stringify!($name));
        }

        const _: fn() = || {
            $($crate::__private::assert_arg::<$ty>();)*
        };
    )+};
}
