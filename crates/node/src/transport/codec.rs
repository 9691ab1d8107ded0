//! Wire encoding of [`raft::Message`]: prost mirror structs (derive macros, no `.proto`
//! build step) and the conversions both ways.
//!
//! The schema is tag-based so that fields can be added later without breaking older
//! peers; the handshake's protocol version guards incompatible changes. Ids and numbers
//! are flattened (`prev_log_term`, `prev_log_index`) rather than nested, which saves a
//! length prefix per id and removes a class of "missing field" errors.
//!
//! Decoding is for untrusted bytes: it returns a [`DecodeError`] and never panics.
//! Semantic checks (entry index gaps, a term of zero, ...) are the core's business;
//! this layer only guarantees a structurally valid [`raft::Message`].
//!
//! Zero copy: [`decode_message`] takes the frame as [`Bytes`], and prost decodes
//! `bytes = "bytes"` fields as slices of it, so command payloads and snapshot chunks
//! share the frame's buffer (a retained entry keeps its frame's allocation alive).
//! Encoding copies each payload once, into the connection's write buffer.

use bytes::{BufMut, Bytes};
use prost::Message as _;
use raft::{
    ConflictHint, Entry, EntryId, EntryPayload, Index, Message, MessageBody, NodeId, SnapshotMeta,
    Term,
};

/// Why a frame could not be turned into a [`raft::Message`].
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The bytes are not a valid encoding of [`WireMessage`] (bad varint, wrong wire
    /// type, a length running past the end, ...).
    #[error("malformed message: {0}")]
    Malformed(#[from] prost::DecodeError),
    /// The message has no body: the variant is missing, or unknown to this version
    /// (prost skips unknown fields, so both look the same).
    #[error("message has no body (missing or unknown variant)")]
    MissingBody,
}

/// A [`raft::Message`] on the wire.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WireMessage {
    /// The sender's node id.
    #[prost(uint64, tag = "1")]
    pub from: u64,
    /// The recipient's node id.
    #[prost(uint64, tag = "2")]
    pub to: u64,
    /// The sender's term.
    #[prost(uint64, tag = "3")]
    pub term: u64,
    /// The variant; `None` only in malformed or newer-version messages.
    #[prost(oneof = "WireBody", tags = "4, 5, 6, 7, 8, 9, 10")]
    pub body: Option<WireBody>,
}

/// The body of a [`WireMessage`], one field number per [`MessageBody`] variant.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum WireBody {
    /// [`MessageBody::RequestVote`].
    #[prost(message, tag = "4")]
    RequestVote(WireRequestVote),
    /// [`MessageBody::RequestVoteResponse`].
    #[prost(message, tag = "5")]
    RequestVoteResponse(WireRequestVoteResponse),
    /// [`MessageBody::AppendEntries`].
    #[prost(message, tag = "6")]
    AppendEntries(WireAppendEntries),
    /// [`MessageBody::AppendEntriesResponse`].
    #[prost(message, tag = "7")]
    AppendEntriesResponse(WireAppendEntriesResponse),
    /// [`MessageBody::InstallSnapshot`].
    #[prost(message, tag = "8")]
    InstallSnapshot(WireInstallSnapshot),
    /// [`MessageBody::InstallSnapshotResponse`].
    #[prost(message, tag = "9")]
    InstallSnapshotResponse(WireInstallSnapshotResponse),
    /// [`MessageBody::TimeoutNow`].
    #[prost(message, tag = "10")]
    TimeoutNow(WireTimeoutNow),
}

/// [`MessageBody::RequestVote`] on the wire.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WireRequestVote {
    /// A pre-vote request.
    #[prost(bool, tag = "1")]
    pub pre_vote: bool,
    /// The term of the candidate's last entry.
    #[prost(uint64, tag = "2")]
    pub last_log_term: u64,
    /// The index of the candidate's last entry.
    #[prost(uint64, tag = "3")]
    pub last_log_index: u64,
    /// The election was asked for by a leadership transfer.
    #[prost(bool, tag = "4")]
    pub transfer: bool,
}

/// [`MessageBody::RequestVoteResponse`] on the wire.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WireRequestVoteResponse {
    /// Answers a pre-vote request.
    #[prost(bool, tag = "1")]
    pub pre_vote: bool,
    /// The vote was granted.
    #[prost(bool, tag = "2")]
    pub granted: bool,
}

