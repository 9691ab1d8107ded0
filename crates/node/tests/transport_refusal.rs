//! Bad peers and bad input: other clusters, unknown nodes, wrong versions and garbage
//! handshakes are refused; oversized frames, undecodable frames and messages with a
//! spoofed sender close the connection without delivering anything; the process and
//! later connections carry on.

mod transport_common;

use bytes::{BufMut, BytesMut};
use node::transport::codec::WireMessage;
use node::transport::handshake::{Channel, Hello, PROTOCOL_VERSION};
use node::transport::{Transport, TransportConfig};
use raft::{Message, NodeId};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use transport_common::*;

/// Node 2 of a cluster whose only peer is node 1 at `addr1` (never started unless the
/// test starts it).
async fn node2(
    peer1: SocketAddr,
    tweak: impl Fn(&mut TransportConfig),
) -> (Transport, mpsc::Receiver<Message>) {
    let peers = BTreeMap::from([(NodeId(1), peer1)]);
    let mut config = test_config(CLUSTER, 2, &peers);
    tweak(&mut config);
    let (sender, inbound) = mpsc::channel(64);
    (Transport::start(config, sender).await.unwrap(), inbound)
}

/// Starts a transport for node `id` of `cluster_id` that knows node 2 at `addr2`.
async fn sender(
    cluster_id: u64,
    id: u64,
    addr2: SocketAddr,
) -> (Transport, mpsc::Receiver<Message>) {
    let peers = BTreeMap::from([(NodeId(2), addr2)]);
    let (sender, inbound) = mpsc::channel(64);
    let transport = Transport::start(test_config(cluster_id, id, &peers), sender)
        .await
        .unwrap();
    (transport, inbound)
}

/// `from` keeps sending to node 2 until it reports node 2 unreachable; node 2 must
/// have refused at least one connection and delivered nothing.
async fn assert_refused(
    mut from: Transport,
    from_id: u64,
    to: &Transport,
    inbound: &mut mpsc::Receiver<Message>,
) {
    let mut unreachable = from.take_unreachable_events();
    let reported = async {
        loop {
            from.send(heartbeat(from_id, 2, 1));
            if let Ok(Some(peer)) =
                tokio::time::timeout(std::time::Duration::from_millis(20), unreachable.recv()).await
            {
                return peer;
            }
        }
    };
    let peer = tokio::time::timeout(DEADLINE, reported)
        .await
        .expect("the refused sender never reported node 2 unreachable");
    assert_eq!(peer, NodeId(2));
    assert!(to.stats().refused_connections >= 1);
    assert!(
        inbound.try_recv().is_err(),
        "a refused node's message was delivered"
    );
    assert_eq!(from.stats().sent_messages, 0);
    from.shutdown().await;
}

#[tokio::test]
async fn another_cluster_is_refused() {
    init_logging();
    let (receiver, mut inbound) = node2(any_port(), |_| {}).await;
    let (other, _) = sender(CLUSTER + 1, 1, receiver.local_addr()).await;
    assert_refused(other, 1, &receiver, &mut inbound).await;
    receiver.shutdown().await;
}

#[tokio::test]
async fn an_unknown_node_is_refused() {
    init_logging();
    let (receiver, mut inbound) = node2(any_port(), |_| {}).await;
    let (stranger, _) = sender(CLUSTER, 9, receiver.local_addr()).await;
    assert_refused(stranger, 9, &receiver, &mut inbound).await;
    receiver.shutdown().await;
}

#[tokio::test]
async fn bad_handshakes_are_refused_with_a_reason() {
    init_logging();
    let (receiver, mut inbound) = node2(any_port(), |_| {}).await;
    let addr = receiver.local_addr();
    let cases = [
        (
            Hello {
                protocol_version: PROTOCOL_VERSION + 1,
                ..hello(1, 2)
            },
            "protocol version",
        ),
        (
            Hello {
                magic: 0,
                ..hello(1, 2)
            },
            "not a raftkv",
        ),
        (hello(1, 3), "meant for node"),
        (
            Hello {
                channel: 7,
                ..hello(1, 2)
            },
            "unknown channel",
        ),
    ];
    for (refused, (hello, reason)) in cases.into_iter().enumerate() {
        let (mut stream, reply) = raw_handshake(addr, &hello).await;
        assert!(!reply.accepted);
        assert!(reply.reason.contains(reason), "{:?}", reply.reason);
        wait_closed(&mut stream).await;
        assert_eq!(receiver.stats().refused_connections, refused as u64 + 1);
    }
    // Garbage instead of a handshake: refused and closed.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(&[0xff; 64]).await.unwrap();
    wait_closed(&mut stream).await;
    wait_until("the garbage connection is counted", || {
        receiver.stats().refused_connections == 5
    })
    .await;
    assert!(inbound.try_recv().is_err());
    receiver.shutdown().await;
}

