//! Framed TCP between peers, with a handshake and bounded queues.
//!
//! # Shape
//!
//! - **One-way connections.** A node sends to peer P only over connections it opened to
//!   P, and receives only on connections peers opened to it. No connection races, no
//!   tie-breaking; a pair of nodes has (up to) four connections.
//! - **Two channels per peer.** `InstallSnapshot` chunks go over a connection and queue
//!   of their own ([`Channel::Snapshot`]); everything else (votes, AppendEntries and
//!   heartbeats, responses, TimeoutNow) over the control connection. A multi-MiB chunk
//!   in flight to a slow follower never sits in front of a heartbeat. Messages on
//!   different channels may be reordered; Raft tolerates reordering.
//! - **Handshake** ([`handshake`]): protocol version, cluster id, sender and intended
//!   receiver node ids, channel. Mismatches are refused, logged at `warn`, and counted.
//!   Every message on an accepted connection must be `from` the handshaken peer and `to`
//!   this node, or the connection is closed.
//! - **Frames** ([`frame`]): a 4-byte big-endian length, then one prost-encoded
//!   message ([`codec`]). A frame over `max_frame_bytes` closes the connection with an
//!   `error` log; the process and other connections carry on.
//! - **Bounded queues.** [`Transport::send`] never awaits: it puts the message on the
//!   peer channel's queue, bounded in messages and bytes, or drops and counts it. A
//!   connection task drains the whole queue into the framed writer and flushes once.
//! - **Reconnection** on demand with exponential backoff and jitter; while backing off
//!   messages to that peer are dropped at once (they would be stale by the time they
//!   arrived; Raft resends). Failures are reported as [`UnreachableEvents`].
//! - **Inbound backpressure.** Decoded messages go into the bounded
//!   `mpsc::Sender<raft::Message>` given at start; when it is full the readers stop
//!   reading their sockets, the senders' queues fill, and they drop.
//!
//! # Starting
//!
//! Either [`Transport::start`] (binds `config.listen`), or, when ports must be known
//! before the configurations are built (tests with port 0), [`Transport::bind`] every
//! node first, read [`BoundListener::local_addr`], build the configs, then
//! [`Transport::start_with_listener`].

mod backoff;
pub mod codec;
mod config;
pub mod frame;
pub mod handshake;
mod listener;
mod peer;
mod queue;
mod stats;
mod unreachable;

pub use codec::DecodeError;
pub use config::{
    TransportConfig, DEFAULT_MAX_FRAME_BYTES, DEFAULT_MAX_QUEUE_BYTES, DEFAULT_MAX_QUEUE_MESSAGES,
    DEFAULT_MAX_SNAPSHOT_QUEUE_BYTES, DEFAULT_MAX_SNAPSHOT_QUEUE_MESSAGES,
};
pub use frame::FrameError;
pub use handshake::{Channel, PROTOCOL_VERSION};
pub use listener::MAX_PENDING_HANDSHAKES;
pub use stats::{PeerStats, TransportStats};
pub use unreachable::UnreachableEvents;

use listener::Inbound;
use peer::Link;
use queue::{Admission, OutQueue};
use raft::{Message, NodeId};
use stats::{add, get, Counters, PeerCounters};
use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::debug;
use unreachable::UnreachableReporter;

/// Why the transport could not start.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The configuration is inconsistent.
    #[error("invalid transport configuration: {0}")]
    InvalidConfig(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// The bound socket's address could not be read.
    #[error("cannot read the listening address: {0}")]
    LocalAddr(io::Error),
}

/// A listening socket bound ahead of [`Transport::start_with_listener`], so its port
/// (when binding port 0) is known before the peers' configurations are built.
#[derive(Debug)]
pub struct BoundListener {
    listener: TcpListener,
    local_addr: SocketAddr,
}