/// [`MessageBody::AppendEntries`] on the wire.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WireAppendEntries {
    /// The term of the entry before `entries`.
    #[prost(uint64, tag = "1")]
    pub prev_log_term: u64,
    /// The index of the entry before `entries`.
    #[prost(uint64, tag = "2")]
    pub prev_log_index: u64,
    /// The entries, possibly none.
    #[prost(message, repeated, tag = "3")]
    pub entries: Vec<WireEntry>,
    /// The leader's commit index.
    #[prost(uint64, tag = "4")]
    pub leader_commit: u64,
    /// The ReadIndex round id.
    #[prost(uint64, tag = "5")]
    pub read_round: u64,
}

/// A [`raft::Entry`] on the wire.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WireEntry {
    /// The entry's term.
    #[prost(uint64, tag = "1")]
    pub term: u64,
    /// The entry's index.
    #[prost(uint64, tag = "2")]
    pub index: u64,
    /// `None` for [`EntryPayload::Empty`]; `Some` (possibly empty bytes) for a command.
    /// Decoded as a slice of the frame, not a copy.
    #[prost(bytes = "bytes", optional, tag = "3")]
    pub command: Option<Bytes>,
}

/// [`MessageBody::AppendEntriesResponse`] on the wire.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WireAppendEntriesResponse {
    /// The consistency check passed.
    #[prost(bool, tag = "1")]
    pub success: bool,
    /// The last index the follower holds from the request.
    #[prost(uint64, tag = "2")]
    pub match_index: u64,
    /// Where the follower's log diverges, on failure.
    #[prost(message, optional, tag = "3")]
    pub conflict: Option<WireConflictHint>,
    /// The ReadIndex round id from the request.
    #[prost(uint64, tag = "4")]
    pub read_round: u64,
}

/// A [`raft::ConflictHint`] on the wire.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WireConflictHint {
    /// The `prev_log.index` that was refused.
    #[prost(uint64, tag = "1")]
    pub rejected: u64,
    /// The follower's term at that index, or zero.
    #[prost(uint64, tag = "2")]
    pub term: u64,
    /// The first index the follower holds with `term`.
    #[prost(uint64, tag = "3")]
    pub index: u64,
}

/// [`MessageBody::InstallSnapshot`] on the wire.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WireInstallSnapshot {
    /// The term of the snapshot's last included entry.
    #[prost(uint64, tag = "1")]
    pub last_included_term: u64,
    /// The index of the snapshot's last included entry.
    #[prost(uint64, tag = "2")]
    pub last_included_index: u64,
    /// The chunk's byte offset within the snapshot.
    #[prost(uint64, tag = "3")]
    pub offset: u64,
    /// The chunk (decoded as a slice of the frame, not a copy).
    #[prost(bytes = "bytes", tag = "4")]
    pub data: Bytes,
    /// The last chunk.
    #[prost(bool, tag = "5")]
    pub done: bool,
}

/// [`MessageBody::InstallSnapshotResponse`] on the wire.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WireInstallSnapshotResponse {
    /// The term of the snapshot's last included entry.
    #[prost(uint64, tag = "1")]
    pub last_included_term: u64,
    /// The index of the snapshot's last included entry.
    #[prost(uint64, tag = "2")]
    pub last_included_index: u64,
    /// The offset the follower expects next.
    #[prost(uint64, tag = "3")]
    pub next_offset: u64,
    /// The snapshot is installed.
    #[prost(bool, tag = "4")]
    pub done: bool,
    /// The chunk was usable.
    #[prost(bool, tag = "5")]
    pub accepted: bool,
}

/// [`MessageBody::TimeoutNow`] on the wire (no fields).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WireTimeoutNow {}

/// Encodes `message` (without a frame header) onto `dst`.
pub fn encode_message(message: &Message, dst: &mut impl BufMut) {
    let wire = WireMessage::from(message);
    wire.encode_raw(dst);
}

/// The number of bytes [`encode_message`] writes for `message`.
pub fn encoded_len(message: &Message) -> usize {
    WireMessage::from(message).encoded_len()
}

