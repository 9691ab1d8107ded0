//! Counters of what the transport sent, dropped, received and refused.

use raft::NodeId;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A snapshot of the transport's counters (all monotonic except the queue gauges and
/// `connected`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Messages written and flushed to a peer's socket.
    pub sent_messages: u64,
    /// Frame bytes (headers included) of those messages.
    pub sent_bytes: u64,
    /// Outgoing messages dropped for any reason: the sum of every peer's drop counters
    /// plus `dropped_unknown_peer`.
    pub dropped_messages: u64,
    /// Messages addressed to a node that is not a configured peer (or to ourselves).
    pub dropped_unknown_peer: u64,
    /// Messages received and delivered into the inbound channel.
    pub received_messages: u64,
    /// Frame bytes (headers included) of those messages.
    pub received_bytes: u64,
    /// Inbound connections refused at the handshake (other cluster, unknown node, wrong
    /// version, garbage, too many pending handshakes).
    pub refused_connections: u64,
    /// Accepted inbound connections later closed for bad input: an oversized or
    /// malformed frame, or a message not from the handshaken node or not to us.
    pub inbound_errors: u64,
    /// Per peer.
    pub peers: BTreeMap<NodeId, PeerStats>,
}

/// Counters for one peer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// Messages written and flushed to this peer (both channels).
    pub sent_messages: u64,
    /// Dropped because a queue was full (in messages or bytes).
    pub dropped_queue_full: u64,
    /// Dropped because the peer was unreachable: sent during a reconnection backoff,
    /// still queued when a connection attempt failed, or in a batch whose write failed.
    pub dropped_disconnected: u64,
    /// Dropped because the encoded message exceeds `max_frame_bytes`.
    pub dropped_too_large: u64,
    /// Messages now queued (both channels).
    pub queued_messages: u64,
    /// Bytes now queued (both channels), as [`raft::Message::size_bytes`] counts them.
    pub queued_bytes: u64,
    /// The control connection to this peer is established.
    pub connected: bool,
    /// Outgoing connections (both channels) that completed the handshake.
    pub connections: u64,
    /// Messages received from this peer and delivered.
    pub received_messages: u64,
}

/// Transport-wide live counters.
#[derive(Default)]
pub(crate) struct Counters {
    pub dropped_unknown_peer: AtomicU64,
    pub refused_connections: AtomicU64,
    pub inbound_errors: AtomicU64,
    pub received_bytes: AtomicU64,
    pub sent_bytes: AtomicU64,
}

/// Live counters of one peer.
#[derive(Default)]
pub(crate) struct PeerCounters {
    pub sent_messages: AtomicU64,
    pub dropped_queue_full: AtomicU64,
    pub dropped_disconnected: AtomicU64,
    pub dropped_too_large: AtomicU64,
    pub connected: AtomicBool,
    pub connections: AtomicU64,
    pub received_messages: AtomicU64,
}

/// Adds `n` to a counter.
pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// Reads a counter.
pub(crate) fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}
