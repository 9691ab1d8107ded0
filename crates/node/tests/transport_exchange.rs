//! Transports on 127.0.0.1 exchanging messages: every variant round-trips between two
//! and three nodes, a restarted peer is reconnected to, and an unreachable peer is
//! reported once per episode.

mod transport_common;

use node::transport::{Channel, Transport};
use raft::{Message, NodeId};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::mpsc;
use transport_common::*;

/// Splits messages by channel: order is kept within a channel, not across them.
fn by_channel(messages: &[Message]) -> BTreeMap<Channel, Vec<Message>> {
    let mut split: BTreeMap<Channel, Vec<Message>> = BTreeMap::new();
    for message in messages {
        split
            .entry(Channel::for_message(message))
            .or_default()
            .push(message.clone());
    }
    split
}

#[tokio::test]
async fn two_transports_round_trip_every_variant() {
    init_logging();
    let mut nodes = start_cluster(&[1, 2], |_| {}).await;
    for (from, to) in [(1, 2), (2, 1)] {
        let sent = every_variant(from, to);
        for message in &sent {
            nodes[&NodeId(from)].transport.send(message.clone());
        }
        let inbound = &mut nodes.get_mut(&NodeId(to)).unwrap().inbound;
        let mut received = Vec::new();
        for _ in 0..sent.len() {
            received.push(recv(inbound).await);
        }
        assert_eq!(by_channel(&received), by_channel(&sent));
    }
    let stats = nodes[&NodeId(1)].transport.stats();
    let count = every_variant(1, 2).len() as u64;
    assert_eq!(stats.received_messages, count);
    assert_eq!(stats.dropped_messages, 0);
    assert_eq!(stats.refused_connections, 0);
    wait_until("node 1 counts its sends", || {
        nodes[&NodeId(1)].transport.stats().sent_messages == count
    })
    .await;
    for (_, node) in nodes {
        node.transport.shutdown().await;
    }
}

#[tokio::test]
async fn three_transports_exchange_between_every_pair() {
    init_logging();
    let ids = [1u64, 2, 3];
    let mut nodes = start_cluster(&ids, |_| {}).await;
    for &from in &ids {
        for &to in ids.iter().filter(|&&to| to != from) {
            for message in every_variant(from, to) {
                nodes[&NodeId(from)].transport.send(message);
            }
        }
    }
    for &to in &ids {
        let expected: Vec<Message> = ids
            .iter()
            .filter(|&&from| from != to)
            .flat_map(|&from| every_variant(from, to))
            .collect();
        let inbound = &mut nodes.get_mut(&NodeId(to)).unwrap().inbound;
        let mut received = Vec::new();
        for _ in 0..expected.len() {
            received.push(recv(inbound).await);
        }
        // Per sender and channel, in order.
        for &from in ids.iter().filter(|&&from| from != to) {
            let of = |messages: &[Message]| {
                let from_peer: Vec<Message> = messages
                    .iter()
                    .filter(|m| m.from == NodeId(from))
                    .cloned()
                    .collect();
                by_channel(&from_peer)
            };
            assert_eq!(of(&received), of(&expected), "{from} -> {to}");
        }
        assert!(inbound.try_recv().is_err(), "nothing extra delivered");
    }
    for (_, node) in nodes {
        node.transport.shutdown().await;
    }
}

/// Sends heartbeats from node `from` to node `to` until `inbound` receives one
/// (messages sent while the sender backs off are dropped, so one send is not enough
/// after a failure).
async fn send_until_received(
    transport: &Transport,
    from: u64,
    to: u64,
    inbound: &mut mpsc::Receiver<Message>,
) {
    let attempts = async {
        for term in 100.. {
            transport.send(heartbeat(from, to, term));
            if let Ok(Some(message)) =
                tokio::time::timeout(Duration::from_millis(50), inbound.recv()).await
            {
                return message;
            }
        }
        unreachable!()
    };
    let message = tokio::time::timeout(DEADLINE, attempts)
        .await
        .expect("messages never flowed again");
    assert_eq!((message.from, message.to), (NodeId(from), NodeId(to)));
}

