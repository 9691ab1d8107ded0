//! The native protocol: prost messages in length-prefixed frames over TCP, on the same
//! port as RESP.
//!
//! A native connection starts with the 4-byte preamble [`PREAMBLE`]; its first byte
//! (0x00) never starts a RESP command, so the server tells the two apart from the first
//! byte. Then each frame is a 4-byte big-endian length and a prost message: the client
//! sends [`NativeRequest`]s, the server answers each with a [`NativeResponse`] carrying
//! the same `correlation`, in order.
//!
//! Writes carry a `kv::Request` with the client's session (client id, sequence number):
//! the state machine applies a retried request once and answers the retry with the
//! first result, which makes the native client exactly-once across reconnects.

use bytes::Bytes;
use tokio_util::codec::LengthDelimitedCodec;

/// Sent by a native client first.
pub const PREAMBLE: &[u8; 4] = b"\0RKV";

/// Largest frame either side accepts (a command plus its overhead).
pub const MAX_FRAME_BYTES: usize = 16 << 20;

/// The frame codec: 4-byte big-endian length prefix, bounded.
pub fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(4)
        .max_frame_length(MAX_FRAME_BYTES)
        .new_codec()
}

/// What a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum RequestKind {
    /// Not set (a malformed request).
    Unspecified = 0,
    /// Execute `payload`, an encoded `kv::Request`.
    Execute = 1,
    /// Report this node's status and the cluster's client addresses.
    Status = 2,
    /// Linearizable read of `keys` (ReadIndex on the leader, no log write); the
    /// answer is `Values`.
    Read = 3,
}

/// A client's request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NativeRequest {
    /// Echoed in the response.
    #[prost(uint64, tag = "1")]
    pub correlation: u64,
    /// What is asked.
    #[prost(enumeration = "RequestKind", tag = "2")]
    pub kind: i32,
    /// For `Execute`: the encoded `kv::Request`.
    #[prost(bytes = "bytes", tag = "3")]
    pub payload: Bytes,
    /// Set by a server forwarding a RESP client's request to the leader: the receiver
    /// must not forward it again (it answers `NotLeader` instead), so requests never
    /// loop between nodes that disagree about the leader.
    #[prost(bool, tag = "4")]
    pub forwarded: bool,
    /// For `Read`: the keys to read.
    #[prost(bytes = "bytes", repeated, tag = "5")]
    pub keys: Vec<Bytes>,
}

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum ResponseKind {
    /// Not set (a malformed response).
    Unspecified = 0,
    /// Executed: `payload` is the encoded `kv::Outcome`.
    Outcome = 1,
    /// This node does not lead; `leader_id` / `leader_address` say who does (0 / empty
    /// when unknown). Nothing was executed.
    NotLeader = 2,
    /// Failed; see `error_code` and `message`.
    Error = 3,
    /// `status` is set.
    Status = 4,
    /// `values` (one per key read, in order) and `key_count` are set.
    Values = 5,
}

/// Why a request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum ErrorCode {
    /// Not set.
    Unspecified = 0,
    /// Temporarily unable (leadership changed, the log is full, shutting down): the
    /// request may or may not have been applied; retry it unchanged (same session and
    /// sequence) and the session makes the retry safe.
    Unavailable = 1,
    /// The request is too large; retrying will not help.
    TooLarge = 2,
    /// The request could not be decoded; retrying will not help.
    BadRequest = 3,
    /// The node's storage failed; try another node.
    StorageFailed = 4,
}

