//! WAL records: a hand-written frame around a prost-encoded body.
//!
//! ```text
//! frame  = header (16 bytes) ++ body (N bytes)
//! header = N: u32 LE | kind: u8 | 0u8 0u8 0u8 | header_crc: u32 LE | body_crc: u32 LE
//!          header_crc = crc32c(bytes 0..8 of the header)
//!          body_crc   = crc32c(body)
//! ```
//!
//! The frame is fixed and hand-written because it must be parsed before anything is known
//! about its content; its own checksum over the length means a corrupted length is
//! recognised as corruption instead of being mistaken for a record cut short by a crash.
//! Bodies are prost messages (derive, no .proto step): fields are tagged, so later versions
//! can add optional fields that this version ignores, without a new format version.
//!
//! Each [`PersistRequest`](raft::PersistRequest) is exactly one [`RequestRecord`], so a
//! request is recovered whole or not at all (its CRC covers all of it): recovery never sees
//! entries without the hard state written with them.

use bytes::Bytes;
use prost::Message;
use raft::{Entry, EntryPayload, HardState, Index, NodeId, Term};

/// Bytes of a frame header.
pub(crate) const FRAME_HEADER_LEN: usize = 16;

/// What a record's body holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum RecordKind {
    /// [`CheckpointRecord`]: the first record of every segment.
    Checkpoint = 1,
    /// [`RequestRecord`]: one persist request.
    Request = 2,
}

/// Hard state as stored.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub(crate) struct HardStateRecord {
    /// `HardState::term`.
    #[prost(uint64, tag = "1")]
    pub term: u64,
    /// `HardState::vote` (0 = none).
    #[prost(uint64, tag = "2")]
    pub vote: u64,
    /// `HardState::commit`.
    #[prost(uint64, tag = "3")]
    pub commit: u64,
}

impl From<HardState> for HardStateRecord {
    fn from(state: HardState) -> Self {
        HardStateRecord {
            term: state.term.0,
            vote: state.vote.0,
            commit: state.commit.0,
        }
    }
}

impl From<HardStateRecord> for HardState {
    fn from(record: HardStateRecord) -> Self {
        HardState {
            term: Term(record.term),
            vote: NodeId(record.vote),
            commit: Index(record.commit),
        }
    }
}

/// The snapshot a record installs (or, in a checkpoint, the current one).
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub(crate) struct SnapshotMarker {
    /// Last included index.
    #[prost(uint64, tag = "1")]
    pub index: u64,
    /// Last included term.
    #[prost(uint64, tag = "2")]
    pub term: u64,
    /// Whether the log held the snapshot's last entry when it was installed: if so,
    /// entries after it are kept; if not, the whole log was dropped (the rule of
    /// `PersistRequest::snapshot`). Decided when writing, so replay never needs the terms
    /// of entries in segments already deleted. Ignored in a checkpoint.
    #[prost(bool, tag = "3")]
    pub keep_log: bool,
}

/// First record of every segment: the state as of the end of the previous segment, so
/// older segments can be deleted and a missing or replaced segment is detected.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub(crate) struct CheckpointRecord {
    /// Current hard state.
    #[prost(message, optional, tag = "1")]
    pub hard_state: Option<HardStateRecord>,
    /// Current snapshot (index 0: none).
    #[prost(message, optional, tag = "2")]
    pub snapshot: Option<SnapshotMarker>,
    /// Index of the last log entry written before this segment.
    #[prost(uint64, tag = "3")]
    pub last_index: u64,
}

/// One log entry; its index is the record's `first_index` plus its position.
#[derive(Clone, PartialEq, Eq, Message)]
pub(crate) struct EntryRecord {
    /// The entry's term.
    #[prost(uint64, tag = "1")]
    pub term: u64,
    /// `None`: an empty (no-op) entry; `Some`: a command (possibly of zero bytes).
    #[prost(bytes = "bytes", optional, tag = "2")]
    pub data: Option<Bytes>,
}

impl EntryRecord {
    pub(crate) fn from_entry(entry: &Entry) -> EntryRecord {
        EntryRecord {
            term: entry.term.0,
            data: match &entry.payload {
                EntryPayload::Empty => None,
                EntryPayload::Command(data) => Some(data.clone()),
            },
        }
    }

    pub(crate) fn into_entry(self, index: u64) -> Entry {
        Entry {
            term: Term(self.term),
            index: Index(index),
            payload: match self.data {
                None => EntryPayload::Empty,
                Some(data) => EntryPayload::Command(data),
            },
        }
    }
}

/// One persist request, applied on replay in the order the core specifies: snapshot, then
/// entries (replacing the stored suffix from `first_index`), then hard state.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct RequestRecord {
    /// The request's `PersistId` (diagnostics only).
    #[prost(uint64, tag = "1")]
    pub request_id: u64,
    /// A snapshot installed by the request.
    #[prost(message, optional, tag = "2")]
    pub snapshot: Option<SnapshotMarker>,
    /// Set when the entries replace a stored suffix: the stored entries at and after this
    /// index are dropped (equals `first_index`). Replay checks that an overlap is declared.
    #[prost(uint64, optional, tag = "3")]
    pub truncate_from: Option<u64>,
    /// Index of `entries[0]`.
    #[prost(uint64, tag = "4")]
    pub first_index: u64,
    /// The entries, contiguous.
    #[prost(message, repeated, tag = "5")]
    pub entries: Vec<EntryRecord>,
    /// A new hard state.
    #[prost(message, optional, tag = "6")]
    pub hard_state: Option<HardStateRecord>,
}

