//! MessagePack encoding of signal arguments, used by generated code.
//!
//! Arguments travel as a MessagePack array, one element per argument, through
//! `rmp-serde`. A `Vec<u8>` argument is written as `bin` (one `memcpy`)
//! instead of an array of integers (one call per byte): the choice is made on
//! the concrete type at the generated call site by autoref specialization, so
//! it holds through type aliases. Decoding accepts both forms.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{DecodeError, EncodeError};

/// Writes the array header of an argument tuple.
pub fn write_array_len(buf: &mut Vec<u8>, len: u32) -> Result<(), EncodeError> {
    rmp::encode::write_array_len(buf, len).map_err(|error| EncodeError(error.to_string()))?;
    Ok(())
}

/// Reads the array header of an argument tuple and checks its length.
pub fn read_array_len(bytes: &mut &[u8], expected: u32) -> Result<(), DecodeError> {
    let len = rmp::decode::read_array_len(bytes)
        .map_err(|error| DecodeError(format!("expected an argument array: {error}")))?;
    if len != expected {
        return Err(DecodeError(format!(
            "expected {expected} arguments, found {len}"
        )));
    }
    Ok(())
}

/// A borrowed argument, the receiver of the `encode_arg` methods.
pub struct Arg<'a, T>(pub &'a T);

/// Encodes a byte vector as MessagePack `bin`. Chosen over [`EncodeSerde`]
/// for `Vec<u8>` because it matches with one autoref less.
pub trait EncodeBytes {
    /// Appends the argument to `buf`.
    fn encode_arg(&self, buf: &mut Vec<u8>) -> Result<(), EncodeError>;
}

impl EncodeBytes for Arg<'_, Vec<u8>> {
    fn encode_arg(&self, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
        let len = u32::try_from(self.0.len())
            .map_err(|_| EncodeError("a byte vector longer than 4 GiB".to_owned()))?;
        rmp::encode::write_bin_len(buf, len).map_err(|error| EncodeError(error.to_string()))?;
        buf.extend_from_slice(self.0);
        Ok(())
    }
}

/// Encodes any serializable argument through `rmp-serde`.
pub trait EncodeSerde {
    /// Appends the argument to `buf`.
    fn encode_arg(&self, buf: &mut Vec<u8>) -> Result<(), EncodeError>;
}

impl<T: Serialize> EncodeSerde for &Arg<'_, T> {
    fn encode_arg(&self, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
        rmp_serde::encode::write(buf, self.0).map_err(|error| EncodeError(error.to_string()))
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

/// Decodes a byte vector from `bin` (or from an array of integers).
pub trait DecodeBytes {
    /// Reads one argument from the front of `bytes`.
    fn decode_arg(&self, bytes: &mut &[u8]) -> Result<Vec<u8>, DecodeError>;
}

impl DecodeBytes for DecodeAs<Vec<u8>> {
    fn decode_arg(&self, bytes: &mut &[u8]) -> Result<Vec<u8>, DecodeError> {
        let marker = bytes.first().copied();
        // bin8, bin16, bin32: the fast path.
        if matches!(marker, Some(0xc4..=0xc6)) {
            let len = rmp::decode::read_bin_len(bytes)
                .map_err(|error| DecodeError(error.to_string()))? as usize;
            if bytes.len() < len {
                return Err(DecodeError(format!(
                    "a byte vector of {len} bytes is cut short at {}",
                    bytes.len()
                )));
            }
            let (value, rest) = bytes.split_at(len);
            *bytes = rest;
            return Ok(value.to_vec());
        }
        DecodeAs::<Vec<u8>>::new().decode_serde(bytes)
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
    fn decode_serde(&self, bytes: &mut &[u8]) -> Result<T, DecodeError> {
        let mut deserializer = rmp_serde::Deserializer::new(&mut *bytes);
        T::deserialize(&mut deserializer).map_err(|error| {
            DecodeError(format!(
                "cannot decode a `{}`: {error}",
                std::any::type_name::<T>()
            ))
        })
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
        (&Arg(&value)).encode_arg(&mut buf).unwrap();
        let mut slice = &buf[..];
        let decoded = (&DecodeAs::<Vec<u8>>::new())
            .decode_arg(&mut slice)
            .unwrap();
        assert!(slice.is_empty());
        (buf, decoded)
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
        (&Arg(&value)).encode_arg(&mut buf).unwrap();
        assert_eq!(&buf[..3], [0xc5, 1, 44]);
    }

    #[test]
    fn other_types_use_serde_and_bytes_accept_arrays() {
        let mut buf = Vec::new();
        (&Arg(&vec![1u16, 2])).encode_arg(&mut buf).unwrap();
        (&Arg(&"hi".to_owned())).encode_arg(&mut buf).unwrap();
        let mut slice = &buf[..];
        // An array of small integers decodes as bytes too.
        let bytes = (&DecodeAs::<Vec<u8>>::new())
            .decode_arg(&mut slice)
            .unwrap();
        let text: String = (&DecodeAs::<String>::new()).decode_arg(&mut slice).unwrap();
        assert_eq!((bytes, text.as_str()), (vec![1, 2], "hi"));
    }

    #[test]
    fn truncated_input_is_an_error() {
        let mut buf = Vec::new();
        (&Arg(&vec![9u8; 40])).encode_arg(&mut buf).unwrap();
        let mut slice = &buf[..20];
        let error = (&DecodeAs::<Vec<u8>>::new())
            .decode_arg(&mut slice)
            .unwrap_err();
        assert!(error.0.contains("cut short"), "{error}");
        let mut slice = &[0x93u8][..];
        assert!(read_array_len(&mut slice, 2).is_err());
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
