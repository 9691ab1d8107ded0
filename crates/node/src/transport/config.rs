//! The transport's configuration and its validation.

use super::TransportError;
use raft::NodeId;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// Default [`TransportConfig::max_frame_bytes`]: 16 MiB, well above the core's default
/// 1 MiB messages and snapshot chunks, so one oversized entry still fits.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 16 << 20;
/// Default [`TransportConfig::max_queue_bytes`]: 16 MiB per peer (twice the core's
/// default in-flight window of 8 MiB).
pub const DEFAULT_MAX_QUEUE_BYTES: usize = 16 << 20;
/// Default [`TransportConfig::max_queue_messages`]: 1024 per peer (four times the core's
/// default in-flight window of 256 messages, leaving room for heartbeats and responses).
pub const DEFAULT_MAX_QUEUE_MESSAGES: usize = 1024;
/// Default [`TransportConfig::max_snapshot_queue_bytes`]: 32 MiB per peer (two maximal
/// frames).
pub const DEFAULT_MAX_SNAPSHOT_QUEUE_BYTES: usize = 32 << 20;
/// Default [`TransportConfig::max_snapshot_queue_messages`]: 32 chunks per peer.
pub const DEFAULT_MAX_SNAPSHOT_QUEUE_MESSAGES: usize = 32;

/// How a node's transport is set up.
///
/// Queue bounds are per peer and per channel (control, snapshot): a peer costs at most
/// `max_queue_bytes + max_snapshot_queue_bytes` of queued messages, plus the batch being
/// written. Message sizes are counted with [`raft::Message::size_bytes`], the core's
/// own measure. A message that does not fit is dropped and counted, never queued.
#[derive(Clone, Debug)]
pub struct TransportConfig {
    /// The cluster this node belongs to; connections from other clusters are refused.
    pub cluster_id: u64,
    /// This node's id (sent in the handshake; messages must be `from` it).
    pub node_id: NodeId,
    /// The address to listen on (port 0 picks a free port; see
    /// [`super::Transport::local_addr`]). Ignored by
    /// [`super::Transport::start_with_listener`], which uses the bound listener.
    pub listen: SocketAddr,
    /// The other nodes and where they listen. An entry for `node_id` itself is allowed
    /// (a whole-cluster map) and ignored. Only these nodes may connect to us.
    pub peers: BTreeMap<NodeId, SocketAddr>,
    /// The largest frame payload sent or accepted. An incoming frame above it closes
    /// the connection (logged at `error`); an outgoing message above it is dropped and
    /// counted in [`super::PeerStats::dropped_too_large`].
    pub max_frame_bytes: usize,
    /// Bound in bytes of each peer's control queue (everything but snapshot chunks).
    pub max_queue_bytes: usize,
    /// Bound in messages of each peer's control queue.
    pub max_queue_messages: usize,
    /// Bound in bytes of each peer's snapshot queue (`InstallSnapshot` chunks). Must
    /// exceed the core's `snapshot_chunk_bytes`, or every chunk is dropped.
    pub max_snapshot_queue_bytes: usize,
    /// Bound in messages of each peer's snapshot queue.
    pub max_snapshot_queue_messages: usize,
    /// How long a TCP connect may take.
    pub connect_timeout: Duration,
    /// How long either side waits for the other's handshake frame.
    pub handshake_timeout: Duration,
    /// How long one frame write (or the final flush of a batch) may stall before the
    /// connection is considered dead and closed.
    pub write_timeout: Duration,
    /// The first reconnection delay after a failure.
    pub reconnect_backoff_min: Duration,
    /// The largest reconnection delay. A connection that stayed up at least this long
    /// resets the backoff.
    pub reconnect_backoff_max: Duration,
}

impl TransportConfig {
    /// A configuration with the default bounds and timeouts: 16 MiB frames, control
    /// queues of 16 MiB / 1024 messages, snapshot queues of 32 MiB / 32 chunks, 1 s
    /// connect, 2 s handshake, 10 s write timeouts, backoff from 50 ms to 2 s.
    pub fn new(
        cluster_id: u64,
        node_id: NodeId,
        listen: SocketAddr,
        peers: BTreeMap<NodeId, SocketAddr>,
    ) -> TransportConfig {
        TransportConfig {
            cluster_id,
            node_id,
            listen,
            peers,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            max_queue_bytes: DEFAULT_MAX_QUEUE_BYTES,
            max_queue_messages: DEFAULT_MAX_QUEUE_MESSAGES,
            max_snapshot_queue_bytes: DEFAULT_MAX_SNAPSHOT_QUEUE_BYTES,
            max_snapshot_queue_messages: DEFAULT_MAX_SNAPSHOT_QUEUE_MESSAGES,
            connect_timeout: Duration::from_secs(1),
            handshake_timeout: Duration::from_secs(2),
            write_timeout: Duration::from_secs(10),
            reconnect_backoff_min: Duration::from_millis(50),
            reconnect_backoff_max: Duration::from_secs(2),
        }
    }

    /// Checks the configuration, with an error naming the first problem.
    pub fn validate(&self) -> Result<(), TransportError> {
        let invalid = |reason: String| Err(TransportError::InvalidConfig(reason));
        if self.node_id == NodeId::NONE {
            return invalid("node id 0 is reserved for \"nobody\"".into());
        }
        if self.peers.contains_key(&NodeId::NONE) {
            return invalid("peer id 0 is reserved for \"nobody\"".into());
        }
        if self.max_frame_bytes == 0 || self.max_frame_bytes > u32::MAX as usize {
            return invalid(format!(
                "max_frame_bytes must be in 1..={}, not {}",
                u32::MAX,
                self.max_frame_bytes
            ));
        }
        let bounds = [
            ("max_queue_bytes", self.max_queue_bytes),
            ("max_queue_messages", self.max_queue_messages),
            ("max_snapshot_queue_bytes", self.max_snapshot_queue_bytes),
            (
                "max_snapshot_queue_messages",
                self.max_snapshot_queue_messages,
            ),
        ];
        if let Some((name, _)) = bounds.iter().find(|(_, value)| *value == 0) {
            return invalid(format!("{name} must be positive"));
        }
        if self.reconnect_backoff_min.is_zero()
            || self.reconnect_backoff_min > self.reconnect_backoff_max
        {
            return invalid(format!(
                "reconnect backoff must satisfy 0 < min ({:?}) <= max ({:?})",
                self.reconnect_backoff_min, self.reconnect_backoff_max
            ));
        }
        let timeouts = [
            ("connect_timeout", self.connect_timeout),
            ("handshake_timeout", self.handshake_timeout),
            ("write_timeout", self.write_timeout),
        ];
        if let Some((name, _)) = timeouts.iter().find(|(_, value)| value.is_zero()) {
            return invalid(format!("{name} must be positive"));
        }
        Ok(())
    }
}
