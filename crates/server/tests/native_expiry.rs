//! The native client's SET with options and deadlines (absolute times, so nothing
//! here waits for a clock: deadlines are far ahead or already past).

mod common;

use bytes::Bytes;
use common::Cluster;
use kv::{SetCondition, SetExpiry};
use server::client::{Client, ClientOptions, Deadline};
use server::commands::wall_clock_ms;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn native_set_with_deadlines() {
    let cluster = Cluster::start(3).await;
    let leader = cluster.leader().await;
    let follower = cluster.followers(leader)[0];
    let mut client = Client::new([cluster.address(follower)], ClientOptions::default());
    let far = wall_clock_ms() + 100_000;

    let lock = |value: &'static str| (value, SetCondition::IfAbsent, SetExpiry::AtMs(far));
    let (value, condition, expiry) = lock("a");
    assert!(client.set("lock", value, condition, expiry).await.unwrap());
    let (value, condition, expiry) = lock("b");
    assert!(!client.set("lock", value, condition, expiry).await.unwrap());
    assert_eq!(client.get("lock").await.unwrap(), Some(Bytes::from("a")));
    assert_eq!(client.deadline("lock").await.unwrap(), Deadline::AtMs(far));

    assert!(client.expire_at("lock", None).await.unwrap());
    assert!(!client.expire_at("lock", None).await.unwrap());
    assert_eq!(client.deadline("lock").await.unwrap(), Deadline::Persistent);
    assert!(!client.expire_at("missing", Some(far)).await.unwrap());
    assert_eq!(client.deadline("missing").await.unwrap(), Deadline::Missing);

    // XX keeps out of missing keys; a past deadline removes the key at once.
    let xx = SetCondition::IfPresent;
    assert!(!client.set("none", "v", xx, SetExpiry::Clear).await.unwrap());
    assert!(client
        .set("lock", "c", xx, SetExpiry::AtMs(1))
        .await
        .unwrap());
    assert_eq!(client.get("lock").await.unwrap(), None);
    assert_eq!(client.deadline("lock").await.unwrap(), Deadline::Missing);
    cluster.shutdown().await;
}
