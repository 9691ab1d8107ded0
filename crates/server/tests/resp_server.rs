//! The RESP server over real sockets against in-process clusters of 1 and 3 nodes.

mod common;

use common::{bulk, is_error_starting, simple, Cluster, Resp};
use server::resp::Reply;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_command_on_a_single_node() {
    let cluster = Cluster::start(1).await;
    let leader = cluster.leader().await;
    let mut c = Resp::connect(cluster.address(leader)).await;

    assert_eq!(c.cmd(&["PING"]).await, simple("PONG"));
    assert_eq!(c.cmd(&["ping", "hi"]).await, bulk("hi"));
    assert_eq!(c.cmd(&["ECHO", "a b"]).await, bulk("a b"));

    assert_eq!(c.cmd(&["GET", "k"]).await, Reply::nil());
    assert_eq!(c.cmd(&["SET", "k", "v1"]).await, Reply::ok());
    assert_eq!(c.cmd(&["GET", "k"]).await, bulk("v1"));
    assert_eq!(c.cmd(&["SET", "k", "v2", "NX"]).await, Reply::nil());
    assert_eq!(c.cmd(&["SET", "k", "v2", "XX"]).await, Reply::ok());
    assert_eq!(c.cmd(&["GET", "k"]).await, bulk("v2"));
    assert_eq!(c.cmd(&["SET", "new", "x", "xx"]).await, Reply::nil());
    assert_eq!(c.cmd(&["SET", "new", "x", "nx"]).await, Reply::ok());
    assert_eq!(c.cmd(&["SETNX", "new", "y"]).await, Reply::Integer(0));
    assert!(is_error_starting(
        &c.cmd(&["SET", "k", "v", "NX", "XX"]).await,
        "ERR syntax error"
    ));
    assert!(is_error_starting(
        &c.cmd(&["SET", "k", "v", "EX", "10", "PX", "5"]).await,
        "ERR syntax error"
    ));

    assert_eq!(c.cmd(&["APPEND", "a", "hello"]).await, Reply::Integer(5));
    assert_eq!(c.cmd(&["APPEND", "a", " world"]).await, Reply::Integer(11));
    assert_eq!(c.cmd(&["GET", "a"]).await, bulk("hello world"));
    assert_eq!(c.cmd(&["STRLEN", "a"]).await, Reply::Integer(11));
    assert_eq!(c.cmd(&["STRLEN", "missing"]).await, Reply::Integer(0));

    assert_eq!(c.cmd(&["INCR", "n"]).await, Reply::Integer(1));
    assert_eq!(c.cmd(&["INCR", "n"]).await, Reply::Integer(2));
    assert_eq!(c.cmd(&["INCRBY", "n", "10"]).await, Reply::Integer(12));
    assert_eq!(c.cmd(&["DECR", "n"]).await, Reply::Integer(11));
    assert!(is_error_starting(
        &c.cmd(&["INCR", "a"]).await,
        "ERR value is not an integer"
    ));

    assert_eq!(
        c.cmd(&["MGET", "k", "missing", "a"]).await,
        Reply::Array(Some(vec![bulk("v2"), Reply::nil(), bulk("hello world")]))
    );
    assert_eq!(
        c.cmd(&["EXISTS", "k", "missing", "k"]).await,
        Reply::Integer(2)
    );
    assert_eq!(c.cmd(&["DBSIZE"]).await, Reply::Integer(4));
    assert_eq!(
        c.cmd(&["DEL", "k", "missing", "a"]).await,
        Reply::Integer(2)
    );
    assert_eq!(c.cmd(&["EXISTS", "k"]).await, Reply::Integer(0));
    assert_eq!(c.cmd(&["DBSIZE"]).await, Reply::Integer(2));

    let Reply::Bulk(Some(info)) = c.cmd(&["INFO"]).await else {
        panic!("INFO is a bulk string")
    };
    let info = String::from_utf8(info.to_vec()).unwrap();
    for field in [
        "# Raft",
        "role:leader",
        "term:",
        "leader:1",
        "commit:",
        "applied:",
    ] {
        assert!(info.contains(field), "INFO lacks {field}: {info}");
    }
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "save"]).await,
        Reply::Array(Some(vec![bulk("save"), bulk("")]))
    );
    assert!(matches!(c.cmd(&["COMMAND", "COUNT"]).await, Reply::Integer(n) if n > 10));
    assert_eq!(
        c.cmd(&["COMMAND", "DOCS"]).await,
        Reply::Array(Some(vec![]))
    );
    assert_eq!(c.cmd(&["SELECT", "0"]).await, Reply::ok());

    assert_eq!(c.cmd(&["QUIT"]).await, Reply::ok());
    assert!(c.closed().await);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn errors_are_redis_style_and_malformed_input_closes_only_that_connection() {
    let cluster = Cluster::start(1).await;
    let leader = cluster.leader().await;
    let address = cluster.address(leader);
    let mut c = Resp::connect(address).await;
    let mut bystander = Resp::connect(address).await;
    assert_eq!(bystander.cmd(&["SET", "b", "1"]).await, Reply::ok());

    assert!(is_error_starting(
        &c.cmd(&["FLUSHALL", "x"]).await,
        "ERR unknown command 'FLUSHALL', with args beginning with: 'x'"
    ));
    assert!(is_error_starting(
        &c.cmd(&["GET"]).await,
        "ERR wrong number of arguments for 'get' command"
    ));
    assert!(is_error_starting(
        &c.cmd(&["SET", "k"]).await,
        "ERR wrong number of arguments for 'set' command"
    ));
    assert!(is_error_starting(
        &c.cmd(&["ECHO", "a", "b"]).await,
        "ERR wrong number"
    ));

    let limits = cluster.server_configs[&leader].kv_limits;
    let big_key = "k".repeat(limits.max_key_bytes + 1);
    assert!(is_error_starting(
        &c.cmd(&["SET", &big_key, "v"]).await,
        "ERR key of"
    ));
    assert!(is_error_starting(
        &c.cmd(&["GET", &big_key]).await,
        "ERR key of"
    ));
    let big_value = "v".repeat(limits.max_value_bytes + 1);
    assert!(is_error_starting(
        &c.cmd(&["SET", "k", &big_value]).await,
        "ERR value of"
    ));
    assert!(is_error_starting(
        &c.cmd(&["APPEND", "b", &big_value]).await,
        "ERR value of"
    ));
    // The connection is still usable after command errors.
    assert_eq!(c.cmd(&["GET", "b"]).await, bulk("1"));

    // Pipelined: three commands in one write, three replies in order.
    c.send_raw(
        b"*3\r\n$3\r\nSET\r\n$1\r\np\r\n$1\r\n1\r\nINCR p\r\n*2\r\n$3\r\nGET\r\n$1\r\np\r\n",
    )
    .await;
    assert_eq!(c.read_reply().await, Some(Reply::ok()));
    assert_eq!(c.read_reply().await, Some(Reply::Integer(2)));
    assert_eq!(c.read_reply().await, Some(bulk("2")));

    // A bulk length beyond the limit: an error, then the connection closes.
    let too_long = cluster.server_configs[&leader].resp_limits.max_bulk_bytes + 1;
    c.send_raw(format!("*2\r\n$3\r\nGET\r\n${too_long}\r\n").as_bytes())
        .await;
    assert!(is_error_starting(
        &c.read_reply().await.unwrap(),
        "ERR Protocol error: invalid bulk length"
    ));
    assert!(c.closed().await);

    // Garbage: an error, then the connection closes.
    let mut garbage = Resp::connect(address).await;
    garbage.send_raw(b"*1\r\n+PING\r\n").await;
    assert!(is_error_starting(
        &garbage.read_reply().await.unwrap(),
        "ERR Protocol error"
    ));
    assert!(garbage.closed().await);

    // The others did not notice.
    assert_eq!(bystander.cmd(&["GET", "b"]).await, bulk("1"));
    assert_eq!(bystander.cmd(&["PING"]).await, simple("PONG"));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn followers_forward_to_the_leader_and_increments_are_atomic() {
    let cluster = Cluster::start(3).await;
    let leader = cluster.leader().await;
    let follower = cluster.followers(leader)[0];
    let mut on_follower = Resp::connect(cluster.address(follower)).await;
    assert_eq!(
        on_follower.cmd(&["SET", "f", "from-follower"]).await,
        Reply::ok()
    );
    for &id in cluster.servers.keys() {
        let mut c = Resp::connect(cluster.address(id)).await;
        assert_eq!(
            c.cmd(&["GET", "f"]).await,
            bulk("from-follower"),
            "node {id}"
        );
        let Reply::Integer(before) = c.cmd(&["STRLEN", "log"]).await else {
            panic!("STRLEN is an integer")
        };
        assert_eq!(
            c.cmd(&["APPEND", "log", "x"]).await,
            Reply::Integer(before + 1)
        );
    }
    // INFO on a follower reports its own view.
    let Reply::Bulk(Some(info)) = on_follower.cmd(&["INFO", "raft"]).await else {
        panic!()
    };
    let info = String::from_utf8(info.to_vec()).unwrap();
    assert!(info.contains("role:follower"), "{info}");
    assert!(info.contains(&format!("leader:{}", leader.0)), "{info}");

    // Concurrent INCRs through every node: none lost, none doubled.
    let mut tasks = Vec::new();
    for &id in cluster.servers.keys() {
        let address = cluster.address(id);
        tasks.push(tokio::spawn(async move {
            let mut c = Resp::connect(address).await;
            for _ in 0..20 {
                assert!(matches!(
                    c.cmd(&["INCR", "counter"]).await,
                    Reply::Integer(_)
                ));
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(on_follower.cmd(&["GET", "counter"]).await, bulk("60"));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resp_client_on_a_follower_rides_through_a_leader_change() {
    let mut cluster = Cluster::start(3).await;
    let leader = cluster.leader().await;
    let survivor = cluster.followers(leader)[0];
    let mut c = Resp::connect(cluster.address(survivor)).await;
    assert_eq!(c.cmd(&["SET", "before", "1"]).await, Reply::ok());
    cluster.stop(leader).await;
    // The server waits for the new leader and forwards (or serves) the request.
    assert_eq!(c.cmd(&["SET", "after", "2"]).await, Reply::ok());
    assert_eq!(
        c.cmd(&["MGET", "before", "after"]).await,
        Reply::Array(Some(vec![bulk("1"), bulk("2")]))
    );
    cluster.shutdown().await;
}
