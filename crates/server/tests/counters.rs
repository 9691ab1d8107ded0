//! INCR / DECR / INCRBY / DECRBY over RESP and the native client's `increment`: one
//! log entry each, Redis's replies and errors, refusals that change nothing.

mod common;

use bytes::Bytes;
use common::{bulk, is_error_starting, Cluster, Resp};
use kv::KvError;
use server::client::{Client, ClientError, ClientOptions};
use server::resp::Reply;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resp_counters_behave_like_redis() {
    let cluster = Cluster::start(1).await;
    let leader = cluster.leader().await;
    let mut c = Resp::connect(cluster.address(leader)).await;

    assert_eq!(c.cmd(&["INCR", "n"]).await, Reply::Integer(1));
    assert_eq!(c.cmd(&["INCRBY", "n", "41"]).await, Reply::Integer(42));
    assert_eq!(c.cmd(&["DECR", "n"]).await, Reply::Integer(41));
    assert_eq!(c.cmd(&["DECRBY", "n", "-9"]).await, Reply::Integer(50));
    assert_eq!(c.cmd(&["DECRBY", "m", "5"]).await, Reply::Integer(-5));
    // Stored as decimal ASCII.
    assert_eq!(c.cmd(&["GET", "n"]).await, bulk("50"));
    assert_eq!(c.cmd(&["SET", "n", "-7"]).await, Reply::ok());
    assert_eq!(c.cmd(&["INCR", "n"]).await, Reply::Integer(-6));

    // Not a decimal integer: refused, value kept.
    for bad in ["abc", "1.5", " 1", "01", "+1", ""] {
        assert_eq!(c.cmd(&["SET", "s", bad]).await, Reply::ok());
        assert!(
            is_error_starting(
                &c.cmd(&["INCR", "s"]).await,
                "ERR value is not an integer or out of range"
            ),
            "{bad:?}"
        );
        assert_eq!(c.cmd(&["GET", "s"]).await, bulk(bad));
    }
    // A bad argument.
    assert!(is_error_starting(
        &c.cmd(&["INCRBY", "n", "x"]).await,
        "ERR value is not an integer or out of range"
    ));
    assert!(is_error_starting(
        &c.cmd(&["DECRBY", "n", "-9223372036854775808"]).await,
        "ERR decrement would overflow"
    ));

    // Overflow: refused, value kept.
    let max = i64::MAX.to_string();
    assert_eq!(c.cmd(&["SET", "big", &max]).await, Reply::ok());
    assert!(is_error_starting(
        &c.cmd(&["INCR", "big"]).await,
        "ERR increment or decrement would overflow"
    ));
    assert_eq!(c.cmd(&["GET", "big"]).await, bulk(&max));
    assert_eq!(c.cmd(&["DECRBY", "big", &max]).await, Reply::Integer(0));
    assert!(is_error_starting(
        &c.cmd(&["INCR", "n", "extra"]).await,
        "ERR wrong number of arguments for 'incr' command"
    ));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn native_increment_returns_the_new_value_and_typed_refusals() {
    let cluster = Cluster::start(3).await;
    let leader = cluster.leader().await;
    let follower = cluster.followers(leader)[0];
    let mut client = Client::new([cluster.address(follower)], ClientOptions::default());

    assert_eq!(client.increment("n", 5).await.unwrap(), 5);
    assert_eq!(client.increment("n", -8).await.unwrap(), -3);
    assert_eq!(client.get("n").await.unwrap(), Some(Bytes::from("-3")));

    client.put("s", "text").await.unwrap();
    assert_eq!(
        client.increment("s", 1).await,
        Err(ClientError::Rejected(KvError::NotAnInteger))
    );
    client.put("s", i64::MIN.to_string()).await.unwrap();
    assert_eq!(
        client.increment("s", -1).await,
        Err(ClientError::Rejected(KvError::Overflow))
    );
    assert_eq!(
        client.get("s").await.unwrap(),
        Some(Bytes::from(i64::MIN.to_string()))
    );
    // The session goes on after refusals.
    assert_eq!(client.increment("n", 3).await.unwrap(), 0);
    cluster.shutdown().await;
}