/// Decodes a frame's payload into a [`raft::Message`]. Payload bytes in the result are
/// slices of `frame`.
pub fn decode_message(frame: Bytes) -> Result<Message, DecodeError> {
    Message::try_from(WireMessage::decode(frame)?)
}

fn entry_id(term: u64, index: u64) -> EntryId {
    EntryId {
        term: Term(term),
        index: Index(index),
    }
}

impl From<&Entry> for WireEntry {
    fn from(entry: &Entry) -> WireEntry {
        WireEntry {
            term: entry.term.0,
            index: entry.index.0,
            command: match &entry.payload {
                EntryPayload::Empty => None,
                EntryPayload::Command(data) => Some(data.clone()),
            },
        }
    }
}

impl From<WireEntry> for Entry {
    fn from(wire: WireEntry) -> Entry {
        Entry {
            term: Term(wire.term),
            index: Index(wire.index),
            payload: match wire.command {
                None => EntryPayload::Empty,
                Some(data) => EntryPayload::Command(data),
            },
        }
    }
}

impl From<&MessageBody> for WireBody {
    fn from(body: &MessageBody) -> WireBody {
        match body {
            MessageBody::RequestVote {
                pre_vote,
                last_log,
                transfer,
            } => WireBody::RequestVote(WireRequestVote {
                pre_vote: *pre_vote,
                last_log_term: last_log.term.0,
                last_log_index: last_log.index.0,
                transfer: *transfer,
            }),
            MessageBody::RequestVoteResponse { pre_vote, granted } => {
                WireBody::RequestVoteResponse(WireRequestVoteResponse {
                    pre_vote: *pre_vote,
                    granted: *granted,
                })
            }
            MessageBody::AppendEntries {
                prev_log,
                entries,
                leader_commit,
                read_round,
            } => WireBody::AppendEntries(WireAppendEntries {
                prev_log_term: prev_log.term.0,
                prev_log_index: prev_log.index.0,
                entries: entries.iter().map(WireEntry::from).collect(),
                leader_commit: leader_commit.0,
                read_round: *read_round,
            }),
            MessageBody::AppendEntriesResponse {
                success,
                match_index,
                conflict,
                read_round,
            } => WireBody::AppendEntriesResponse(WireAppendEntriesResponse {
                success: *success,
                match_index: match_index.0,
                conflict: conflict.map(|hint| WireConflictHint {
                    rejected: hint.rejected.0,
                    term: hint.term.0,
                    index: hint.index.0,
                }),
                read_round: *read_round,
            }),
            MessageBody::InstallSnapshot {
                meta,
                offset,
                data,
                done,
            } => WireBody::InstallSnapshot(WireInstallSnapshot {
                last_included_term: meta.last_included.term.0,
                last_included_index: meta.last_included.index.0,
                offset: *offset,
                data: data.clone(),
                done: *done,
            }),
            MessageBody::InstallSnapshotResponse {
                last_included,
                next_offset,
                done,
                accepted,
            } => WireBody::InstallSnapshotResponse(WireInstallSnapshotResponse {
                last_included_term: last_included.term.0,
                last_included_index: last_included.index.0,
                next_offset: *next_offset,
                done: *done,
                accepted: *accepted,
            }),
            MessageBody::TimeoutNow => WireBody::TimeoutNow(WireTimeoutNow {}),
        }
    }
}

