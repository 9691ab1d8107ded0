//! Accepting inbound connections: the handshake, then one reader task per connection
//! that decodes frames and delivers messages into the runtime's bounded inbound channel.
//!
//! Bounds on the accepting side: at most [`MAX_PENDING_HANDSHAKES`] connections may be
//! in the handshake at once (each for at most the handshake timeout); after it, at most
//! one connection per (peer, channel) lives, since a newer one from the same peer and
//! channel replaces the older (the peer restarted or lost its half of the connection).
//! A reader awaiting space in the inbound channel stops reading its socket, so a slow
//! runtime pushes back onto the senders' queues, which then drop.

use super::codec::decode_message;
use super::config::TransportConfig;
use super::frame::{read_frame, write_frame, FrameCodec, FrameError, FRAME_HEADER_BYTES};
use super::handshake::{Acceptor, Channel, HelloReply, MAX_HANDSHAKE_FRAME_BYTES};
use super::stats::{add, Counters, PeerCounters};
use futures::StreamExt;
use raft::{Message, NodeId};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::timeout;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

/// How many inbound connections may be handshaking at once; more are closed at once.
pub const MAX_PENDING_HANDSHAKES: usize = 64;

/// The live reader of one (peer, channel): a generation number and its cancel token.
type Registry = HashMap<(NodeId, Channel), (u64, CancellationToken)>;

/// What the accepting side shares between its connection tasks.
pub(crate) struct Inbound {
    pub config: Arc<TransportConfig>,
    pub sender: mpsc::Sender<Message>,
    pub counters: Arc<Counters>,
    pub peer_counters: Arc<BTreeMap<NodeId, Arc<PeerCounters>>>,
    registry: Mutex<(u64, Registry)>,
}

impl Inbound {
    pub(crate) fn new(
        config: Arc<TransportConfig>,
        sender: mpsc::Sender<Message>,
        counters: Arc<Counters>,
        peer_counters: Arc<BTreeMap<NodeId, Arc<PeerCounters>>>,
    ) -> Inbound {
        Inbound {
            config,
            sender,
            counters,
            peer_counters,
            registry: Mutex::new((0, HashMap::new())),
        }
    }

    /// Makes a new connection the live one for (peer, channel), cancelling the older.
    fn register(
        &self,
        peer: NodeId,
        channel: Channel,
        parent: &CancellationToken,
    ) -> (u64, CancellationToken) {
        let token = parent.child_token();
        let mut registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        registry.0 += 1;
        let generation = registry.0;
        if let Some((_, older)) = registry
            .1
            .insert((peer, channel), (generation, token.clone()))
        {
            info!(%peer, %channel, "a new connection from the peer replaces its older one");
            older.cancel();
        }
        (generation, token)
    }

    /// Forgets a connection unless a newer one already replaced it.
    fn unregister(&self, peer: NodeId, channel: Channel, generation: u64) {
        let mut registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        if registry.1.get(&(peer, channel)).map(|entry| entry.0) == Some(generation) {
            registry.1.remove(&(peer, channel));
        }
    }
}

/// Accepts connections until `shutdown`, then waits for every connection task to end.
pub(crate) async fn run_listener(
    listener: TcpListener,
    inbound: Arc<Inbound>,
    shutdown: CancellationToken,
) {
    let pending = Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(joined) = connections.join_next(), if !connections.is_empty() => {
                if let Err(err) = joined {
                    if err.is_panic() {
                        error!("an inbound connection task panicked: {err}");
                    }
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    let Ok(permit) = pending.clone().try_acquire_owned() else {
                        add(&inbound.counters.refused_connections, 1);
                        warn!(%remote, "refusing connection: too many pending handshakes");
                        continue;
                    };
                    let task = serve(stream, remote, inbound.clone(), permit, shutdown.clone());
                    connections.spawn(task);
                }
                Err(err) => {
                    // Out of descriptors and the like: retry shortly rather than spin.
                    warn!("accept failed: {err}");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                    }
                }
            },
        }
    }
    drop(listener);
    // Every connection task watches a child of `shutdown`, so they all end now.
    while connections.join_next().await.is_some() {}
}

