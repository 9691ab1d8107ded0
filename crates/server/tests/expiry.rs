//! Key expiry over RESP on a 3-node cluster, through a follower (so stamped requests
//! are forwarded): SET's expiry options, TTL / PTTL, EXPIRE and PERSIST. Nothing here
//! depends on exact timing: deadlines are either far away (100 s) or already past, and
//! the one real expiry is awaited by polling up to a generous deadline.

mod common;

use common::{bulk, is_error_starting, Cluster, Resp, DEADLINE};
use server::resp::Reply;
use std::time::Duration;

fn integer(reply: Reply) -> i64 {
    match reply {
        Reply::Integer(value) => value,
        other => panic!("not an integer: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_expire_and_ttls_read_back() {
    let cluster = Cluster::start(3).await;
    let leader = cluster.leader().await;
    let follower = cluster.followers(leader)[0];
    let mut c = Resp::connect(cluster.address(follower)).await;

    assert_eq!(c.cmd(&["SET", "k", "v", "EX", "100"]).await, Reply::ok());
    assert_eq!(c.cmd(&["GET", "k"]).await, bulk("v"));
    let ttl = integer(c.cmd(&["TTL", "k"]).await);
    assert!((90..=100).contains(&ttl), "TTL {ttl}");
    let pttl = integer(c.cmd(&["PTTL", "k"]).await);
    assert!((90_000..=100_000).contains(&pttl), "PTTL {pttl}");

    // KEEPTTL keeps it, a plain SET drops it, PERSIST removes it.
    assert_eq!(c.cmd(&["SET", "k", "w", "KEEPTTL"]).await, Reply::ok());
    assert!(integer(c.cmd(&["TTL", "k"]).await) > 0);
    assert_eq!(c.cmd(&["SET", "k", "x"]).await, Reply::ok());
    assert_eq!(c.cmd(&["TTL", "k"]).await, Reply::Integer(-1));
    assert_eq!(c.cmd(&["EXPIRE", "k", "100"]).await, Reply::Integer(1));
    assert_eq!(c.cmd(&["PERSIST", "k"]).await, Reply::Integer(1));
    assert_eq!(c.cmd(&["PERSIST", "k"]).await, Reply::Integer(0));
    assert_eq!(c.cmd(&["TTL", "k"]).await, Reply::Integer(-1));
    assert_eq!(c.cmd(&["TTL", "missing"]).await, Reply::Integer(-2));
    assert_eq!(c.cmd(&["PTTL", "missing"]).await, Reply::Integer(-2));
    assert_eq!(c.cmd(&["EXPIRE", "missing", "10"]).await, Reply::Integer(0));

    // SET NX PX: a lock that only one client takes.
    assert_eq!(
        c.cmd(&["SET", "lock", "a", "NX", "PX", "100000"]).await,
        Reply::ok()
    );
    assert_eq!(
        c.cmd(&["SET", "lock", "b", "NX", "PX", "100000"]).await,
        Reply::nil()
    );
    assert_eq!(c.cmd(&["GET", "lock"]).await, bulk("a"));
    assert!(integer(c.cmd(&["PTTL", "lock"]).await) > 0);
    // XX with KEEPTTL rewrites it and keeps the deadline; XX on a missing key does not.
    assert_eq!(
        c.cmd(&["SET", "lock", "c", "XX", "KEEPTTL"]).await,
        Reply::ok()
    );
    assert!(integer(c.cmd(&["PTTL", "lock"]).await) > 0);
    assert_eq!(c.cmd(&["GET", "lock"]).await, bulk("c"));
    assert_eq!(
        c.cmd(&["SET", "nolock", "c", "XX", "EX", "5"]).await,
        Reply::nil()
    );
    assert_eq!(c.cmd(&["EXISTS", "nolock"]).await, Reply::Integer(0));

    // INFO's keyspace line counts the keys with a deadline (here: "lock"); asked of
    // the leader, which applied every write it acknowledged (a follower may lag).
    let mut on_leader = Resp::connect(cluster.address(leader)).await;
    let Reply::Bulk(Some(info)) = on_leader.cmd(&["INFO"]).await else {
        panic!("INFO is a bulk string")
    };
    let info = String::from_utf8(info.to_vec()).unwrap();
    assert!(info.contains(",expires=1,"), "{info}");

    // Deadlines already past: gone at once.
    assert_eq!(c.cmd(&["SET", "old", "v", "EXAT", "1"]).await, Reply::ok());
    assert_eq!(c.cmd(&["GET", "old"]).await, Reply::nil());
    assert_eq!(c.cmd(&["PEXPIRE", "k", "-1"]).await, Reply::Integer(1));
    assert_eq!(c.cmd(&["GET", "k"]).await, Reply::nil());
    assert_eq!(c.cmd(&["EXISTS", "k"]).await, Reply::Integer(0));

    // A real expiry, about a second away: present now, absent eventually.
    assert_eq!(c.cmd(&["SET", "soon", "v", "EX", "100"]).await, Reply::ok());
    assert_eq!(c.cmd(&["GET", "soon"]).await, bulk("v"));
    assert_eq!(c.cmd(&["PEXPIRE", "soon", "1000"]).await, Reply::Integer(1));
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while c.cmd(&["GET", "soon"]).await != Reply::nil() {
        assert!(tokio::time::Instant::now() < deadline, "never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Once expired by the clock of the node that read it, a write through the log
    // (stamped later still) finds it gone too.
    assert_eq!(c.cmd(&["APPEND", "soon", "ab"]).await, Reply::Integer(2));
    assert_eq!(c.cmd(&["TTL", "soon"]).await, Reply::Integer(-1));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_expiry_arguments_get_redis_errors() {
    let cluster = Cluster::start(1).await;
    let leader = cluster.leader().await;
    let mut c = Resp::connect(cluster.address(leader)).await;
    for (command, error) in [
        (
            &["SET", "k", "v", "EX", "0"][..],
            "ERR invalid expire time in 'set' command",
        ),
        (
            &["SET", "k", "v", "PX", "-1"],
            "ERR invalid expire time in 'set' command",
        ),
        (
            &["SET", "k", "v", "EX", "x"],
            "ERR value is not an integer or out of range",
        ),
        (&["SET", "k", "v", "EX"], "ERR syntax error"),
        (&["SET", "k", "v", "EX", "1", "KEEPTTL"], "ERR syntax error"),
        (
            &["EXPIRE", "k", "1.5"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["EXPIRE", "k", "9223372036854775807"],
            "ERR invalid expire time in 'expire' command",
        ),
        (&["TTL"], "ERR wrong number of arguments for 'ttl' command"),
    ] {
        let reply = c.cmd(command).await;
        assert!(is_error_starting(&reply, error), "{command:?}: {reply:?}");
    }
    // Nothing was written by the refused commands.
    assert_eq!(c.cmd(&["GET", "k"]).await, Reply::nil());
    cluster.shutdown().await;
}