impl BoundListener {
    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

/// A peer's two outgoing queues and its counters.
struct PeerHandle {
    control: Arc<OutQueue>,
    snapshot: Arc<OutQueue>,
    counters: Arc<PeerCounters>,
}

/// The send side shared by [`Transport`] and its [`TransportSender`]s.
struct Outbox {
    node_id: NodeId,
    peers: BTreeMap<NodeId, PeerHandle>,
    counters: Arc<Counters>,
    reporter: Arc<UnreachableReporter>,
}

impl Outbox {
    fn send(&self, message: Message) {
        let Some(peer) = self.peers.get(&message.to) else {
            add(&self.counters.dropped_unknown_peer, 1);
            debug!(to = %message.to, from = %self.node_id, "dropping a message to an unknown node");
            return;
        };
        let queue = match Channel::for_message(&message) {
            Channel::Control => &peer.control,
            Channel::Snapshot => &peer.snapshot,
        };
        let to = message.to;
        match queue.push(message) {
            Admission::Queued => {}
            Admission::QueueFull => add(&peer.counters.dropped_queue_full, 1),
            Admission::Disconnected => {
                add(&peer.counters.dropped_disconnected, 1);
                self.reporter.report(to);
            }
        }
    }
}

/// A cheap, cloneable sending handle to a [`Transport`], for the consensus loop to own
/// while the [`Transport`] itself stays with whoever reads stats and shuts it down.
/// After the transport shut down, sends fill the (bounded) queues and then drop.
#[derive(Clone)]
pub struct TransportSender {
    outbox: Arc<Outbox>,
}

impl TransportSender {
    /// Same as [`Transport::send`].
    pub fn send(&self, message: Message) {
        self.outbox.send(message)
    }
}

/// The handle to a running transport. Dropping it stops the transport's tasks (without
/// waiting for them; use [`Transport::shutdown`] to wait).
pub struct Transport {
    local_addr: SocketAddr,
    outbox: Arc<Outbox>,
    unreachable: Option<UnreachableEvents>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Transport {
    /// Binds `listen` (port 0 picks a free port).
    pub async fn bind(listen: SocketAddr) -> Result<BoundListener, TransportError> {
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| TransportError::Bind {
                addr: listen,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(TransportError::LocalAddr)?;
        Ok(BoundListener {
            listener,
            local_addr,
        })
    }

    /// Binds `config.listen` and starts; see [`Transport::start_with_listener`].
    pub async fn start(
        config: TransportConfig,
        inbound: mpsc::Sender<Message>,
    ) -> Result<Transport, TransportError> {
        config.validate()?;
        let listener = Transport::bind(config.listen).await?;
        Transport::start_with_listener(listener, config, inbound).await
    }

    /// Starts the transport on an already bound listener (`config.listen` is ignored).
    /// Returns once it is accepting connections. Messages received from peers are
    /// delivered into `inbound`; when it is full, reading from peers pauses. Outgoing
    /// connections are opened on demand by [`Transport::send`]. Must be called within a
    /// tokio runtime.
    pub async fn start_with_listener(
        listener: BoundListener,
        config: TransportConfig,
        inbound: mpsc::Sender<Message>,
    ) -> Result<Transport, TransportError> {
        config.validate()?;
        let mut config = config;
        config.peers.remove(&config.node_id);
        let config = Arc::new(config);
        let counters = Arc::new(Counters::default());
        let (reporter, unreachable) = UnreachableReporter::new(config.peers.keys().copied());
        let reporter = Arc::new(reporter);
        let shutdown = CancellationToken::new();
        let mut tasks = Vec::new();
        let mut peers = BTreeMap::new();
        for (&peer, &addr) in &config.peers {
            let handle = PeerHandle {
                control: Arc::new(OutQueue::new(
                    config.max_queue_messages,
                    config.max_queue_bytes,
                )),
                snapshot: Arc::new(OutQueue::new(
                    config.max_snapshot_queue_messages,
                    config.max_snapshot_queue_bytes,
                )),
                counters: Arc::new(PeerCounters::default()),
            };
            for (channel, queue) in [
                (Channel::Control, &handle.control),
                (Channel::Snapshot, &handle.snapshot),
            ] {
                let link = Link {
                    peer,
                    channel,
                    addr,
                    queue: queue.clone(),
                    counters: handle.counters.clone(),
                    transport_counters: counters.clone(),
                    reporter: reporter.clone(),
                    config: config.clone(),
                };
                tasks.push(tokio::spawn(link.run(shutdown.clone())));
            }
            peers.insert(peer, handle);
        }
        let peer_counters = Arc::new(
            peers
                .iter()
                .map(|(&id, handle)| (id, handle.counters.clone()))
                .collect(),
        );
        let inbound = Arc::new(Inbound::new(
            config.clone(),
            inbound,
            counters.clone(),
            peer_counters,
        ));
        tasks.push(tokio::spawn(listener::run_listener(
            listener.listener,
            inbound,
            shutdown.clone(),
        )));
        Ok(Transport {
            local_addr: listener.local_addr,
            outbox: Arc::new(Outbox {
                node_id: config.node_id,
                peers,
                counters,
                reporter,
            }),
            unreachable: Some(unreachable),
            shutdown,
            tasks,
        })
    }

    /// Queues `message` for `message.to` without waiting. It is dropped (and counted)
    /// if the peer is unknown, its queue is full, or it is in reconnection backoff (then
    /// it is also reported unreachable). Delivery is best effort: Raft retries.
    pub fn send(&self, message: Message) {
        self.outbox.send(message)
    }

    /// A cloneable handle that sends like [`Transport::send`].
    pub fn sender(&self) -> TransportSender {
        TransportSender {
            outbox: self.outbox.clone(),
        }
    }

    /// The address the transport listens on (the bound port when configured with 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The receiver of peer-unreachable events (one per peer per episode of
    /// unreachability; see [`UnreachableEvents`]). `recv` yields `None` once the
    /// transport and every [`TransportSender`] are gone.
    ///
    /// # Panics
    ///
    /// If called twice on the same transport.
    pub fn take_unreachable_events(&mut self) -> UnreachableEvents {
        self.unreachable
            .take()
            .expect("take_unreachable_events called twice")
    }

    /// The counters now.
    pub fn stats(&self) -> TransportStats {
        let outbox = &self.outbox;
        let mut stats = TransportStats {
            dropped_unknown_peer: get(&outbox.counters.dropped_unknown_peer),
            refused_connections: get(&outbox.counters.refused_connections),
            inbound_errors: get(&outbox.counters.inbound_errors),
            received_bytes: get(&outbox.counters.received_bytes),
            sent_bytes: get(&outbox.counters.sent_bytes),
            ..TransportStats::default()
        };
        stats.dropped_messages = stats.dropped_unknown_peer;
        for (&id, peer) in &outbox.peers {
            let counters = &peer.counters;
            let (control_messages, control_bytes) = peer.control.len();
            let (snapshot_messages, snapshot_bytes) = peer.snapshot.len();
            let peer_stats = PeerStats {
                sent_messages: get(&counters.sent_messages),
                dropped_queue_full: get(&counters.dropped_queue_full),
                dropped_disconnected: get(&counters.dropped_disconnected),
                dropped_too_large: get(&counters.dropped_too_large),
                queued_messages: (control_messages + snapshot_messages) as u64,
                queued_bytes: (control_bytes + snapshot_bytes) as u64,
                connected: counters.connected.load(Ordering::Relaxed),
                connections: get(&counters.connections),
                received_messages: get(&counters.received_messages),
            };
            stats.sent_messages += peer_stats.sent_messages;
            stats.received_messages += peer_stats.received_messages;
            stats.dropped_messages += peer_stats.dropped_queue_full
                + peer_stats.dropped_disconnected
                + peer_stats.dropped_too_large;
            stats.peers.insert(id, peer_stats);
        }
        stats
    }

    /// Closes the listener and every connection and waits for all tasks to end. Queued
    /// messages are discarded. After it returns the listen port is free again.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        for task in std::mem::take(&mut self.tasks) {
            // A task that panicked has already logged; nothing more to do with it.
            let _ = task.await;
        }
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
