//! Bounds: full outgoing queues drop and count instead of growing, oversized outgoing
//! messages are dropped, a full inbound channel pushes back on the reader without losing
//! messages, and heartbeats are not delayed by snapshot chunks stuck on a slow peer.

mod transport_common;

use bytes::Bytes;
use futures::StreamExt;
use node::transport::codec::decode_message;
use node::transport::frame::{read_frame, write_frame, FrameCodec};
use node::transport::handshake::{Channel, Hello, HelloReply, MAX_HANDSHAKE_FRAME_BYTES};
use node::transport::Transport;
use prost::Message as _;
use raft::{Entry, EntryId, Index, Message, MessageBody, NodeId, SnapshotMeta, Term};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::codec::FramedRead;
use transport_common::*;

fn append_with_payload(from: u64, to: u64, payload_bytes: usize) -> Message {
    Message {
        from: NodeId(from),
        to: NodeId(to),
        term: Term(1),
        body: MessageBody::AppendEntries {
            prev_log: EntryId::default(),
            entries: vec![Entry::command(
                Term(1),
                Index(1),
                Bytes::from(vec![1u8; payload_bytes]),
            )],
            leader_commit: Index::ZERO,
            read_round: 0,
        },
    }
}

fn snapshot_chunk(from: u64, to: u64, offset: u64, data: Bytes) -> Message {
    Message {
        from: NodeId(from),
        to: NodeId(to),
        term: Term(1),
        body: MessageBody::InstallSnapshot {
            meta: SnapshotMeta {
                last_included: EntryId::new(1, 1000),
            },
            offset,
            data,
            done: false,
        },
    }
}

/// A transport whose only peer, node 2, accepts TCP connections (the kernel's backlog)
/// but never answers the handshake, so its queues never drain.
async fn stuck_transport(
    silent: &TcpListener,
    tweak: impl Fn(&mut node::transport::TransportConfig),
) -> Transport {
    let peers = BTreeMap::from([(NodeId(2), silent.local_addr().unwrap())]);
    let mut config = test_config(CLUSTER, 1, &peers);
    config.handshake_timeout = Duration::from_secs(60);
    tweak(&mut config);
    let (sender, _inbound) = mpsc::channel(16);
    Transport::start(config, sender).await.unwrap()
}

#[tokio::test]
async fn full_queues_drop_and_count_instead_of_growing() {
    init_logging();
    let silent = TcpListener::bind(any_port()).await.unwrap();

    // Bounded in messages; the snapshot queue has bounds of its own.
    let transport = stuck_transport(&silent, |config| {
        config.max_queue_messages = 10;
        config.max_snapshot_queue_messages = 3;
    })
    .await;
    for term in 0..100 {
        transport.send(heartbeat(1, 2, term));
    }
    for offset in 0..10 {
        transport.send(snapshot_chunk(1, 2, offset, Bytes::from_static(b"chunk")));
    }
    let stats = transport.stats();
    assert_eq!(stats.peers[&NodeId(2)].queued_messages, 10 + 3);
    assert_eq!(stats.peers[&NodeId(2)].dropped_queue_full, 90 + 7);
    assert_eq!(stats.dropped_messages, 90 + 7);
    transport.shutdown().await;

    // Bounded in bytes.
    let transport = stuck_transport(&silent, |config| config.max_queue_bytes = 10_000).await;
    let big = append_with_payload(1, 2, 1000);
    for _ in 0..100 {
        transport.send(big.clone());
    }
    let fit = 10_000 / big.size_bytes();
    let stats = transport.stats();
    assert_eq!(stats.peers[&NodeId(2)].queued_messages as usize, fit);
    assert_eq!(
        stats.peers[&NodeId(2)].queued_bytes as usize,
        fit * big.size_bytes()
    );
    assert_eq!(
        stats.peers[&NodeId(2)].dropped_queue_full as usize,
        100 - fit
    );
    transport.shutdown().await;
}

#[tokio::test]
async fn a_message_larger_than_a_frame_is_dropped_and_counted() {
    init_logging();
    let mut nodes = start_cluster(&[1, 2], |config| config.max_frame_bytes = 1024).await;
    nodes[&NodeId(1)]
        .transport
        .send(append_with_payload(1, 2, 4096));
    nodes[&NodeId(1)].transport.send(heartbeat(1, 2, 1));
    let inbound = &mut nodes.get_mut(&NodeId(2)).unwrap().inbound;
    assert_eq!(recv(inbound).await, heartbeat(1, 2, 1));
    let stats = nodes[&NodeId(1)].transport.stats();
    assert_eq!(stats.peers[&NodeId(2)].dropped_too_large, 1);
    assert_eq!(stats.dropped_messages, 1);
    for (_, node) in nodes {
        node.transport.shutdown().await;
    }
}

