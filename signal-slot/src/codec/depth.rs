//! A bound on how deep a value may be nested when it is encoded for
//! another process.
//!
//! Encoding a value recurses once per level of nesting: a deep enough value
//! (a list of a hundred thousand nodes linked by `Box`, say) overflows the
//! emitting thread's stack, which aborts the process. And the receiving
//! side decodes at most [`MAX_DEPTH`] levels anyway (MessagePack's decoder
//! refuses more). So [`Limited`] wraps the serializer and fails, with an
//! error that says why, past that depth: the signal is dropped and counted,
//! and the emitter goes on.

use serde::ser::{
    Serialize, SerializeMap, SerializeSeq, SerializeStruct, SerializeStructVariant, SerializeTuple,
    SerializeTupleStruct, SerializeTupleVariant, Serializer,
};

/// The deepest nesting a value may have to travel between processes.
pub const MAX_DEPTH: usize = 1024;

/// A serializer that fails past [`MAX_DEPTH`] levels of nesting.
pub(crate) struct Limited<S> {
    inner: S,
    depth: usize,
}

impl<S: Serializer> Limited<S> {
    pub(crate) fn new(inner: S) -> Self {
        Limited { inner, depth: 0 }
    }

    /// One level deeper, or an error.
    fn enter(&self) -> Result<usize, S::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(serde::ser::Error::custom(format_args!(
                "the value is nested deeper than {MAX_DEPTH} levels, more than another \
                 process decodes"
            )));
        }
        Ok(self.depth + 1)
    }
}

/// A value one level down, serialized with the same limit.
struct Nested<'a, T: ?Sized> {
    value: &'a T,
    depth: usize,
}

impl<T: Serialize + ?Sized> Serialize for Nested<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(Limited {
            inner: serializer,
            depth: self.depth,
        })
    }
}

/// A compound value (sequence, map, struct..) whose members are one level
/// down.
pub(crate) struct Compound<C> {
    inner: C,
    depth: usize,
}

impl<C> Compound<C> {
    fn nested<'a, T: ?Sized>(&self, value: &'a T) -> Nested<'a, T> {
        Nested {
            value,
            depth: self.depth,
        }
    }
}

macro_rules! forward {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            fn $method(self, $($arg: $ty),*) -> Result<S::Ok, S::Error> {
                self.inner.$method($($arg),*)
            }
        )*
    };
}