/// Handshakes an accepted connection, then reads its messages until it ends.
async fn serve(
    mut stream: TcpStream,
    remote: SocketAddr,
    inbound: Arc<Inbound>,
    permit: OwnedSemaphorePermit,
    shutdown: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let config = &inbound.config;
    let hello = tokio::select! {
        _ = shutdown.cancelled() => return,
        hello = timeout(config.handshake_timeout, read_frame(&mut stream, MAX_HANDSHAKE_FRAME_BYTES)) => hello,
    };
    let hello = match hello {
        Ok(Ok(frame)) => frame,
        Ok(Err(err)) => {
            add(&inbound.counters.refused_connections, 1);
            warn!(%remote, "refusing connection: bad handshake: {err}");
            return;
        }
        Err(_) => {
            add(&inbound.counters.refused_connections, 1);
            warn!(%remote, "refusing connection: no handshake within {:?}", config.handshake_timeout);
            return;
        }
    };
    let is_peer = |id: NodeId| inbound.peer_counters.contains_key(&id);
    let acceptor = Acceptor {
        cluster_id: config.cluster_id,
        node_id: config.node_id,
        is_peer: &is_peer,
    };
    let (peer, channel) = match acceptor.judge(hello) {
        Ok(accepted) => accepted,
        Err(refusal) => {
            add(&inbound.counters.refused_connections, 1);
            warn!(%remote, "refusing connection: {refusal}");
            let reply = HelloReply {
                accepted: false,
                reason: refusal.to_string(),
            };
            // Best effort: tell the other side why, then close.
            let _ = timeout(
                config.handshake_timeout,
                write_frame(&mut stream, &reply, MAX_HANDSHAKE_FRAME_BYTES),
            )
            .await;
            return;
        }
    };
    let reply = HelloReply {
        accepted: true,
        reason: String::new(),
    };
    match timeout(
        config.handshake_timeout,
        write_frame(&mut stream, &reply, MAX_HANDSHAKE_FRAME_BYTES),
    )
    .await
    {
        Ok(Ok(())) => {}
        Ok(Err(err)) => {
            debug!(%remote, %peer, "handshake reply failed: {err}");
            return;
        }
        Err(_) => {
            debug!(%remote, %peer, "handshake reply timed out");
            return;
        }
    }
    drop(permit);
    debug!(%remote, %peer, %channel, "accepted connection");
    let (generation, token) = inbound.register(peer, channel, &shutdown);
    read_messages(stream, remote, peer, &inbound, &token).await;
    inbound.unregister(peer, channel, generation);
}

/// Delivers the messages of an accepted connection until it ends, is replaced, or sends
/// something invalid (which closes it; nothing invalid is delivered).
async fn read_messages(
    stream: TcpStream,
    remote: SocketAddr,
    peer: NodeId,
    inbound: &Inbound,
    token: &CancellationToken,
) {
    let config = &inbound.config;
    let mut frames = FramedRead::new(stream, FrameCodec::new(config.max_frame_bytes));
    let peer_counters = &inbound.peer_counters[&peer];
    loop {
        let next = tokio::select! {
            _ = token.cancelled() => return,
            next = frames.next() => next,
        };
        let frame = match next {
            None => {
                debug!(%remote, %peer, "connection closed by the peer");
                return;
            }
            Some(Ok(frame)) => frame,
            Some(Err(FrameError::TooLarge { len, max })) => {
                add(&inbound.counters.inbound_errors, 1);
                error!(%remote, %peer, len, max, "closing connection: frame exceeds the maximum size");
                return;
            }
            Some(Err(FrameError::Io(err))) => {
                debug!(%remote, %peer, "connection broke: {err}");
                return;
            }
        };
        let frame_bytes = (FRAME_HEADER_BYTES + frame.len()) as u64;
        let message = match decode_message(frame) {
            Ok(message) => message,
            Err(err) => {
                add(&inbound.counters.inbound_errors, 1);
                warn!(%remote, %peer, "closing connection: undecodable frame: {err}");
                return;
            }
        };
        if message.from != peer || message.to != config.node_id {
            add(&inbound.counters.inbound_errors, 1);
            warn!(%remote, %peer, from = %message.from, to = %message.to,
                  "closing connection: message not from the handshaken peer or not to this node");
            return;
        }
        // Waiting here is the backpressure: the socket is not read while the runtime's
        // inbound channel is full.
        tokio::select! {
            _ = token.cancelled() => return,
            sent = inbound.sender.send(message) => if sent.is_err() {
                debug!("inbound channel closed; dropping connection");
                return;
            },
        }
        add(&peer_counters.received_messages, 1);
        add(&inbound.counters.received_bytes, frame_bytes);
    }
}