/// A server's answer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NativeResponse {
    /// The request's correlation.
    #[prost(uint64, tag = "1")]
    pub correlation: u64,
    /// How it ended.
    #[prost(enumeration = "ResponseKind", tag = "2")]
    pub kind: i32,
    /// For `Outcome`: the encoded `kv::Outcome`.
    #[prost(bytes = "bytes", tag = "3")]
    pub payload: Bytes,
    /// For `NotLeader`: the leader's id, 0 if unknown.
    #[prost(uint64, tag = "4")]
    pub leader_id: u64,
    /// For `NotLeader`: the leader's client address, empty if unknown.
    #[prost(string, tag = "5")]
    pub leader_address: String,
    /// For `Error`.
    #[prost(enumeration = "ErrorCode", tag = "6")]
    pub error_code: i32,
    /// For `Error`: a readable explanation.
    #[prost(string, tag = "7")]
    pub message: String,
    /// For `Status`.
    #[prost(message, optional, tag = "8")]
    pub status: Option<StatusReply>,
    /// For `Values`: one per key read, in order.
    #[prost(message, repeated, tag = "9")]
    pub values: Vec<MaybeValue>,
    /// For `Values`: how many keys the store holds.
    #[prost(uint64, tag = "10")]
    pub key_count: u64,
}

/// A value that may be absent.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MaybeValue {
    /// Whether the key exists.
    #[prost(bool, tag = "1")]
    pub present: bool,
    /// The value (empty when absent).
    #[prost(bytes = "bytes", tag = "2")]
    pub value: Bytes,
}

impl MaybeValue {
    /// Wraps an optional value.
    pub fn new(value: Option<Bytes>) -> MaybeValue {
        MaybeValue {
            present: value.is_some(),
            value: value.unwrap_or_default(),
        }
    }

    /// Unwraps it.
    pub fn into_option(self) -> Option<Bytes> {
        self.present.then_some(self.value)
    }
}

/// One node's state, as `raftkv status` shows it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StatusReply {
    /// The node.
    #[prost(uint64, tag = "1")]
    pub node_id: u64,
    /// Follower, PreCandidate, Candidate or Leader.
    #[prost(string, tag = "2")]
    pub role: String,
    /// Current term.
    #[prost(uint64, tag = "3")]
    pub term: u64,
    /// The leader it follows, 0 if none.
    #[prost(uint64, tag = "4")]
    pub leader: u64,
    /// Commit index.
    #[prost(uint64, tag = "5")]
    pub commit: u64,
    /// Applied index.
    #[prost(uint64, tag = "6")]
    pub applied: u64,
    /// First index in the log.
    #[prost(uint64, tag = "7")]
    pub first_index: u64,
    /// Last index in the log.
    #[prost(uint64, tag = "8")]
    pub last_index: u64,
    /// Index of the latest snapshot.
    #[prost(uint64, tag = "9")]
    pub snapshot_index: u64,
    /// Keys in the state machine.
    #[prost(uint64, tag = "10")]
    pub keys: u64,
    /// Every node's client address, `id=host:port`.
    #[prost(string, repeated, tag = "11")]
    pub client_addresses: Vec<String>,
    /// Set when storage failed.
    #[prost(string, tag = "12")]
    pub storage_failure: String,
    /// Keys with an expiry deadline (expired ones not purged yet included).
    #[prost(uint64, tag = "13")]
    pub expiring_keys: u64,
}

impl NativeResponse {
    /// An error response.
    pub fn error(correlation: u64, code: ErrorCode, message: impl Into<String>) -> Self {
        NativeResponse {
            correlation,
            kind: ResponseKind::Error as i32,
            error_code: code as i32,
            message: message.into(),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn messages_round_trip() {
        let request = NativeRequest {
            correlation: 7,
            kind: RequestKind::Execute as i32,
            payload: Bytes::from_static(b"abc"),
            forwarded: true,
            keys: vec![Bytes::from_static(b"k")],
        };
        assert_eq!(
            NativeRequest::decode(request.encode_to_vec().as_slice()).unwrap(),
            request
        );
        let response = NativeResponse {
            correlation: 7,
            kind: ResponseKind::Status as i32,
            status: Some(StatusReply {
                node_id: 2,
                role: "Leader".into(),
                client_addresses: vec!["1=127.0.0.1:7001".into()],
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            NativeResponse::decode(response.encode_to_vec().as_slice()).unwrap(),
            response
        );
        assert!(PREAMBLE[0] != b'*' && !PREAMBLE[0].is_ascii_graphic());
    }
}