impl<S: Serializer> Serializer for Limited<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Compound<S::SerializeSeq>;
    type SerializeTuple = Compound<S::SerializeTuple>;
    type SerializeTupleStruct = Compound<S::SerializeTupleStruct>;
    type SerializeTupleVariant = Compound<S::SerializeTupleVariant>;
    type SerializeMap = Compound<S::SerializeMap>;
    type SerializeStruct = Compound<S::SerializeStruct>;
    type SerializeStructVariant = Compound<S::SerializeStructVariant>;

    forward! {
        serialize_bool(value: bool);
        serialize_i8(value: i8);
        serialize_i16(value: i16);
        serialize_i32(value: i32);
        serialize_i64(value: i64);
        serialize_i128(value: i128);
        serialize_u8(value: u8);
        serialize_u16(value: u16);
        serialize_u32(value: u32);
        serialize_u64(value: u64);
        serialize_u128(value: u128);
        serialize_f32(value: f32);
        serialize_f64(value: f64);
        serialize_char(value: char);
        serialize_str(value: &str);
        serialize_bytes(value: &[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(name: &'static str);
        serialize_unit_variant(name: &'static str, index: u32, variant: &'static str);
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        let depth = self.enter()?;
        self.inner.serialize_some(&Nested { value, depth })
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        let depth = self.enter()?;
        self.inner
            .serialize_newtype_struct(name, &Nested { value, depth })
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        let depth = self.enter()?;
        self.inner
            .serialize_newtype_variant(name, index, variant, &Nested { value, depth })
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        let depth = self.enter()?;
        let inner = self.inner.serialize_seq(len)?;
        Ok(Compound { inner, depth })
    }

    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        let depth = self.enter()?;
        let inner = self.inner.serialize_tuple(len)?;
        Ok(Compound { inner, depth })
    }

    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        let depth = self.enter()?;
        let inner = self.inner.serialize_tuple_struct(name, len)?;
        Ok(Compound { inner, depth })
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        let depth = self.enter()?;
        let inner = self
            .inner
            .serialize_tuple_variant(name, index, variant, len)?;
        Ok(Compound { inner, depth })
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        let depth = self.enter()?;
        let inner = self.inner.serialize_map(len)?;
        Ok(Compound { inner, depth })
    }

    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        let depth = self.enter()?;
        let inner = self.inner.serialize_struct(name, len)?;
        Ok(Compound { inner, depth })
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        let depth = self.enter()?;
        let inner = self
            .inner
            .serialize_struct_variant(name, index, variant, len)?;
        Ok(Compound { inner, depth })
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

impl<C: SerializeSeq> SerializeSeq for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        let nested = self.nested(value);
        self.inner.serialize_element(&nested)
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: SerializeTuple> SerializeTuple for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        let nested = self.nested(value);
        self.inner.serialize_element(&nested)
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: SerializeTupleStruct> SerializeTupleStruct for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        let nested = self.nested(value);
        self.inner.serialize_field(&nested)
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: SerializeTupleVariant> SerializeTupleVariant for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        let nested = self.nested(value);
        self.inner.serialize_field(&nested)
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: SerializeMap> SerializeMap for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), C::Error> {
        let nested = self.nested(key);
        self.inner.serialize_key(&nested)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        let nested = self.nested(value);
        self.inner.serialize_value(&nested)
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: SerializeStruct> SerializeStruct for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), C::Error> {
        let nested = self.nested(value);
        self.inner.serialize_field(key, &nested)
    }

    fn skip_field(&mut self, key: &'static str) -> Result<(), C::Error> {
        self.inner.skip_field(key)
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: SerializeStructVariant> SerializeStructVariant for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), C::Error> {
        let nested = self.nested(value);
        self.inner.serialize_field(key, &nested)
    }

    fn skip_field(&mut self, key: &'static str) -> Result<(), C::Error> {
        self.inner.skip_field(key)
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A list linked by boxes: one level of nesting per node.
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Node(Option<Box<Node>>);

    fn chain(length: usize) -> Node {
        let mut node = Node(None);
        for _ in 1..length {
            node = Node(Some(Box::new(node)));
        }
        node
    }

    /// Drops a chain without recursing.
    fn unchain(mut node: Node) {
        while let Some(next) = node.0.take() {
            node = *next;
        }
    }

    fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, rmp_serde::encode::Error> {
        let mut out = Vec::new();
        let mut serializer = rmp_serde::Serializer::new(&mut out);
        value.serialize(Limited::new(&mut serializer))?;
        Ok(out)
    }

    #[test]
    fn a_value_within_the_limit_encodes_as_without_it() {
        let value = (1u8, vec![Some("a".to_owned()), None], chain(100));
        let limited = encode(&value).unwrap();
        assert_eq!(limited, rmp_serde::to_vec(&value).unwrap());
        let decoded: (u8, Vec<Option<String>>, Node) = rmp_serde::from_slice(&limited).unwrap();
        unchain(decoded.2);
        unchain(value.2);
    }

    #[test]
    fn a_deeper_value_is_refused_without_overflowing_the_stack() {
        // Deep enough to overflow the stack of a test thread unbounded.
        let deep = chain(200_000);
        // A thread with a small stack, to be sure the limit bounds it.
        let refused = std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(move || {
                let result = encode(&deep).map(|_| ());
                unchain(deep);
                result
            })
            .unwrap()
            .join()
            .unwrap();
        let error = refused.unwrap_err().to_string();
        assert!(error.contains("nested deeper than 1024 levels"), "{error}");
    }
}
