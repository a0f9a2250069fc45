//! MessagePack encoding of signal arguments, used by generated code.
//!
//! Arguments travel as a MessagePack array, one element per argument, through
//! `rmp-serde`. A `Vec<u8>` argument is written as `bin` (one `memcpy`)
//! instead of an array of integers (one call per byte): the choice is made on
//! the concrete type at the generated call site by autoref specialization, so
//! it holds through type aliases. Decoding accepts both forms.
//!
//! Everything is written through an [`Encoder`]: a growing buffer, or a
//! region of fixed size (a place in another process's inbox, written once,
//! with no intermediate copy).

mod depth;
mod encoded;
pub(crate) mod encoder;
pub(crate) mod walk;

pub use depth::MAX_DEPTH;
pub use encoded::EncodedArgs;
pub(crate) use encoded::{whole, write_whole};
pub use encoder::{DecodeFn, EncodeFn, Encoder};

use std::io::Write;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{DecodeError, EncodeError};

/// A value as MessagePack (with the same limits as arguments: see
/// [`MAX_DEPTH`]); a `Serialize` that panics is an error.
pub(crate) fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let encoded = catch_unwind(AssertUnwindSafe(|| {
        let mut serializer = rmp_serde::Serializer::new(&mut out);
        value.serialize(depth::Limited::new(&mut serializer))
    }));
    match encoded {
        Ok(Ok(())) => Ok(out),
        Ok(Err(error)) => Err(error.to_string()),
        Err(panic) => Err(format!(
            "its `Serialize` panicked: {}",
            crate::util::panic_message(&*panic)
        )),
    }
}

/// A value as [`to_vec`] writes it, but a byte vector as one `bin` (one
/// copy, where serde writes a byte at a time): for a slot's reply, whose
/// type is known only as a generic.
pub(crate) fn value_to_vec<T: Serialize + 'static>(value: &T) -> Result<Vec<u8>, String> {
    match (value as &dyn std::any::Any).downcast_ref::<Vec<u8>>() {
        Some(bytes) => {
            let mut out = Vec::with_capacity(bytes.len() + 5);
            Arg(bytes)
                .encode_arg(&mut Encoder::growing(&mut out))
                .map_err(|error| error.0)?;
            Ok(out)
        }
        None => to_vec(value),
    }
}

/// A value from what [`value_to_vec`] wrote.
pub(crate) fn value_from_slice<T: DeserializeOwned + 'static>(bytes: &[u8]) -> Result<T, String> {
    if std::any::TypeId::of::<T>() == std::any::TypeId::of::<Vec<u8>>() {
        let mut rest = bytes;
        let value: Box<dyn std::any::Any> = Box::new(
            DecodeAs::<Vec<u8>>::new()
                .decode_arg(&mut rest)
                .map_err(|error| error.0)?,
        );
        return value
            .downcast::<T>()
            .map(|value| *value)
            .map_err(|_| "a byte vector of another type".to_owned());
    }
    from_slice(bytes)
}

/// Encodes any serializable value (an argument tuple, say): an
/// [`EncodeFn`](crate::payload::EncodeFn) for any type.
pub(crate) fn encode_serde<T: Serialize>(
    value: &T,
    buf: &mut Encoder<'_>,
) -> Result<(), EncodeError> {
    (&Arg(value)).encode_arg(buf)
}

/// A value back from [`to_vec`]'s MessagePack.
pub(crate) fn from_slice<T: DeserializeOwned>(mut bytes: &[u8]) -> Result<T, String> {
    let value = DecodeAs::<T>::new()
        .decode_serde(&mut bytes)
        .map_err(|error| error.0)?;
    if !bytes.is_empty() {
        return Err(format!("{} bytes left over", bytes.len()));
    }
    Ok(value)
}

