//! Loop and system names in Zenoh keys: a loop's name may hold any
//! character, a key chunk may not (`/`, `*`, `$`, `#`, `?` mean something
//! there), so every byte but letters, digits, `_`, `-` and `.` is written
//! `%XX`.

/// True for a name that goes into a key as it is, and is not empty.
pub(super) fn is_plain(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(is_plain_byte)
}

fn is_plain_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.')
}

/// `name` as one key chunk.
pub(super) fn escape(name: &str) -> String {
    let mut chunk = String::with_capacity(name.len());
    for byte in name.bytes() {
        if is_plain_byte(byte) {
            chunk.push(char::from(byte));
        } else {
            chunk.push_str(&format!("%{byte:02X}"));
        }
    }
    if chunk.is_empty() {
        // A key chunk cannot be empty.
        chunk.push('%');
    }
    chunk
}

/// The name `escape` made `chunk` of; `None` if it did not.
pub(super) fn unescape(chunk: &str) -> Option<String> {
    if chunk == "%" {
        return Some(String::new());
    }
    let mut bytes = Vec::with_capacity(chunk.len());
    let mut rest = chunk.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let hex = tail.get(..2)?;
            let hex = std::str::from_utf8(hex).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else if is_plain_byte(byte) {
            bytes.push(byte);
            rest = tail;
        } else {
            return None;
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn special_characters_are_escaped() {
        assert_eq!(escape("worker-1.a_b"), "worker-1.a_b");
        assert_eq!(escape("a/b*c"), "a%2Fb%2Ac");
        assert_eq!(escape(""), "%");
        assert_eq!(unescape("a%2Fb%2Ac").as_deref(), Some("a/b*c"));
        assert_eq!(unescape("a%2"), None);
        assert_eq!(unescape("a/b"), None);
    }

    proptest! {
        #[test]
        fn escaping_goes_back_and_makes_one_plain_chunk(name in ".*") {
            let chunk = escape(&name);
            prop_assert!(chunk.bytes().all(|byte| is_plain_byte(byte) || byte == b'%'));
            prop_assert_eq!(unescape(&chunk), Some(name));
        }

        #[test]
        fn unescaping_anything_never_panics(chunk in ".*") {
            let _ = unescape(&chunk);
        }
    }
}
