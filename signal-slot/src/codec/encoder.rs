//! Where arguments and frames are encoded: a growing buffer, a region of
//! fixed size (a place in another process's inbox), or nowhere (to count
//! an encoding's size); and the signatures of the generated encoders.

use std::io::{self, Write};

use crate::error::{DecodeError, EncodeError};

/// Encodes one argument tuple as MessagePack (generated per signal).
pub type EncodeFn<A> = fn(&A, &mut Encoder<'_>) -> Result<(), EncodeError>;
/// Decodes one argument tuple from MessagePack (generated per slot).
pub type DecodeFn<A> = fn(&mut &[u8]) -> Result<A, DecodeError>;

/// Where arguments and frames are encoded: a growing buffer, or a byte
/// region of fixed size that writing never goes past.
///
/// Positions (`len`, `truncate`, `patch`) count from the start of the
/// underlying buffer.
pub struct Encoder<'a> {
    out: Output<'a>,
    overflowed: bool,
}

enum Output<'a> {
    Growing(&'a mut Vec<u8>),
    Fixed {
        region: &'a mut [u8],
        len: usize,
    },
    /// Nothing kept: only the length (to size a place before writing).
    Counting(usize),
}

impl<'a> Encoder<'a> {
    /// Appends to `buf`, growing it as needed.
    pub(crate) fn growing(buf: &'a mut Vec<u8>) -> Self {
        Encoder {
            out: Output::Growing(buf),
            overflowed: false,
        }
    }

    /// Writes into `region` from its start; a write that does not fit fails
    /// and sets [`overflowed`](Self::overflowed).
    pub(crate) fn fixed(region: &'a mut [u8]) -> Self {
        Encoder {
            out: Output::Fixed { region, len: 0 },
            overflowed: false,
        }
    }

    /// Writes nowhere: counts the bytes an encoding takes.
    pub(crate) fn counting() -> Encoder<'static> {
        Encoder {
            out: Output::Counting(0),
            overflowed: false,
        }
    }

    /// The number of bytes written so far (from the buffer's start).
    pub(crate) fn len(&self) -> usize {
        match &self.out {
            Output::Growing(buf) => buf.len(),
            Output::Fixed { len, .. } | Output::Counting(len) => *len,
        }
    }

    /// True once a write did not fit in a fixed region.
    pub(crate) fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Forgets what was written after `len`.
    pub(crate) fn truncate(&mut self, at: usize) {
        match &mut self.out {
            Output::Growing(buf) => buf.truncate(at),
            Output::Fixed { len, .. } | Output::Counting(len) => *len = (*len).min(at),
        }
    }

    /// Overwrites bytes already written, at `at`.
    pub(crate) fn patch(&mut self, at: usize, bytes: &[u8]) {
        let end = at + bytes.len();
        match &mut self.out {
            Output::Growing(buf) => buf[at..end].copy_from_slice(bytes),
            Output::Fixed { region, len } => {
                debug_assert!(end <= *len, "patching what was not written");
                region[at..end].copy_from_slice(bytes);
            }
            Output::Counting(len) => debug_assert!(end <= *len, "patching what was not written"),
        }
    }
}

impl Write for Encoder<'_> {
    #[inline]
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.write_all(data).map(|()| data.len())
    }

    #[inline]
    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match &mut self.out {
            Output::Growing(buf) => {
                buf.extend_from_slice(data);
                Ok(())
            }
            Output::Fixed { region, len } => {
                let end = *len + data.len();
                match region.get_mut(*len..end) {
                    Some(room) => {
                        room.copy_from_slice(data);
                        *len = end;
                        Ok(())
                    }
                    None => {
                        self.overflowed = true;
                        Err(io::ErrorKind::WriteZero.into())
                    }
                }
            }
            Output::Counting(len) => {
                *len += data.len();
                Ok(())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
