//! The native client against an in-process 3-node cluster: leader discovery,
//! exactly-once across reconnects, fail-over.

mod common;

use bytes::Bytes;
use common::Cluster;
use kv::{ClientId, Operation, Outcome, Request};
use server::client::{Client, ClientOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replayed_request_after_a_reconnect_is_applied_once() {
    let cluster = Cluster::start(3).await;
    let leader = cluster.leader().await;
    let follower = cluster.followers(leader)[0];
    // Only a follower's address: the client finds the leader through NotLeader.
    let mut client = Client::new([cluster.address(follower)], ClientOptions::default());
    client.put("k", "start-").await.unwrap();
    assert_eq!(client.append("k", "a").await.unwrap(), 7);
    assert_eq!(client.get("k").await.unwrap(), Some(Bytes::from("start-a")));

    // The same request (same session, same sequence) sent again on a new connection,
    // as the client does when an answer is lost: applied once, answered twice.
    let request = Request {
        client: ClientId(0x5eed),
        sequence: 1,
        operation: Operation::Append {
            key: Bytes::from("k"),
            value: Bytes::from("b"),
        },
        timestamp_ms: 0,
    };
    assert_eq!(
        client.execute_request(&request).await.unwrap(),
        Outcome::Appended { length: 8 }
    );
    client.disconnect();
    assert_eq!(
        client.execute_request(&request).await.unwrap(),
        Outcome::Appended { length: 8 }
    );
    // And through another node entirely.
    let mut other = Client::new([cluster.address(leader)], ClientOptions::default());
    assert_eq!(
        other.execute_request(&request).await.unwrap(),
        Outcome::Appended { length: 8 }
    );
    assert_eq!(
        client.get("k").await.unwrap(),
        Some(Bytes::from("start-ab"))
    );

    // The client's own session: a write, a reconnect, the next write.
    assert_eq!(client.append("k", "c").await.unwrap(), 9);
    client.disconnect();
    assert_eq!(client.append("k", "d").await.unwrap(), 10);
    assert_eq!(
        client.get("k").await.unwrap(),
        Some(Bytes::from("start-abcd"))
    );

    assert!(client.delete("k").await.unwrap());
    assert!(!client.delete("k").await.unwrap());
    assert_eq!(
        client.compare_and_set("c", None, "1").await.unwrap(),
        (true, None)
    );
    assert_eq!(
        client.compare_and_set("c", None, "2").await.unwrap(),
        (false, Some(Bytes::from("1")))
    );
    let status = client.status().await.unwrap();
    assert_eq!(status.client_addresses.len(), 3);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_survive_the_leader_stopping_and_the_client_follows_the_new_one() {
    let mut cluster = Cluster::start(3).await;
    let leader = cluster.leader().await;
    let addresses: Vec<_> = cluster.client_addresses.values().copied().collect();
    let mut client = Client::new(addresses, ClientOptions::default());
    for i in 0..30 {
        client
            .put(format!("key-{i}"), format!("value-{i}"))
            .await
            .unwrap();
    }
    cluster.stop(leader).await;
    for i in 30..60 {
        client
            .put(format!("key-{i}"), format!("value-{i}"))
            .await
            .unwrap();
    }
    let new_leader = cluster.leader().await;
    assert_ne!(new_leader, leader);
    let keys: Vec<Bytes> = (0..60).map(|i| Bytes::from(format!("key-{i}"))).collect();
    let result = client.get_many(keys).await.unwrap();
    for (i, value) in result.values.into_iter().enumerate() {
        assert_eq!(value, Some(Bytes::from(format!("value-{i}"))));
    }
    assert_eq!(result.key_count, 60);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_malformed_native_connection_is_closed_without_disturbing_others() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let cluster = Cluster::start(1).await;
    let leader = cluster.leader().await;
    let address = cluster.address(leader);
    let mut client = Client::new([address], ClientOptions::default());
    client.put("k", "v").await.unwrap();

    // A frame that is not a NativeRequest: an error frame, then the connection closes.
    let mut raw = tokio::net::TcpStream::connect(address).await.unwrap();
    raw.write_all(server::native::PREAMBLE).await.unwrap();
    raw.write_all(&[0, 0, 0, 3, 0xff, 0xff, 0xff])
        .await
        .unwrap();
    let mut received = Vec::new();
    tokio::time::timeout(common::DEADLINE, raw.read_to_end(&mut received))
        .await
        .unwrap()
        .unwrap();
    assert!(!received.is_empty(), "an error frame before the close");

    // A frame longer than the limit: closed.
    let mut raw = tokio::net::TcpStream::connect(address).await.unwrap();
    raw.write_all(server::native::PREAMBLE).await.unwrap();
    raw.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
    let mut received = Vec::new();
    let _ = tokio::time::timeout(common::DEADLINE, raw.read_to_end(&mut received))
        .await
        .unwrap();

    assert_eq!(client.get("k").await.unwrap(), Some(Bytes::from("v")));
    cluster.shutdown().await;
}
