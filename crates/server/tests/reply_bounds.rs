//! Reads whose reply would exceed `ServerConfig::max_reply_bytes` (8 MiB) are refused
//! with an error, over RESP (MGET, also through a follower that forwards) and the
//! native client (`get_many`); smaller reads of the same keys still work.

mod common;

use bytes::Bytes;
use common::{is_error_starting, Cluster, Resp};
use server::client::{Client, ClientError, ClientOptions};
use server::resp::Reply;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_oversized_read_gets_an_error_not_a_huge_reply() {
    let cluster = Cluster::start(3).await;
    let leader = cluster.leader().await;
    let config = &cluster.server_configs[&leader];
    let max_reply = config.max_reply_bytes;
    let value_size = config.kv_limits.max_value_bytes;
    let value = "v".repeat(value_size);
    // Just enough maximal values to go past the bound.
    let count = max_reply / value_size + 1;
    let keys: Vec<String> = (0..count).map(|i| format!("big-{i}")).collect();
    let mut c = Resp::connect(cluster.address(leader)).await;
    for key in &keys {
        assert_eq!(c.cmd(&["SET", key, &value]).await, Reply::ok());
    }
    let mut mget = vec!["MGET"];
    mget.extend(keys.iter().map(String::as_str));

    let reply = c.cmd(&mget).await;
    assert!(
        is_error_starting(&reply, "ERR reply of"),
        "{:?}",
        short(&reply)
    );
    // Through a follower: the leader refuses, the follower passes the error on.
    let follower = cluster.followers(leader)[0];
    let mut f = Resp::connect(cluster.address(follower)).await;
    let reply = f.cmd(&mget).await;
    assert!(
        is_error_starting(&reply, "ERR reply of"),
        "{:?}",
        short(&reply)
    );
    // One key fewer fits, and the connection is still usable.
    mget.pop();
    let Reply::Array(Some(values)) = c.cmd(&mget).await else {
        panic!("MGET of {} keys fails", count - 1);
    };
    assert_eq!(values.len(), count - 1);
    assert_eq!(
        c.cmd(&["STRLEN", "big-0"]).await,
        Reply::Integer(value_size as i64)
    );

    let mut client = Client::new([cluster.address(leader)], ClientOptions::default());
    let all: Vec<Bytes> = keys.iter().map(|key| Bytes::from(key.clone())).collect();
    match client.get_many(all.clone()).await {
        Err(ClientError::TooLarge(message)) => assert!(message.contains("reply of"), "{message}"),
        other => panic!("expected TooLarge, got {:?}", other.map(|r| r.values.len())),
    }
    let fewer = client.get_many(all[1..].to_vec()).await.unwrap();
    assert_eq!(fewer.values.len(), count - 1);
    cluster.shutdown().await;
}

/// A reply without its (huge) values, for assertion messages.
fn short(reply: &Reply) -> String {
    match reply {
        Reply::Array(Some(items)) => format!("array of {}", items.len()),
        other => format!("{other:?}"),
    }
}