/// Bytes `entry` occupies inside a [`RequestRecord`] body: what the log-size figure counts.
pub(crate) fn entry_encoded_len(entry: &Entry) -> u32 {
    let record_len = prost::encoding::uint64::encoded_len(1, &entry.term.0)
        + match &entry.payload {
            EntryPayload::Empty => 0,
            EntryPayload::Command(data) => {
                1 + prost::encoding::encoded_len_varint(data.len() as u64) + data.len()
            }
        };
    (1 + prost::encoding::encoded_len_varint(record_len as u64) + record_len) as u32
}

/// Appends one framed record to `out`.
pub(crate) fn encode_frame(kind: RecordKind, body: &impl Message, out: &mut Vec<u8>) {
    let body_len = body.encoded_len();
    let start = out.len();
    out.resize(start + FRAME_HEADER_LEN, 0);
    body.encode(out).expect("a Vec grows as needed");
    let body_crc = crc32c::crc32c(&out[start + FRAME_HEADER_LEN..]);
    let header = &mut out[start..start + FRAME_HEADER_LEN];
    header[0..4].copy_from_slice(&(body_len as u32).to_le_bytes());
    header[4] = kind as u8;
    let header_crc = crc32c::crc32c(&header[0..8]);
    header[8..12].copy_from_slice(&header_crc.to_le_bytes());
    header[12..16].copy_from_slice(&body_crc.to_le_bytes());
}

/// Why no valid frame starts at an offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// Fewer than a header's bytes remain.
    IncompleteHeader { available: usize },
    /// The header fails its checksum.
    HeaderChecksum { stored: u32, computed: u32 },
    /// The header is valid but the body runs past the end of the data.
    IncompleteBody { body_len: usize, available: usize },
    /// The body fails its checksum.
    BodyChecksum { stored: u32, computed: u32 },
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::IncompleteHeader { available } => {
                write!(
                    f,
                    "record header cut short ({available} of {FRAME_HEADER_LEN} bytes)"
                )
            }
            FrameError::HeaderChecksum { stored, computed } => write!(
                f,
                "record header checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
            ),
            FrameError::IncompleteBody {
                body_len,
                available,
            } => write!(f, "record body cut short ({available} of {body_len} bytes)"),
            FrameError::BodyChecksum { stored, computed } => write!(
                f,
                "record body checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
            ),
        }
    }
}

/// A frame that passed both checksums.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Frame {
    /// The kind byte (not yet validated).
    pub kind: u8,
    /// The body's offset in the data.
    pub body_start: usize,
    /// The offset just past the frame.
    pub end: usize,
}

/// Reads the frame starting at `at` in `data`.
pub(crate) fn read_frame(data: &[u8], at: usize) -> Result<Frame, FrameError> {
    let available = data.len().saturating_sub(at);
    if available < FRAME_HEADER_LEN {
        return Err(FrameError::IncompleteHeader { available });
    }
    let header = &data[at..at + FRAME_HEADER_LEN];
    let word = |from: usize| u32::from_le_bytes(header[from..from + 4].try_into().unwrap());
    let computed = crc32c::crc32c(&header[0..8]);
    if word(8) != computed {
        return Err(FrameError::HeaderChecksum {
            stored: word(8),
            computed,
        });
    }
    let body_len = word(0) as usize;
    let body_start = at + FRAME_HEADER_LEN;
    if available - FRAME_HEADER_LEN < body_len {
        return Err(FrameError::IncompleteBody {
            body_len,
            available: available - FRAME_HEADER_LEN,
        });
    }
    let end = body_start + body_len;
    let computed = crc32c::crc32c(&data[body_start..end]);
    if word(12) != computed {
        return Err(FrameError::BodyChecksum {
            stored: word(12),
            computed,
        });
    }
    Ok(Frame {
        kind: header[4],
        body_start,
        end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RequestRecord {
        RequestRecord {
            request_id: 7,
            snapshot: None,
            truncate_from: Some(3),
            first_index: 3,
            entries: vec![
                EntryRecord::from_entry(&Entry::command(Term(2), Index(3), &b"abc"[..])),
                EntryRecord::from_entry(&Entry::empty(Term(2), Index(4))),
                EntryRecord::from_entry(&Entry::command(Term(2), Index(5), Bytes::new())),
            ],
            hard_state: Some(HardStateRecord {
                term: 2,
                vote: 1,
                commit: 2,
            }),
        }
    }

    #[test]
    fn frame_round_trips() {
        let mut out = vec![0xAA];
        encode_frame(RecordKind::Request, &sample(), &mut out);
        let frame = read_frame(&out, 1).unwrap();
        assert_eq!(frame.kind, RecordKind::Request as u8);
        assert_eq!(frame.end, out.len());
        let decoded = RequestRecord::decode(&out[frame.body_start..frame.end]).unwrap();
        assert_eq!(decoded, sample());
        // Empty and zero-byte command entries stay distinct.
        assert_eq!(decoded.entries[1].data, None);
        assert_eq!(decoded.entries[2].data, Some(Bytes::new()));
    }

    #[test]
    fn every_cut_is_incomplete_and_every_flip_is_caught() {
        let mut out = Vec::new();
        encode_frame(RecordKind::Request, &sample(), &mut out);
        for cut in 0..out.len() {
            assert!(matches!(
                read_frame(&out[..cut], 0),
                Err(FrameError::IncompleteHeader { .. } | FrameError::IncompleteBody { .. })
            ));
        }
        for bit in 0..out.len() * 8 {
            let mut flipped = out.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(read_frame(&flipped, 0).is_err(), "bit {bit} undetected");
        }
    }

    #[test]
    fn entry_encoded_len_matches_prost() {
        let record = sample();
        let by_formula: u32 = record
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| entry_encoded_len(&e.clone().into_entry(3 + i as u64)))
            .sum();
        let by_prost = prost::encoding::message::encoded_len_repeated(5, &record.entries);
        assert_eq!(by_formula as usize, by_prost);
    }
}
