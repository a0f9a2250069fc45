//! A signal's argument list kept as MessagePack, for slots that read
//! arguments of types their program does not have.

use std::any::Any;

use crate::codec::Encoder;
use crate::error::{DecodeError, EncodeError};

/// The whole argument list of a signal as MessagePack (an array, one
/// element per argument), for a slot that reads arguments of types its
/// program does not have: a slot whose only parameter is `EncodedArgs`
/// takes any signal, as it arrives from another process or as it would.
///
/// It is how a program in another language receives this runtime's
/// signals (the Python package's loops do), together with
/// [`Sender::signal`](crate::Sender::signal) and
/// [`ForeignObject`](crate::ForeignObject). A [`SharedBuffer`](crate::SharedBuffer)
/// among the arguments arrives as its reference only.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use signal_slot::{Context, Delivery, EncodedArgs, EventLoop, ForeignObject, ForeignSlot};
/// use signal_slot::event_loop_object;
///
/// #[event_loop_object]
/// struct Sensor;
///
/// #[event_loop_object]
/// impl Sensor {
///     #[signal]
///     fn reading(place: String, celsius: f64);
/// }
///
/// #[event_loop_object]
/// struct Recorder { seen: Arc<Mutex<Vec<(String, Vec<u8>)>>> }
///
/// #[event_loop_object]
/// impl Recorder {
///     #[slot]
///     fn record(&mut self, ctx: &mut Context<Self>, args: EncodedArgs) {
///         let signal = ctx.sender().map(|sender| sender.signal().to_owned());
///         self.seen.lock().unwrap().push((signal.unwrap_or_default(), args.into_bytes()));
///         ctx.stop_loop();
///     }
/// }
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let mut main = EventLoop::new("encoded_args_example")?;
/// let sensor = main.add(Sensor)?;
/// let recorder = main.add(Recorder { seen: seen.clone() })?;
/// let record = ForeignSlot::of(&recorder, "record")?;
/// ForeignObject::new(&sensor).connect("reading", &record, Delivery::FanOut)?;
/// sensor.reading().emit("hall".into(), 21.5);
/// main.exec();
/// let seen = seen.lock().unwrap();
/// assert_eq!(seen[0].0, "reading");
/// // A fixarray of 2: the string "hall", then 21.5.
/// assert_eq!(&seen[0].1[..6], &[0x92, 0xa4, b'h', b'a', b'l', b'l']);
/// # Ok::<(), signal_slot::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncodedArgs(Vec<u8>);

impl EncodedArgs {
    /// Arguments already encoded: a MessagePack array, an element per
    /// argument.
    pub fn new(bytes: Vec<u8>) -> Self {
        EncodedArgs(bytes)
    }

    /// The MessagePack bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The MessagePack bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

impl serde::Serialize for EncodedArgs {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for EncodedArgs {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde_bytes_vec(deserializer).map(EncodedArgs)
    }
}

/// A byte string (or an array of bytes) from any serde format.
fn serde_bytes_vec<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    struct Bytes;
    impl<'de> serde::de::Visitor<'de> for Bytes {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("bytes")
        }
        fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<Vec<u8>, E> {
            Ok(bytes.to_vec())
        }
        fn visit_byte_buf<E: serde::de::Error>(self, bytes: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(bytes)
        }
        fn visit_seq<S: serde::de::SeqAccess<'de>>(self, mut seq: S) -> Result<Vec<u8>, S::Error> {
            let mut bytes = Vec::new();
            while let Some(byte) = seq.next_element()? {
                bytes.push(byte);
            }
            Ok(bytes)
        }
    }
    deserializer.deserialize_byte_buf(Bytes)
}

/// The decoder of a slot that takes [`EncodedArgs`] (`A` is
/// `(EncodedArgs,)`): it keeps every byte of the argument list.
pub(crate) fn whole<A: 'static>(bytes: &mut &[u8]) -> Result<A, DecodeError> {
    let all: Box<dyn Any> = Box::new((EncodedArgs(std::mem::take(bytes).to_vec()),));
    all.downcast::<A>()
        .map(|args| *args)
        .map_err(|_| DecodeError("not a slot of encoded arguments".to_owned()))
}

/// The encoder of [`EncodedArgs`] as a whole argument list (`A` is
/// `(EncodedArgs,)`): its bytes as they are.
pub(crate) fn write_whole<A: 'static>(args: &A, buf: &mut Encoder<'_>) -> Result<(), EncodeError> {
    let any: &dyn Any = args;
    let (args,) = any
        .downcast_ref::<(EncodedArgs,)>()
        .ok_or_else(|| EncodeError("not an argument list of encoded arguments".to_owned()))?;
    std::io::Write::write_all(buf, args.as_bytes()).map_err(|error| EncodeError(error.to_string()))
}
