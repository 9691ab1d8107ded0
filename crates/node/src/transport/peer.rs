//! One outgoing connection to one peer on one channel: the task that connects,
//! handshakes, drains the queue in batches (feed every queued frame, then one flush),
//! notices the connection breaking, and reconnects with backoff.
//!
//! Connections are opened on demand: when a message is queued and there is no
//! connection. A broken connection is noticed at once even when idle, because the task
//! also reads from the socket (the accepting side never writes after the handshake, so
//! any read completing means the connection closed).

use super::backoff::Backoff;
use super::codec::WireMessage;
use super::config::TransportConfig;
use super::frame::{read_frame, write_frame, FrameCodec, FrameError, FRAME_HEADER_BYTES};
use super::handshake::{Channel, Hello, HelloReply, MAX_HANDSHAKE_FRAME_BYTES};
use super::queue::{LinkState, OutQueue};
use super::stats::{add, Counters, PeerCounters};
use super::unreachable::UnreachableReporter;
use futures::SinkExt;
use prost::Message as _;
use raft::NodeId;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::io::AsyncReadExt;
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};
use tokio_util::codec::FramedWrite;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

/// How many bytes the framed writer buffers before it writes them out mid-batch.
const WRITE_BUFFER_BYTES: usize = 64 << 10;

/// Why a connection attempt failed.
#[derive(Debug, thiserror::Error)]
enum ConnectError {
    #[error("connect failed: {0}")]
    Connect(io::Error),
    #[error("connect timed out")]
    ConnectTimeout,
    #[error("handshake failed: {0}")]
    Handshake(FrameError),
    #[error("handshake timed out")]
    HandshakeTimeout,
    #[error("handshake reply is malformed")]
    BadReply,
    #[error("refused by the peer: {0}")]
    Refused(String),
}

/// How an established connection ended.
enum End {
    /// The transport is shutting down.
    Shutdown,
    /// The connection broke or closed; `lost` messages of the batch being written were
    /// not confirmed written.
    Closed { reason: String, lost: usize },
}

/// Everything one connection task needs.
pub(crate) struct Link {
    pub peer: NodeId,
    pub channel: Channel,
    pub addr: SocketAddr,
    pub queue: Arc<OutQueue>,
    pub counters: Arc<PeerCounters>,
    pub transport_counters: Arc<Counters>,
    pub reporter: Arc<UnreachableReporter>,
    pub config: Arc<TransportConfig>,
}