impl From<WireBody> for MessageBody {
    fn from(body: WireBody) -> MessageBody {
        match body {
            WireBody::RequestVote(wire) => MessageBody::RequestVote {
                pre_vote: wire.pre_vote,
                last_log: entry_id(wire.last_log_term, wire.last_log_index),
                transfer: wire.transfer,
            },
            WireBody::RequestVoteResponse(wire) => MessageBody::RequestVoteResponse {
                pre_vote: wire.pre_vote,
                granted: wire.granted,
            },
            WireBody::AppendEntries(wire) => MessageBody::AppendEntries {
                prev_log: entry_id(wire.prev_log_term, wire.prev_log_index),
                entries: wire.entries.into_iter().map(Entry::from).collect(),
                leader_commit: Index(wire.leader_commit),
                read_round: wire.read_round,
            },
            WireBody::AppendEntriesResponse(wire) => MessageBody::AppendEntriesResponse {
                success: wire.success,
                match_index: Index(wire.match_index),
                conflict: wire.conflict.map(|hint| ConflictHint {
                    rejected: Index(hint.rejected),
                    term: Term(hint.term),
                    index: Index(hint.index),
                }),
                read_round: wire.read_round,
            },
            WireBody::InstallSnapshot(wire) => MessageBody::InstallSnapshot {
                meta: SnapshotMeta {
                    last_included: entry_id(wire.last_included_term, wire.last_included_index),
                },
                offset: wire.offset,
                data: wire.data,
                done: wire.done,
            },
            WireBody::InstallSnapshotResponse(wire) => MessageBody::InstallSnapshotResponse {
                last_included: entry_id(wire.last_included_term, wire.last_included_index),
                next_offset: wire.next_offset,
                done: wire.done,
                accepted: wire.accepted,
            },
            WireBody::TimeoutNow(WireTimeoutNow {}) => MessageBody::TimeoutNow,
        }
    }
}

impl From<&Message> for WireMessage {
    fn from(message: &Message) -> WireMessage {
        WireMessage {
            from: message.from.0,
            to: message.to.0,
            term: message.term.0,
            body: Some(WireBody::from(&message.body)),
        }
    }
}

impl From<Message> for WireMessage {
    fn from(message: Message) -> WireMessage {
        // The payloads are `Bytes`: converting by reference only bumps reference counts.
        WireMessage::from(&message)
    }
}

impl TryFrom<WireMessage> for Message {
    type Error = DecodeError;

