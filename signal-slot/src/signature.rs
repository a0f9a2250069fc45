//! What a signal or slot takes, as one program sees it: compared with
//! another program's view before a connection between them is made across
//! the network, so that programs built from different versions of a type
//! never exchange values that would decode as garbage.
//!
//! Inside one build the compiler checks connections; between two builds
//! nothing does. A *fingerprint* of the argument tuple stands in for it:
//! its Serde shape (field names and types, enum variants, recursively; what
//! MessagePack carries is decided by it), hashed. A type whose shape cannot
//! be traced (a hand-written `Deserialize` that validates) is fingerprinted
//! by its Rust type name instead.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use serde::de::DeserializeOwned;

pub use crate::protocol::Signature;

/// Picks, by autoref specialization, the signature of an argument tuple:
/// traced if it can be decoded, else by its type name. Its argument types'
/// bounds are checked (and reported) elsewhere; this adds no error of its
/// own.
pub struct SignatureOf<A>(std::marker::PhantomData<fn() -> A>);

impl<A> SignatureOf<A> {
    /// The chooser for `A`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        SignatureOf(std::marker::PhantomData)
    }
}

/// The signature of a tuple that can be decoded: its traced shape.
pub trait TracedSignature {
    /// The signature.
    fn signature(&self) -> Signature;
}

impl<A: DeserializeOwned + 'static> TracedSignature for &SignatureOf<A> {
    fn signature(&self) -> Signature {
        signature::<A>()
    }
}

/// The signature of a tuple that cannot be decoded (which does not
/// compile for other reasons): its type name.
pub trait NamedSignature {
    /// The signature.
    fn signature(&self) -> Signature;
}

impl<A> NamedSignature for SignatureOf<A> {
    fn signature(&self) -> Signature {
        let types = std::any::type_name::<A>();
        Signature {
            fingerprint: fnv1a(types.as_bytes()),
            types: types.to_owned(),
        }
    }
}

/// The signature of the argument tuple `A` (computed once per type).
pub(crate) fn signature<A: DeserializeOwned + 'static>() -> Signature {
    static KNOWN: Mutex<Option<HashMap<TypeId, Signature>>> = Mutex::new(None);
    let id = TypeId::of::<A>();
    if let Some(known) = KNOWN
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(HashMap::new)
        .get(&id)
    {
        return known.clone();
    }
    let types = std::any::type_name::<A>();
    // Tracing runs the type's `Deserialize` on made-up input: a panic in
    // it must not reach the caller.
    #[cfg(feature = "zenoh")]
    let shape = std::panic::catch_unwind(shape::<A>)
        .ok()
        .flatten()
        .unwrap_or_else(|| format!("type {types}"));
    // Without the network, signatures are never compared.
    #[cfg(not(feature = "zenoh"))]
    let shape = format!("type {types}");
    let signature = Signature {
        fingerprint: fnv1a(shape.as_bytes()),
        types: types.to_owned(),
    };
    KNOWN
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(HashMap::new)
        .insert(id, signature.clone());
    signature
}

/// The Serde shape of `A`, as JSON, if it can be traced.
#[cfg(feature = "zenoh")]
fn shape<A: DeserializeOwned>() -> Option<String> {
    use serde_reflection::{Samples, Tracer, TracerConfig};
    let mut tracer = Tracer::new(TracerConfig::default());
    let samples = Samples::new();
    let (format, _) = tracer.trace_type::<A>(&samples).ok()?;
    let registry = tracer.registry().ok()?;
    serde_json::to_string(&(format, registry)).ok()
}

/// The 64-bit FNV-1a hash: the same in every build, unlike the standard
/// library's hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Before {
        step: u64,
        reward: f32,
    }

    mod later {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        pub(super) struct Before {
            pub(super) step: u64,
            pub(super) reward: f64,
        }
    }

    #[test]
    fn the_same_tuple_has_the_same_signature() {
        assert_eq!(signature::<(u64, String)>(), signature::<(u64, String)>());
        assert_ne!(
            signature::<(u64, String)>().fingerprint,
            signature::<(String, u64)>().fingerprint
        );
    }

    #[cfg(feature = "zenoh")]
    #[test]
    fn a_field_of_another_type_changes_the_fingerprint() {
        // Two types of the same name, as two builds would have them.
        assert_ne!(
            signature::<(Before,)>().fingerprint,
            signature::<(later::Before,)>().fingerprint
        );
    }
}