#[tokio::test]
async fn reconnects_after_the_peer_restarts() {
    init_logging();
    let mut nodes = start_cluster(&[1, 2], |_| {}).await;
    let mut node1 = nodes.remove(&NodeId(1)).unwrap();
    let node2 = nodes.remove(&NodeId(2)).unwrap();
    let mut unreachable = node1.transport.take_unreachable_events();
    let addr2 = node2.transport.local_addr();
    let mut inbound2 = node2.inbound;
    node1.transport.send(heartbeat(1, 2, 1));
    assert_eq!(recv(&mut inbound2).await, heartbeat(1, 2, 1));
    node2.transport.send(heartbeat(2, 1, 1));
    assert_eq!(recv(&mut node1.inbound).await, heartbeat(2, 1, 1));

    node2.transport.shutdown().await;
    drop(inbound2);
    // While node 2 is down, sends fail and node 1 reports it unreachable (once).
    let reported = async {
        loop {
            node1.transport.send(heartbeat(1, 2, 2));
            if let Ok(Some(peer)) =
                tokio::time::timeout(Duration::from_millis(20), unreachable.recv()).await
            {
                return peer;
            }
        }
    };
    let peer = tokio::time::timeout(DEADLINE, reported)
        .await
        .expect("no unreachable event");
    assert_eq!(peer, NodeId(2));

    // Node 2 restarts on the same port.
    let listener = Transport::bind(addr2).await.unwrap();
    let peers = BTreeMap::from([
        (NodeId(1), node1.transport.local_addr()),
        (NodeId(2), addr2),
    ]);
    let (sender, mut inbound2) = mpsc::channel(64);
    let restarted =
        Transport::start_with_listener(listener, test_config(CLUSTER, 2, &peers), sender)
            .await
            .unwrap();
    send_until_received(&node1.transport, 1, 2, &mut inbound2).await;
    // And the other direction: node 1 accepts node 2's new connection.
    send_until_received(&restarted, 2, 1, &mut node1.inbound).await;
    assert!(node1.transport.stats().peers[&NodeId(2)].connections >= 2);
    assert!(node1.transport.stats().peers[&NodeId(2)].dropped_disconnected > 0);

    restarted.shutdown().await;
    node1.transport.shutdown().await;
}

#[tokio::test]
async fn unreachable_peer_is_reported_once_per_episode_and_sends_are_dropped() {
    init_logging();
    // A port nobody listens on.
    let closed = Transport::bind(any_port()).await.unwrap().local_addr();
    let peers = BTreeMap::from([(NodeId(2), closed)]);
    let (sender, _inbound) = mpsc::channel(64);
    let mut transport = Transport::start(test_config(CLUSTER, 1, &peers), sender)
        .await
        .unwrap();
    let mut unreachable = transport.take_unreachable_events();
    transport.send(heartbeat(1, 2, 1));
    let peer = tokio::time::timeout(DEADLINE, unreachable.recv())
        .await
        .expect("no unreachable event");
    assert_eq!(peer, Some(NodeId(2)));
    // Keep sending through several failed attempts: drops are counted, memory does not
    // grow, and the same episode yields no second event.
    wait_until("several attempts failed", || {
        transport.send(heartbeat(1, 2, 1));
        transport.stats().peers[&NodeId(2)].dropped_disconnected >= 20
    })
    .await;
    let stats = transport.stats();
    assert!(stats.peers[&NodeId(2)].queued_messages <= 1);
    assert_eq!(stats.sent_messages, 0);
    assert!(unreachable.try_recv().is_err(), "one event per episode");
    // Messages to nodes that are not peers are dropped and counted.
    transport.send(heartbeat(1, 7, 1));
    assert_eq!(transport.stats().dropped_unknown_peer, 1);
    transport.shutdown().await;
}

#[test]
fn transport_handles_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Transport>();
    assert_send_sync::<node::transport::TransportSender>();
}