    fn try_from(wire: WireMessage) -> Result<Message, DecodeError> {
        let body = wire.body.ok_or(DecodeError::MissingBody)?;
        Ok(Message {
            from: NodeId(wire.from),
            to: NodeId(wire.to),
            term: Term(wire.term),
            body: MessageBody::from(body),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use rand::{Rng, RngCore, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// One message of every variant, with every optional part both present and absent.
    pub(crate) fn every_variant() -> Vec<Message> {
        let message = |body| Message {
            from: NodeId(1),
            to: NodeId(2),
            term: Term(7),
            body,
        };
        vec![
            message(MessageBody::RequestVote {
                pre_vote: true,
                last_log: EntryId::new(6, 100),
                transfer: false,
            }),
            message(MessageBody::RequestVote {
                pre_vote: false,
                last_log: EntryId::new(u64::MAX, u64::MAX),
                transfer: true,
            }),
            message(MessageBody::RequestVoteResponse {
                pre_vote: false,
                granted: true,
            }),
            message(MessageBody::AppendEntries {
                prev_log: EntryId::new(6, 99),
                entries: vec![
                    Entry::empty(Term(7), Index(100)),
                    Entry::command(Term(7), Index(101), &b"put x 1"[..]),
                    Entry::command(Term(7), Index(102), Bytes::new()),
                ],
                leader_commit: Index(99),
                read_round: 3,
            }),
            message(MessageBody::AppendEntries {
                prev_log: EntryId::default(),
                entries: vec![],
                leader_commit: Index::ZERO,
                read_round: 0,
            }),
            message(MessageBody::AppendEntriesResponse {
                success: false,
                match_index: Index::ZERO,
                conflict: Some(ConflictHint {
                    rejected: Index(99),
                    term: Term(5),
                    index: Index(80),
                }),
                read_round: 3,
            }),
            message(MessageBody::AppendEntriesResponse {
                success: true,
                match_index: Index(102),
                conflict: None,
                read_round: 0,
            }),
            message(MessageBody::InstallSnapshot {
                meta: SnapshotMeta {
                    last_included: EntryId::new(6, 5000),
                },
                offset: 1 << 20,
                data: Bytes::from(vec![0xab; 4096]),
                done: true,
            }),
            message(MessageBody::InstallSnapshotResponse {
                last_included: EntryId::new(6, 5000),
                next_offset: 2 << 20,
                done: false,
                accepted: true,
            }),
            message(MessageBody::TimeoutNow),
        ]
    }

    fn encode(message: &Message) -> Bytes {
        let mut buffer = BytesMut::new();
        encode_message(message, &mut buffer);
        assert_eq!(buffer.len(), encoded_len(message));
        buffer.freeze()
    }

    #[test]
    fn every_variant_round_trips() {
        for message in every_variant() {
            let decoded = decode_message(encode(&message)).expect("valid encoding");
            assert_eq!(decoded, message);
        }
    }

    #[test]
    fn empty_entry_and_empty_command_stay_distinct() {
        let messages = every_variant();
        let decoded = decode_message(encode(&messages[3])).unwrap();
        let MessageBody::AppendEntries { entries, .. } = decoded.body else {
            panic!("not AppendEntries");
        };
        assert_eq!(entries[0].payload, EntryPayload::Empty);
        assert_eq!(entries[2].payload, EntryPayload::Command(Bytes::new()));
    }

    #[test]
    fn payloads_are_slices_of_the_frame() {
        let messages = every_variant();
        for message in [&messages[3], &messages[7]] {
            let frame = encode(message);
            let range = frame.as_ptr_range();
            let decoded = decode_message(frame.clone()).unwrap();
            let payload = match &decoded.body {
                MessageBody::AppendEntries { entries, .. } => match &entries[1].payload {
                    EntryPayload::Command(data) => data.clone(),
                    EntryPayload::Empty => panic!("expected a command"),
                },
                MessageBody::InstallSnapshot { data, .. } => data.clone(),
                _ => unreachable!(),
            };
            assert!(range.contains(&payload.as_ptr()), "payload was copied");
        }
    }

    #[test]
    fn missing_body_is_a_typed_error() {
        let wire = WireMessage {
            from: 1,
            to: 2,
            term: 3,
            body: None,
        };
        let frame = Bytes::from(wire.encode_to_vec());
        assert!(matches!(
            decode_message(frame),
            Err(DecodeError::MissingBody)
        ));
        // A field number from a future version (tag 99) is skipped: still no body.
        let mut unknown = wire.encode_to_vec();
        prost::encoding::uint64::encode(99, &5, &mut unknown);
        assert!(matches!(
            decode_message(Bytes::from(unknown)),
            Err(DecodeError::MissingBody)
        ));
    }

    #[test]
    fn garbage_is_a_typed_error() {
        let frame = Bytes::from_static(&[0xff; 32]);
        assert!(matches!(
            decode_message(frame),
            Err(DecodeError::Malformed(_))
        ));
    }

    /// Random bytes never panic the decoder (they mostly fail, sometimes decode).
    #[test]
    fn decoding_random_bytes_never_panics() {
        let mut rng = ChaCha8Rng::seed_from_u64(0x5eed);
        for _ in 0..20_000 {
            let len = rng.gen_range(0..256);
            let mut bytes = vec![0u8; len];
            rng.fill_bytes(&mut bytes);
            let _ = decode_message(Bytes::from(bytes));
        }
    }

    /// Valid frames with bytes flipped, removed, inserted, or cut short never panic the
    /// decoder; whatever decodes re-encodes (the result is a well-formed message).
    #[test]
    fn decoding_mutated_frames_never_panics() {
        let mut rng = ChaCha8Rng::seed_from_u64(0xf022);
        let frames: Vec<Vec<u8>> = every_variant().iter().map(|m| encode(m).to_vec()).collect();
        let mut decoded_ok = 0;
        for _ in 0..50_000 {
            let mut frame = frames[rng.gen_range(0..frames.len())].clone();
            for _ in 0..rng.gen_range(1..4) {
                if frame.is_empty() {
                    break;
                }
                let at = rng.gen_range(0..frame.len());
                match rng.gen_range(0..4) {
                    0 => frame[at] ^= 1 << rng.gen_range(0..8),
                    1 => frame[at] = rng.gen(),
                    2 => {
                        frame.remove(at);
                    }
                    _ => frame.truncate(at),
                }
                if rng.gen_bool(0.1) {
                    frame.insert(at.min(frame.len()), rng.gen());
                }
            }
            if let Ok(message) = decode_message(Bytes::from(frame)) {
                decoded_ok += 1;
                let again = decode_message(encode(&message)).expect("re-encodes");
                assert_eq!(again, message);
            }
        }
        assert!(decoded_ok > 0, "mutations never produced a valid message");
    }
}
