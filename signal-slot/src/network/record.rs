//! A record over the network: a header, then wire frames as between
//! processes.
//!
//! | bytes | field |
//! |---|---|
//! | 3 | `ssn` |
//! | 1 | flags: 1 for an urgent record (a slot invocation, a command), which a full inbox takes still |
//! | 8 | the sending program's number (little-endian) |
//! | 8 | signals it sent to the loop's program before this record |
//! | 4 | signals in this record (a command's carries none) |
//!
//! A record of a header alone is a tally: the count, sent after records
//! that may have been dropped, when no other record followed them.
//!
//! The receiver tracks, per sending program, the count it expects next: a
//! record whose count is higher says how many signals were lost on the way
//! (Zenoh drops under congestion rather than block the sender); a lower one
//! says the sender started over (the receiver is a new program to it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::transport::registry::registry;
use crate::transport::{DropReason, Envelope};

const MAGIC: [u8; 3] = *b"ssn";
const URGENT: u8 = 1;
pub(super) const HEADER: usize = 24;

/// The most sending programs a loop keeps counts for.
const MAX_SENDERS: usize = 4096;

/// The most signals a gap between two records may count as lost.
const MAX_GAP: u64 = 1 << 32;

/// A record's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Header {
    pub(super) urgent: bool,
    pub(super) program: u64,
    pub(super) before: u64,
    pub(super) signals: u32,
}

pub(super) fn write_header(out: &mut Vec<u8>, header: Header) {
    let Header {
        urgent,
        program,
        before,
        signals,
    } = header;
    out.extend_from_slice(&MAGIC);
    out.push(if urgent { URGENT } else { 0 });
    out.extend_from_slice(&program.to_le_bytes());
    out.extend_from_slice(&before.to_le_bytes());
    out.extend_from_slice(&signals.to_le_bytes());
}

/// The header and the frames of a record; `None` if it is not one.
pub(super) fn split(bytes: &[u8]) -> Option<(Header, &[u8])> {
    let (head, frames) = bytes.split_at_checked(HEADER)?;
    let (magic, rest) = head.split_at(4);
    if magic[..3] != MAGIC || magic[3] & !URGENT != 0 {
        return None;
    }
    let word = |at: usize| u64::from_le_bytes(rest[at..at + 8].try_into().unwrap_or_default());
    let signals = u32::from_le_bytes(rest[16..20].try_into().unwrap_or_default());
    Some((
        Header {
            urgent: magic[3] & URGENT != 0,
            program: word(0),
            before: word(8),
            signals,
        },
        frames,
    ))
}

/// What an exported loop receives from the network.
pub(super) struct Receiver {
    loop_name: Arc<str>,
    senders: Mutex<HashMap<u64, Sender>>,
}

struct Sender {
    /// Signals counted from it so far.
    expected: u64,
    /// Its id, for reports.
    name: Arc<str>,
}

impl Receiver {
    pub(super) fn new(loop_name: Arc<str>) -> Self {
        Receiver {
            loop_name,
            senders: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a record from the network to the loop's inbox. Never blocks,
    /// never panics: what is not a record is reported and dropped, what
    /// does not fit is counted.
    pub(super) fn receive(&self, bytes: &[u8]) {
        // Each signal takes a payload of at least five bytes: a record
        // that says it holds more than its length allows is forged.
        let Some((header, frames)) =
            split(bytes).filter(|(header, frames)| header.signals as usize <= frames.len() / 5)
        else {
            tracing::warn!(
                event_loop = %self.loop_name,
                "a packet of {} bytes for event loop `{}` is not a signal-slot record: dropped",
                bytes.len(),
                self.loop_name
            );
            return;
        };
        let Some(peer) = registry().loops.get(&self.loop_name).cloned() else {
            return;
        };
        let (from, lost) = self.account(header);
        if lost > 0 {
            peer.drops().record(lost, DropReason::Lost, || {
                format!("{lost} signals from program {from}")
            });
        }
        let signals = header.signals;
        if frames.is_empty() {
            // A tally: the count alone (see `LinkState::tally`).
            return;
        }
        let describe = || format!("{signals} signals from program {from}");
        let Some(inbox) = peer.local_inbox() else {
            peer.drops()
                .record(u64::from(signals), DropReason::Gone, describe);
            return;
        };
        let envelope = Envelope::Network {
            bytes: frames.to_vec(),
            signals,
            from: from.clone(),
        };
        let capped = if header.urgent { 0 } else { signals };
        if let Err(reason) = inbox.deliver_network(envelope, capped) {
            peer.drops().record(u64::from(signals), reason, describe);
        }
    }

    /// Updates what is expected of the record's sender: its id, and how
    /// many signals were lost before this record.
    fn account(&self, header: Header) -> (Arc<str>, u64) {
        let mut senders = self.senders.lock().unwrap_or_else(PoisonError::into_inner);
        if senders.len() >= MAX_SENDERS && !senders.contains_key(&header.program) {
            // More senders than any system has (forged numbers): forgotten,
            // each learnt again from its next record (nothing counted).
            senders.clear();
        }
        let sender = senders.entry(header.program).or_insert_with(|| Sender {
            expected: header.before,
            name: format!("{:016x}", header.program).into(),
        });
        let mut lost = header.before.saturating_sub(sender.expected);
        if lost > MAX_GAP {
            // No link loses this much between two records that arrive: the
            // count is not one this receiver knows (a forged record, or a
            // sender that started over twice). Counting it would swamp the
            // loop's count; it is reported instead.
            tracing::warn!(
                event_loop = %self.loop_name,
                "a record from program {} says {lost} signals were sent before it that never \
                 came: not counted",
                sender.name
            );
            lost = 0;
        }
        sender.expected = header.before.saturating_add(u64::from(header.signals));
        (sender.name.clone(), lost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_reads_back() {
        let mut bytes = Vec::new();
        let written = Header {
            urgent: true,
            program: 7,
            before: 1 << 40,
            signals: 3,
        };
        write_header(&mut bytes, written);
        bytes.extend_from_slice(b"frames");
        let (header, frames) = split(&bytes).expect("a record");
        assert_eq!(header, written);
        assert_eq!(frames, b"frames");
        assert!(split(&bytes[..HEADER - 1]).is_none());
        assert!(split(b"xxxx00000000000000000000").is_none());
    }

    #[test]
    fn a_gap_in_the_counts_is_what_was_lost() {
        let receiver = Receiver::new("gaps".into());
        let header = |before, signals| Header {
            urgent: false,
            program: 1,
            before,
            signals,
        };
        assert_eq!(receiver.account(header(100, 2)).1, 0, "first sight");
        assert_eq!(receiver.account(header(102, 5)).1, 0);
        assert_eq!(receiver.account(header(110, 1)).1, 3);
        // The sender started over: nothing counted.
        assert_eq!(receiver.account(header(0, 1)).1, 0);
        assert_eq!(receiver.account(header(1, 1)).1, 0);
        // A count nobody could have sent: not counted.
        assert_eq!(receiver.account(header(u64::MAX - 1, 1)).1, 0);
    }
}