/// Writes the array header of an argument tuple.
pub fn write_array_len(buf: &mut Encoder<'_>, len: u32) -> Result<(), EncodeError> {
    rmp::encode::write_array_len(buf, len).map_err(|error| EncodeError(error.to_string()))?;
    Ok(())
}

/// Reads the array header of an argument tuple and checks its length:
/// at least `expected` arguments (a slot may take a prefix of a signal's
/// arguments). Returns how many more there are, for [`skip_args`].
pub fn read_array_len(bytes: &mut &[u8], expected: u32) -> Result<u32, DecodeError> {
    let len = rmp::decode::read_array_len(bytes)
        .map_err(|error| DecodeError(format!("expected an argument array: {error}")))?;
    len.checked_sub(expected)
        .ok_or_else(|| DecodeError(format!("expected {expected} arguments, found {len}")))
}

/// Skips the `count` arguments a slot that takes a prefix of a signal's
/// arguments leaves: each checked like any value (nesting limited), and
/// dropped.
pub fn skip_args(bytes: &mut &[u8], count: u32) -> Result<(), DecodeError> {
    for _ in 0..count {
        DecodeAs::<serde::de::IgnoredAny>::new().decode_serde(bytes)?;
    }
    Ok(())
}

/// A borrowed argument, the receiver of the `encode_arg` methods.
pub struct Arg<'a, T>(pub &'a T);

/// Encodes a byte vector as MessagePack `bin`, and a vector of numbers
/// (`f32`, `f64`, `i16`..`u64`) as a `bin` of their little-endian bytes:
/// one copy, where serde would write every number on its own. Chosen over
/// [`EncodeSerde`] for those types because it matches with one autoref
/// less.
pub trait EncodeBytes {
    /// Appends the argument to `buf`.
    fn encode_arg(&self, buf: &mut Encoder<'_>) -> Result<(), EncodeError>;
}

impl EncodeBytes for Arg<'_, Vec<u8>> {
    fn encode_arg(&self, buf: &mut Encoder<'_>) -> Result<(), EncodeError> {
        write_bin_len(buf, self.0.len())?;
        buf.write_all(self.0)
            .map_err(|error| EncodeError(error.to_string()))
    }
}

fn write_bin_len(buf: &mut Encoder<'_>, len: usize) -> Result<(), EncodeError> {
    let len =
        u32::try_from(len).map_err(|_| EncodeError("a vector of more than 4 GiB".to_owned()))?;
    rmp::encode::write_bin_len(buf, len).map_err(|error| EncodeError(error.to_string()))?;
    Ok(())
}

/// Numbers as `bin`: their little-endian bytes, written a block at a time.
macro_rules! numbers_as_bin {
    ($($number:ty),*) => {$(
        impl EncodeBytes for Arg<'_, Vec<$number>> {
            fn encode_arg(&self, buf: &mut Encoder<'_>) -> Result<(), EncodeError> {
                const SIZE: usize = std::mem::size_of::<$number>();
                write_bin_len(buf, self.0.len().saturating_mul(SIZE))?;
                let mut block = [0u8; 1024];
                for numbers in self.0.chunks(1024 / SIZE) {
                    for (bytes, number) in block.chunks_exact_mut(SIZE).zip(numbers) {
                        bytes.copy_from_slice(&number.to_le_bytes());
                    }
                    buf.write_all(&block[..numbers.len() * SIZE])
                        .map_err(|error| EncodeError(error.to_string()))?;
                }
                Ok(())
            }
        }

        impl DecodeBytes<Vec<$number>> for DecodeAs<Vec<$number>> {
            fn decode_arg(&self, bytes: &mut &[u8]) -> Result<Vec<$number>, DecodeError> {
                const SIZE: usize = std::mem::size_of::<$number>();
                let Some(body) = take_bin(bytes)? else {
                    return DecodeAs::<Vec<$number>>::new().decode_serde(bytes);
                };
                if body.len() % SIZE != 0 {
                    return Err(DecodeError(format!(
                        "{} bytes are not a whole number of `{}`",
                        body.len(),
                        stringify!($number)
                    )));
                }
                Ok(body
                    .chunks_exact(SIZE)
                    .map(|chunk| {
                        let mut number = [0u8; SIZE];
                        number.copy_from_slice(chunk);
                        <$number>::from_le_bytes(number)
                    })
                    .collect())
            }
        }
    )*};
}