impl Link {
    /// Runs until `shutdown` is cancelled.
    pub(crate) async fn run(self, shutdown: CancellationToken) {
        let salt = self.config.node_id.0 ^ (self.peer.0 << 1) ^ u64::from(self.channel.code());
        let mut backoff = Backoff::new(
            self.config.reconnect_backoff_min,
            self.config.reconnect_backoff_max,
            salt,
        );
        let mut failures: u64 = 0;
        loop {
            self.queue.set_state(LinkState::Idle);
            // Connect on demand: wait until something is queued.
            while self.queue.is_empty() {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = self.queue.notified() => {}
                }
            }
            self.queue.set_state(LinkState::Connecting);
            let attempt = tokio::select! {
                _ = shutdown.cancelled() => return,
                attempt = self.connect() => attempt,
            };
            let stream = match attempt {
                Ok(stream) => stream,
                Err(err) => {
                    failures += 1;
                    // Warn on the first failure and then sparsely, not every attempt.
                    if failures.is_power_of_two() {
                        warn!(peer = %self.peer, channel = %self.channel, addr = %self.addr,
                              failures, "cannot reach peer: {err}");
                    } else {
                        debug!(peer = %self.peer, channel = %self.channel, addr = %self.addr,
                               failures, "cannot reach peer: {err}");
                    }
                    self.reporter.report(self.peer);
                    if !self.back_off(&mut backoff, &shutdown).await {
                        return;
                    }
                    continue;
                }
            };
            if failures > 0 {
                info!(peer = %self.peer, channel = %self.channel, "reconnected after {failures} failed attempts");
            }
            failures = 0;
            self.reporter.reachable(self.peer);
            self.queue.set_state(LinkState::Connected);
            add(&self.counters.connections, 1);
            if self.channel == Channel::Control {
                self.counters.connected.store(true, Ordering::Relaxed);
            }
            let established = Instant::now();
            let end = self.run_connection(stream, &shutdown).await;
            if self.channel == Channel::Control {
                self.counters.connected.store(false, Ordering::Relaxed);
            }
            let End::Closed { reason, lost } = end else {
                return;
            };
            add(&self.counters.dropped_disconnected, lost as u64);
            if lost > 0 || !self.queue.is_empty() {
                warn!(peer = %self.peer, channel = %self.channel, lost, "connection lost: {reason}");
                self.reporter.report(self.peer);
            } else {
                debug!(peer = %self.peer, channel = %self.channel, "connection closed: {reason}");
            }
            if established.elapsed() >= backoff.max() {
                // It lasted: reconnect at once when there is something to send.
                backoff.reset();
            } else if !self.back_off(&mut backoff, &shutdown).await {
                // A connection that breaks soon after it opened counts as a failure,
                // so a peer that accepts and drops at once is not hammered.
                return;
            }
        }
    }

    /// Drops what is queued, refuses new messages for one backoff delay; false if the
    /// transport shut down meanwhile.
    async fn back_off(&self, backoff: &mut Backoff, shutdown: &CancellationToken) -> bool {
        let dropped = self.queue.enter_backoff();
        add(&self.counters.dropped_disconnected, dropped as u64);
        let delay = backoff.next_delay();
        tokio::select! {
            _ = shutdown.cancelled() => false,
            _ = tokio::time::sleep(delay) => true,
        }
    }

    /// Opens the TCP connection and performs the handshake.
    async fn connect(&self) -> Result<TcpStream, ConnectError> {
        let mut stream = timeout(self.config.connect_timeout, TcpStream::connect(self.addr))
            .await
            .map_err(|_| ConnectError::ConnectTimeout)?
            .map_err(ConnectError::Connect)?;
        // Heartbeats and votes are small and latency-bound.
        stream.set_nodelay(true).map_err(ConnectError::Connect)?;
        let hello = Hello::new(
            self.config.cluster_id,
            self.config.node_id,
            self.peer,
            self.channel,
        );
        let handshake = async {
            write_frame(&mut stream, &hello, MAX_HANDSHAKE_FRAME_BYTES)
                .await
                .map_err(ConnectError::Handshake)?;
            read_frame(&mut stream, MAX_HANDSHAKE_FRAME_BYTES)
                .await
                .map_err(ConnectError::Handshake)
        };
        let reply = timeout(self.config.handshake_timeout, handshake)
            .await
            .map_err(|_| ConnectError::HandshakeTimeout)??;
        let reply = HelloReply::decode(reply).map_err(|_| ConnectError::BadReply)?;
        if !reply.accepted {
            return Err(ConnectError::Refused(reply.reason));
        }
        Ok(stream)
    }

    /// Writes queued messages in batches until the connection ends.
    async fn run_connection(&self, stream: TcpStream, shutdown: &CancellationToken) -> End {
        let (mut read_half, write_half) = stream.into_split();
        let codec = FrameCodec::new(self.config.max_frame_bytes);
        let mut sink = FramedWrite::new(write_half, codec);
        sink.set_backpressure_boundary(WRITE_BUFFER_BYTES);
        loop {
            let batch = loop {
                let batch = self.queue.drain();
                if !batch.is_empty() {
                    break batch;
                }
                tokio::select! {
                    biased;
                    _ = shutdown.cancelled() => return End::Shutdown,
                    reason = closed(&mut read_half) => return End::Closed { reason, lost: 0 },
                    _ = self.queue.notified() => {}
                }
            };
            let count = batch.len();
            let write = async {
                let mut written = 0usize;
                let mut bytes = 0u64;
                for message in batch {
                    let wire = WireMessage::from(message);
                    let len = wire.encoded_len();
                    if len > codec.max_frame_bytes() {
                        add(&self.counters.dropped_too_large, 1);
                        error!(peer = %self.peer, len, max = codec.max_frame_bytes(),
                               "dropping a message larger than the maximum frame");
                        continue;
                    }
                    self.write_step(sink.feed(wire)).await?;
                    written += 1;
                    bytes += (FRAME_HEADER_BYTES + len) as u64;
                }
                self.write_step(SinkExt::<WireMessage>::flush(&mut sink))
                    .await?;
                Ok::<_, String>((written, bytes))
            };
            tokio::select! {
                _ = shutdown.cancelled() => return End::Shutdown,
                result = write => match result {
                    Ok((written, bytes)) => {
                        add(&self.counters.sent_messages, written as u64);
                        add(&self.transport_counters.sent_bytes, bytes);
                    }
                    Err(reason) => return End::Closed { reason, lost: count },
                },
            }
        }
    }

    /// One write operation (a frame fed, or the flush), bounded by the write timeout.
    async fn write_step(
        &self,
        step: impl std::future::Future<Output = Result<(), FrameError>>,
    ) -> Result<(), String> {
        match timeout(self.config.write_timeout, step).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(format!("write failed: {err}")),
            Err(_) => Err(format!("write stalled for {:?}", self.config.write_timeout)),
        }
    }
}

/// Completes when the peer closes the connection (or it breaks), with why.
async fn closed(read_half: &mut OwnedReadHalf) -> String {
    let mut probe = [0u8; 64];
    match read_half.read(&mut probe).await {
        Ok(0) => "closed by the peer".to_string(),
        Ok(_) => "the peer sent unexpected data".to_string(),
        Err(err) => format!("read failed: {err}"),
    }
}