/// Writes one frame with `payload` (its length prefix first).
async fn write_raw_frame(
    stream: &mut tokio::net::TcpStream,
    payload: &[u8],
) -> std::io::Result<()> {
    let mut frame = BytesMut::new();
    frame.put_u32(payload.len() as u32);
    frame.put_slice(payload);
    stream.write_all(&frame).await
}

fn encoded(message: &Message) -> Vec<u8> {
    prost::Message::encode_to_vec(&WireMessage::from(message))
}

/// After a bad connection closed, a proper transport for node 1 still gets through.
async fn assert_node1_still_gets_through(addr2: SocketAddr, inbound: &mut mpsc::Receiver<Message>) {
    let (node1, _) = sender(CLUSTER, 1, addr2).await;
    node1.send(heartbeat(1, 2, 42));
    assert_eq!(recv(inbound).await, heartbeat(1, 2, 42));
    node1.shutdown().await;
}

#[tokio::test]
async fn an_oversized_frame_closes_the_connection_only() {
    init_logging();
    let max = 64 << 10;
    let (receiver, mut inbound) = node2(any_port(), |config| config.max_frame_bytes = max).await;
    let addr = receiver.local_addr();
    let (mut stream, reply) = raw_handshake(addr, &hello(1, 2)).await;
    assert!(reply.accepted, "{}", reply.reason);
    // A valid message first: delivered.
    write_raw_frame(&mut stream, &encoded(&heartbeat(1, 2, 1)))
        .await
        .unwrap();
    assert_eq!(recv(&mut inbound).await, heartbeat(1, 2, 1));
    // Then a header announcing one byte more than the maximum: closed at once, before
    // the payload arrives.
    stream
        .write_all(&(max as u32 + 1).to_be_bytes())
        .await
        .unwrap();
    wait_closed(&mut stream).await;
    wait_until("the error is counted", || {
        receiver.stats().inbound_errors == 1
    })
    .await;
    assert!(inbound.try_recv().is_err());
    assert_node1_still_gets_through(addr, &mut inbound).await;
    receiver.shutdown().await;
}

#[tokio::test]
async fn malformed_frames_close_the_connection_and_deliver_nothing() {
    init_logging();
    let (receiver, mut inbound) = node2(any_port(), |_| {}).await;
    let addr = receiver.local_addr();
    let bad_payloads: Vec<Vec<u8>> = vec![
        vec![0xff; 32],                             // invalid wire type
        vec![0x0a, 0x7f],                           // a length running past the end
        encoded(&heartbeat(1, 2, 1))[..5].to_vec(), // truncated message
        vec![0x08, 0x01],                           // valid protobuf, no body
        encoded(&heartbeat(3, 2, 1)),               // not from the handshaken node
        encoded(&heartbeat(1, 5, 1)),               // not to this node
    ];
    for (errors, payload) in bad_payloads.iter().enumerate() {
        let (mut stream, reply) = raw_handshake(addr, &hello(1, 2)).await;
        assert!(reply.accepted, "{}", reply.reason);
        write_raw_frame(&mut stream, payload).await.unwrap();
        // Whatever follows on the same connection is not delivered either (the write
        // may fail if the connection is already closed).
        let _ = write_raw_frame(&mut stream, &encoded(&heartbeat(1, 2, 7))).await;
        wait_closed(&mut stream).await;
        wait_until("the error is counted", || {
            receiver.stats().inbound_errors == errors as u64 + 1
        })
        .await;
        assert!(
            inbound.try_recv().is_err(),
            "payload {errors} delivered something"
        );
    }
    assert_eq!(receiver.stats().received_messages, 0);
    assert_node1_still_gets_through(addr, &mut inbound).await;
    receiver.shutdown().await;
}

#[tokio::test]
async fn a_snapshot_channel_hello_is_accepted_and_carries_messages() {
    init_logging();
    let (receiver, mut inbound) = node2(any_port(), |_| {}).await;
    let hello = Hello::new(CLUSTER, NodeId(1), NodeId(2), Channel::Snapshot);
    let (mut stream, reply) = raw_handshake(receiver.local_addr(), &hello).await;
    assert!(reply.accepted);
    let chunk = every_variant(1, 2)
        .into_iter()
        .find(|m| Channel::for_message(m) == Channel::Snapshot)
        .unwrap();
    write_raw_frame(&mut stream, &encoded(&chunk))
        .await
        .unwrap();
    assert_eq!(recv(&mut inbound).await, chunk);
    receiver.shutdown().await;
}
