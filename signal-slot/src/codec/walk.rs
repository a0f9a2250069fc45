//! Walking MessagePack values without decoding them: every value's size
//! from its marker, nested arrays and maps followed, every length checked
//! against what is left. For what must look inside a payload without
//! knowing its types (the shared buffers a payload names).

/// Calls `found` with the body of every extension value of type `kind`
/// and `len` bytes in the MessagePack value(s) of `bytes`, at any depth.
/// Stops quietly at anything malformed.
pub(crate) fn for_each_ext(
    mut bytes: &[u8],
    kind: i8,
    ext_len: usize,
    mut found: impl FnMut(&[u8]),
) {
    use rmp::Marker;
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, rest) = bytes.split_at_checked(n)?;
        *bytes = rest;
        Some(head)
    }
    fn len(bytes: &mut &[u8], size: usize) -> Option<usize> {
        let head = take(bytes, size)?;
        let mut word = [0; 8];
        word[8 - size..].copy_from_slice(head);
        usize::try_from(u64::from_be_bytes(word)).ok()
    }
    // Values still to read at this level and above.
    let mut pending: usize = 1;
    while pending > 0 && !bytes.is_empty() {
        pending -= 1;
        let Some(marker) = take(&mut bytes, 1).map(|byte| Marker::from_u8(byte[0])) else {
            return;
        };
        let skip = match marker {
            Marker::FixPos(_) | Marker::FixNeg(_) | Marker::Null | Marker::True | Marker::False => {
                0
            }
            Marker::U8 | Marker::I8 => 1,
            Marker::U16 | Marker::I16 => 2,
            Marker::U32 | Marker::I32 | Marker::F32 => 4,
            Marker::U64 | Marker::I64 | Marker::F64 => 8,
            Marker::FixStr(n) => usize::from(n),
            Marker::Str8 | Marker::Bin8 => match len(&mut bytes, 1) {
                Some(n) => n,
                None => return,
            },
            Marker::Str16 | Marker::Bin16 => match len(&mut bytes, 2) {
                Some(n) => n,
                None => return,
            },
            Marker::Str32 | Marker::Bin32 => match len(&mut bytes, 4) {
                Some(n) => n,
                None => return,
            },
            Marker::FixArray(n) => {
                pending = pending.saturating_add(usize::from(n));
                0
            }
            Marker::FixMap(n) => {
                pending = pending.saturating_add(2 * usize::from(n));
                0
            }
            Marker::Array16 | Marker::Array32 | Marker::Map16 | Marker::Map32 => {
                let size = if matches!(marker, Marker::Array16 | Marker::Map16) {
                    2
                } else {
                    4
                };
                let Some(n) = len(&mut bytes, size) else {
                    return;
                };
                let n = if matches!(marker, Marker::Map16 | Marker::Map32) {
                    n.saturating_mul(2)
                } else {
                    n
                };
                pending = pending.saturating_add(n);
                0
            }
            Marker::FixExt1
            | Marker::FixExt2
            | Marker::FixExt4
            | Marker::FixExt8
            | Marker::FixExt16 => {
                let n = match marker {
                    Marker::FixExt1 => 1,
                    Marker::FixExt2 => 2,
                    Marker::FixExt4 => 4,
                    Marker::FixExt8 => 8,
                    _ => 16,
                };
                n + 1
            }
            Marker::Ext8 | Marker::Ext16 | Marker::Ext32 => {
                let size = match marker {
                    Marker::Ext8 => 1,
                    Marker::Ext16 => 2,
                    _ => 4,
                };
                let Some(n) = len(&mut bytes, size) else {
                    return;
                };
                let Some(kind_byte) = take(&mut bytes, 1) else {
                    return;
                };
                if kind_byte[0] as i8 == kind && n == ext_len {
                    let Some(body) = take(&mut bytes, n) else {
                        return;
                    };
                    found(body);
                    0
                } else {
                    n
                }
            }
            Marker::Reserved => return,
        };
        if take(&mut bytes, skip).is_none() {
            return;
        }
        if pending == 0 && !bytes.is_empty() {
            // Several values back to back (a packet of payloads).
            pending = 1;
        }
    }
}