numbers_as_bin!(f32, f64, i16, u16, i32, u32, i64, u64);

/// Encodes any serializable argument through `rmp-serde`.
pub trait EncodeSerde {
    /// Appends the argument to `buf`.
    fn encode_arg(&self, buf: &mut Encoder<'_>) -> Result<(), EncodeError>;
}

impl<T: Serialize> EncodeSerde for &Arg<'_, T> {
    fn encode_arg(&self, buf: &mut Encoder<'_>) -> Result<(), EncodeError> {
        let mut serializer = rmp_serde::Serializer::new(buf);
        self.0
            .serialize(depth::Limited::new(&mut serializer))
            .map_err(|error| EncodeError(error.to_string()))
    }
}

/// The receiver of the `decode_arg` methods: names the type to decode.
pub struct DecodeAs<T>(PhantomData<fn() -> T>);

impl<T> DecodeAs<T> {
    /// A decoder of `T`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        DecodeAs(PhantomData)
    }
}

/// Decodes what [`EncodeBytes`] encodes: from `bin`, the fast path, or
/// from an array of numbers, through serde.
pub trait DecodeBytes<T> {
    /// Reads one argument from the front of `bytes`.
    fn decode_arg(&self, bytes: &mut &[u8]) -> Result<T, DecodeError>;
}

/// The body of a `bin` at the front of `bytes` (`None` if it is something
/// else, left where it is).
fn take_bin<'a>(bytes: &mut &'a [u8]) -> Result<Option<&'a [u8]>, DecodeError> {
    // bin8, bin16, bin32.
    if !matches!(bytes.first(), Some(0xc4..=0xc6)) {
        return Ok(None);
    }
    let len =
        rmp::decode::read_bin_len(bytes).map_err(|error| DecodeError(error.to_string()))? as usize;
    if bytes.len() < len {
        return Err(DecodeError(format!(
            "a vector of {len} bytes is cut short at {}",
            bytes.len()
        )));
    }
    let (value, rest) = bytes.split_at(len);
    *bytes = rest;
    Ok(Some(value))
}

impl DecodeBytes<Vec<u8>> for DecodeAs<Vec<u8>> {
    fn decode_arg(&self, bytes: &mut &[u8]) -> Result<Vec<u8>, DecodeError> {
        match take_bin(bytes)? {
            Some(value) => Ok(crate::sys::vec_from_large(value)),
            None => DecodeAs::<Vec<u8>>::new().decode_serde(bytes),
        }
    }
}

/// Decodes any deserializable argument through `rmp-serde`.
pub trait DecodeSerde<T> {
    /// Reads one argument from the front of `bytes`.
    fn decode_arg(&self, bytes: &mut &[u8]) -> Result<T, DecodeError>;
}

impl<T: DeserializeOwned> DecodeSerde<T> for &DecodeAs<T> {
    fn decode_arg(&self, bytes: &mut &[u8]) -> Result<T, DecodeError> {
        self.decode_serde(bytes)
    }
}

impl<T: DeserializeOwned> DecodeAs<T> {
    /// Decodes with MessagePack's limit of [`MAX_DEPTH`] levels of
    /// nesting; a `Deserialize` that panics is an error, not a crash.
    fn decode_serde(&self, bytes: &mut &[u8]) -> Result<T, DecodeError> {
        let name = std::any::type_name::<T>;
        let decoded = catch_unwind(AssertUnwindSafe(|| {
            let mut deserializer = rmp_serde::Deserializer::new(&mut *bytes);
            T::deserialize(&mut deserializer)
        }));
        match decoded {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(DecodeError(format!(
                "cannot decode a `{}`: {error}",
                name()
            ))),
            Err(panic) => Err(DecodeError(format!(
                "the `Deserialize` of `{}` panicked: {}",
                name(),
                crate::util::panic_message(&*panic)
            ))),
        }
    }
}

