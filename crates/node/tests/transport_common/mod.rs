//! Helpers shared by the `transport_*` integration tests: transports on 127.0.0.1 with
//! port 0, sample messages of every variant, a raw peer speaking the wire protocol by
//! hand, and waits on conditions with generous deadlines.
#![allow(dead_code)]

use bytes::Bytes;
use node::transport::frame::{read_frame, write_frame};
use node::transport::handshake::{Channel, Hello, HelloReply, MAX_HANDSHAKE_FRAME_BYTES};
use node::transport::{Transport, TransportConfig};
use prost::Message as _;
use raft::{ConflictHint, Entry, EntryId, Index, Message, MessageBody, NodeId, SnapshotMeta, Term};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// How long any condition may take before a test fails: generous, since a loaded
/// machine can be slow; passing tests never wait this long.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// The cluster id of the test clusters.
pub const CLUSTER: u64 = 0xc1u64;

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
}

/// 127.0.0.1 with port 0.
pub fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A config for a test: short backoff so reconnection tests stay fast.
pub fn test_config(
    cluster_id: u64,
    node_id: u64,
    peers: &BTreeMap<NodeId, SocketAddr>,
) -> TransportConfig {
    let mut config = TransportConfig::new(cluster_id, NodeId(node_id), any_port(), peers.clone());
    config.reconnect_backoff_min = Duration::from_millis(10);
    config.reconnect_backoff_max = Duration::from_millis(100);
    config
}

/// A running node's transport and its inbound receiver.
pub struct TestNode {
    pub transport: Transport,
    pub inbound: mpsc::Receiver<Message>,
}

/// Starts transports for `ids` in one cluster, each knowing all the others (and
/// itself, which the transport ignores). `tweak` adjusts each config.
pub async fn start_cluster(
    ids: &[u64],
    tweak: impl Fn(&mut TransportConfig),
) -> BTreeMap<NodeId, TestNode> {
    let mut bound = Vec::new();
    for _ in ids {
        bound.push(Transport::bind(any_port()).await.unwrap());
    }
    let peers: BTreeMap<NodeId, SocketAddr> = ids
        .iter()
        .zip(&bound)
        .map(|(&id, listener)| (NodeId(id), listener.local_addr()))
        .collect();
    let mut nodes = BTreeMap::new();
    for (&id, listener) in ids.iter().zip(bound) {
        let mut config = test_config(CLUSTER, id, &peers);
        tweak(&mut config);
        let (sender, inbound) = mpsc::channel(1024);
        let transport = Transport::start_with_listener(listener, config, sender)
            .await
            .unwrap();
        nodes.insert(NodeId(id), TestNode { transport, inbound });
    }
    nodes
}

/// One message of every variant from `from` to `to`, optional parts present and
/// absent, empty and command entries.
pub fn every_variant(from: u64, to: u64) -> Vec<Message> {
    let message = |term: u64, body| Message {
        from: NodeId(from),
        to: NodeId(to),
        term: Term(term),
        body,
    };
    vec![
        message(
            3,
            MessageBody::RequestVote {
                pre_vote: true,
                last_log: EntryId::new(2, 10),
                transfer: false,
            },
        ),
        message(
            4,
            MessageBody::RequestVote {
                pre_vote: false,
                last_log: EntryId::new(2, 10),
                transfer: true,
            },
        ),
        message(
            4,
            MessageBody::RequestVoteResponse {
                pre_vote: true,
                granted: false,
            },
        ),
        message(
            4,
            MessageBody::AppendEntries {
                prev_log: EntryId::new(2, 10),
                entries: vec![
                    Entry::empty(Term(4), Index(11)),
                    Entry::command(Term(4), Index(12), Bytes::from_static(b"set k v")),
                    Entry::command(Term(4), Index(13), Bytes::new()),
                ],
                leader_commit: Index(10),
                read_round: 9,
            },
        ),
        message(
            4,
            MessageBody::AppendEntries {
                prev_log: EntryId::new(4, 13),
                entries: vec![],
                leader_commit: Index(13),
                read_round: 0,
            },
        ),
        message(
            4,
            MessageBody::AppendEntriesResponse {
                success: true,
                match_index: Index(13),
                conflict: None,
                read_round: 9,
            },
        ),
        message(
            4,
            MessageBody::AppendEntriesResponse {
                success: false,
                match_index: Index::ZERO,
                conflict: Some(ConflictHint {
                    rejected: Index(10),
                    term: Term(1),
                    index: Index(7),
                }),
                read_round: 0,
            },
        ),
        message(
            4,
            MessageBody::InstallSnapshot {
                meta: SnapshotMeta {
                    last_included: EntryId::new(3, 500),
                },
                offset: 0,
                data: Bytes::from(vec![7u8; 100_000]),
                done: false,
            },
        ),
        message(
            4,
            MessageBody::InstallSnapshot {
                meta: SnapshotMeta {
                    last_included: EntryId::new(3, 500),
                },
                offset: 100_000,
                data: Bytes::from_static(b"tail"),
                done: true,
            },
        ),
        message(
            4,
            MessageBody::InstallSnapshotResponse {
                last_included: EntryId::new(3, 500),
                next_offset: 100_004,
                done: true,
                accepted: true,
            },
        ),
        message(5, MessageBody::TimeoutNow),
    ]
}

/// A heartbeat from `from` to `to` in `term`.
pub fn heartbeat(from: u64, to: u64, term: u64) -> Message {
    Message {
        from: NodeId(from),
        to: NodeId(to),
        term: Term(term),
        body: MessageBody::AppendEntries {
            prev_log: EntryId::default(),
            entries: vec![],
            leader_commit: Index::ZERO,
            read_round: 0,
        },
    }
}

/// The next inbound message, failing the test after [`DEADLINE`].
pub async fn recv(inbound: &mut mpsc::Receiver<Message>) -> Message {
    tokio::time::timeout(DEADLINE, inbound.recv())
        .await
        .expect("no message within the deadline")
        .expect("inbound channel closed")
}

/// Waits (polling) until `condition` holds, failing the test after [`DEADLINE`].
pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let waiting = async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(DEADLINE, waiting)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting until {what}"));
}

/// Connects to `addr` and sends `hello`; returns the stream and the reply.
pub async fn raw_handshake(addr: SocketAddr, hello: &Hello) -> (TcpStream, HelloReply) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    write_frame(&mut stream, hello, MAX_HANDSHAKE_FRAME_BYTES)
        .await
        .unwrap();
    let reply = tokio::time::timeout(DEADLINE, read_frame(&mut stream, MAX_HANDSHAKE_FRAME_BYTES))
        .await
        .expect("no handshake reply")
        .expect("handshake reply");
    (stream, HelloReply::decode(reply).unwrap())
}

/// A valid control-channel hello from `from` to `to` in [`CLUSTER`].
pub fn hello(from: u64, to: u64) -> Hello {
    Hello::new(CLUSTER, NodeId(from), NodeId(to), Channel::Control)
}

/// Waits until the other side closes `stream` (EOF or reset), discarding what it
/// sends; fails the test after [`DEADLINE`].
pub async fn wait_closed(stream: &mut TcpStream) {
    use tokio::io::AsyncReadExt;
    let mut buffer = [0u8; 256];
    let closed = async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(DEADLINE, closed)
        .await
        .expect("connection was not closed");
}