/// With the inbound channel full, the reader stops; nothing is lost, and everything
/// arrives in order once the runtime reads again.
#[tokio::test]
async fn a_full_inbound_channel_pushes_back_without_losing_messages() {
    init_logging();
    let node2 = Transport::bind(any_port()).await.unwrap();
    let node1 = Transport::bind(any_port()).await.unwrap();
    let peers = BTreeMap::from([
        (NodeId(1), node1.local_addr()),
        (NodeId(2), node2.local_addr()),
    ]);
    let (sender2, mut inbound2) = mpsc::channel(4);
    let node2 = Transport::start_with_listener(node2, test_config(CLUSTER, 2, &peers), sender2)
        .await
        .unwrap();
    let (sender1, _inbound1) = mpsc::channel(4);
    let node1 = Transport::start_with_listener(node1, test_config(CLUSTER, 1, &peers), sender1)
        .await
        .unwrap();
    let count = 1000;
    for term in 0..count {
        node1.send(heartbeat(1, 2, term));
    }
    wait_until("node 1 wrote everything", || {
        node1.stats().sent_messages == count
    })
    .await;
    wait_until("node 2 filled its inbound channel", || {
        node2.stats().received_messages == 4
    })
    .await;
    for term in 0..count {
        assert_eq!(recv(&mut inbound2).await, heartbeat(1, 2, term));
    }
    assert_eq!(node1.stats().dropped_messages, 0);
    node1.shutdown().await;
    node2.shutdown().await;
}

/// What the fake slow peer observed.
enum Observed {
    /// The snapshot connection completed its handshake (and will never be read).
    SnapshotConnected,
    /// A message arrived on the control connection.
    Control(Message),
}

/// Accepts connections as node 2: answers every handshake, reads the control
/// connection, and never reads the snapshot connection.
async fn slow_snapshot_reader(listener: TcpListener, observed: mpsc::UnboundedSender<Observed>) {
    let mut unread = Vec::new();
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        let frame = read_frame(&mut stream, MAX_HANDSHAKE_FRAME_BYTES)
            .await
            .unwrap();
        let hello = Hello::decode(frame).unwrap();
        let reply = HelloReply {
            accepted: true,
            reason: String::new(),
        };
        write_frame(&mut stream, &reply, MAX_HANDSHAKE_FRAME_BYTES)
            .await
            .unwrap();
        match Channel::from_code(hello.channel).unwrap() {
            Channel::Snapshot => {
                unread.push(stream);
                let _ = observed.send(Observed::SnapshotConnected);
            }
            Channel::Control => {
                let observed = observed.clone();
                tokio::spawn(async move {
                    let mut frames = FramedRead::new(stream, FrameCodec::new(1 << 20));
                    while let Some(Ok(frame)) = frames.next().await {
                        let message = decode_message(frame).unwrap();
                        if observed.send(Observed::Control(message)).is_err() {
                            return;
                        }
                    }
                });
            }
        }
    }
}

/// 48 MiB of snapshot chunks to a peer that never reads them (more than the loopback
/// socket buffers hold, so the writer is stuck) must not delay a heartbeat sent after
/// them. The bound is generous (2 s); in practice it takes milliseconds. With a single
/// connection per peer the heartbeat would never arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_are_not_delayed_by_snapshot_chunks_to_a_slow_peer() {
    init_logging();
    let fake = TcpListener::bind(any_port()).await.unwrap();
    let peers = BTreeMap::from([(NodeId(2), fake.local_addr().unwrap())]);
    let (observed_tx, mut observed) = mpsc::unbounded_channel();
    let fake_task = tokio::spawn(slow_snapshot_reader(fake, observed_tx));

    let chunk_bytes = 8 << 20;
    let chunks = 6u64;
    let mut config = test_config(CLUSTER, 1, &peers);
    config.max_snapshot_queue_bytes = 64 << 20;
    let (sender, _inbound) = mpsc::channel(16);
    let transport = Transport::start(config, sender).await.unwrap();
    let data = Bytes::from(vec![0x5a; chunk_bytes]);
    for i in 0..chunks {
        transport.send(snapshot_chunk(1, 2, i * chunk_bytes as u64, data.clone()));
    }
    match tokio::time::timeout(DEADLINE, observed.recv()).await {
        Ok(Some(Observed::SnapshotConnected)) => {}
        _ => panic!("the snapshot connection was not opened"),
    }
    // The writer has taken at least one chunk (maybe all, in one batch) off the queue:
    // 8 MiB are in flight to a reader that reads nothing, more than the loopback socket
    // buffers absorb, so the snapshot connection is stuck.
    wait_until("a chunk is in flight", || {
        transport.stats().peers[&NodeId(2)].queued_messages < chunks
    })
    .await;

    let sent_at = Instant::now();
    transport.send(heartbeat(1, 2, 9));
    let bound = Duration::from_secs(2);
    let arrived = tokio::time::timeout(bound, async {
        loop {
            match observed.recv().await {
                Some(Observed::Control(message)) => return message,
                Some(Observed::SnapshotConnected) => {}
                None => panic!("the fake peer stopped"),
            }
        }
    })
    .await
    .expect("the heartbeat was delayed behind the snapshot chunks");
    assert_eq!(arrived, heartbeat(1, 2, 9));
    let delay = sent_at.elapsed();
    // The chunks are still stuck: only the heartbeat was flushed.
    wait_until("the heartbeat is counted", || {
        transport.stats().sent_messages >= 1
    })
    .await;
    let stats = transport.stats();
    assert_eq!(
        stats.sent_messages, 1,
        "the snapshot chunks cannot all have been written"
    );
    assert_eq!(
        stats.dropped_messages, 0,
        "the chunks are in flight, not dropped"
    );
    assert!(delay < bound, "heartbeat took {delay:?}");
    transport.shutdown().await;
    fake_task.abort();
}