#[cfg(test)]
// The borrows select the specialized impls, as in generated code.
#[allow(clippy::needless_borrow)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use super::{DecodeBytes as _, DecodeSerde as _, EncodeBytes as _, EncodeSerde as _};

    fn roundtrip_bytes(value: Vec<u8>) -> (Vec<u8>, Vec<u8>) {
        let mut buf = Vec::new();
        (&Arg(&value))
            .encode_arg(&mut Encoder::growing(&mut buf))
            .unwrap();
        let mut slice = &buf[..];
        let decoded = (&DecodeAs::<Vec<u8>>::new())
            .decode_arg(&mut slice)
            .unwrap();
        assert!(slice.is_empty());
        (buf, decoded)
    }

    #[test]
    fn number_vectors_travel_as_bin_and_arrays_still_decode() {
        let floats = vec![1.5f32, -0.25, f32::MAX, f32::MIN_POSITIVE];
        let mut buf = Vec::new();
        (&Arg(&floats))
            .encode_arg(&mut Encoder::growing(&mut buf))
            .unwrap();
        assert_eq!(buf[..2], [0xc4, 16]);
        let mut slice = &buf[..];
        let decoded = (&DecodeAs::<Vec<f32>>::new())
            .decode_arg(&mut slice)
            .unwrap();
        assert_eq!((decoded, slice.len()), (floats, 0));
        // Longer than one block, and another type.
        let numbers: Vec<u64> = (0..1000).map(|n| n * 0x0101_0101_0101).collect();
        buf.clear();
        (&Arg(&numbers))
            .encode_arg(&mut Encoder::growing(&mut buf))
            .unwrap();
        let mut slice = &buf[..];
        let decoded = (&DecodeAs::<Vec<u64>>::new())
            .decode_arg(&mut slice)
            .unwrap();
        assert_eq!(decoded, numbers);
        // An array of numbers (from serde) decodes too; a bin whose length
        // is not a whole number of them does not.
        buf.clear();
        (&&Arg(&vec![3i32, -4]))
            .encode_arg(&mut Encoder::growing(&mut buf))
            .unwrap();
        let mut slice = &buf[..];
        let decoded = (&DecodeAs::<Vec<i32>>::new())
            .decode_arg(&mut slice)
            .unwrap();
        assert_eq!(decoded, [3, -4]);
        let mut slice: &[u8] = &[0xc4, 3, 1, 2, 3];
        assert!(
            (&DecodeAs::<Vec<i32>>::new())
                .decode_arg(&mut slice)
                .is_err()
        );
    }

    #[test]
    fn byte_vectors_travel_as_bin() {
        let (buf, decoded) = roundtrip_bytes(vec![1, 2, 200]);
        assert_eq!(buf, [0xc4, 3, 1, 2, 200]);
        assert_eq!(decoded, [1, 2, 200]);
    }

    #[test]
    fn aliases_pick_the_same_encoding() {
        type Buffer = Vec<u8>;
        let value: Buffer = vec![7; 300];
        let mut buf = Vec::new();
        (&Arg(&value))
            .encode_arg(&mut Encoder::growing(&mut buf))
            .unwrap();
        assert_eq!(&buf[..3], [0xc5, 1, 44]);
    }

    #[test]
    fn other_types_use_serde_and_bytes_accept_arrays() {
        let mut buf = Vec::new();
        let mut encoder = Encoder::growing(&mut buf);
        // An array (what serde writes for a vector of numbers).
        (&&Arg(&vec![1u16, 2])).encode_arg(&mut encoder).unwrap();
        (&Arg(&"hi".to_owned())).encode_arg(&mut encoder).unwrap();
        let mut slice = &buf[..];
        // An array of small integers decodes as bytes too.
        let bytes = (&DecodeAs::<Vec<u8>>::new())
            .decode_arg(&mut slice)
            .unwrap();
        let text: String = (&DecodeAs::<String>::new()).decode_arg(&mut slice).unwrap();
        assert_eq!((bytes, text.as_str()), (vec![1, 2], "hi"));
    }

    #[test]
    fn a_fixed_region_fails_when_full_and_says_so() {
        let mut region = [0u8; 8];
        let mut encoder = Encoder::fixed(&mut region);
        (&Arg(&vec![1u8, 2, 3])).encode_arg(&mut encoder).unwrap();
        assert_eq!(encoder.len(), 5);
        assert!(!encoder.overflowed());
        assert!((&Arg(&vec![4u8; 8])).encode_arg(&mut encoder).is_err());
        assert!(encoder.overflowed());
        encoder.truncate(5);
        encoder.patch(1, &[9]);
        assert_eq!(region[..5], [0xc4, 9, 1, 2, 3]);
    }

    #[test]
    fn truncated_input_is_an_error() {
        let mut buf = Vec::new();
        (&Arg(&vec![9u8; 40]))
            .encode_arg(&mut Encoder::growing(&mut buf))
            .unwrap();
        let mut slice = &buf[..20];
        let error = (&DecodeAs::<Vec<u8>>::new())
            .decode_arg(&mut slice)
            .unwrap_err();
        assert!(error.0.contains("cut short"), "{error}");
        let mut slice = &[0x93u8][..];
        assert!(read_array_len(&mut slice, 4).is_err());
    }

    #[test]
    fn a_prefix_of_the_arguments_leaves_the_rest_skipped() {
        let mut buf = Vec::new();
        let mut encoder = Encoder::growing(&mut buf);
        write_array_len(&mut encoder, 3).unwrap();
        (&Arg(&7u64)).encode_arg(&mut encoder).unwrap();
        (&Arg(&vec![1u8, 2, 3])).encode_arg(&mut encoder).unwrap();
        (&Arg(&vec![(1u8, "a".to_owned())]))
            .encode_arg(&mut encoder)
            .unwrap();
        let mut slice = &buf[..];
        assert_eq!(read_array_len(&mut slice, 1).unwrap(), 2);
        assert_eq!((&DecodeAs::<u64>::new()).decode_arg(&mut slice).unwrap(), 7);
        skip_args(&mut slice, 2).unwrap();
        assert!(slice.is_empty());
        // A skipped value is checked all the same.
        let mut cut = &buf[..buf.len() - 1];
        read_array_len(&mut cut, 1).unwrap();
        (&DecodeAs::<u64>::new()).decode_arg(&mut cut).unwrap();
        assert!(skip_args(&mut cut, 2).is_err());
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;
        use std::collections::BTreeMap;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2_000))]

            #[test]
            fn arbitrary_bytes_decode_to_arguments_or_errors(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
                let mut slice = &bytes[..];
                let _ = (&DecodeAs::<Vec<u8>>::new()).decode_arg(&mut slice);
                let mut slice = &bytes[..];
                let _: Result<String, _> = (&DecodeAs::<String>::new()).decode_arg(&mut slice);
                let mut slice = &bytes[..];
                let _: Result<BTreeMap<String, Vec<i64>>, _> =
                    (&DecodeAs::<BTreeMap<String, Vec<i64>>>::new()).decode_arg(&mut slice);
                let mut slice = &bytes[..];
                let _: Result<(u64, Option<f32>, bool), _> =
                    (&DecodeAs::<(u64, Option<f32>, bool)>::new()).decode_arg(&mut slice);
                let mut slice = &bytes[..];
                let _ = read_array_len(&mut slice, 3);
            }
        }
    }
}
