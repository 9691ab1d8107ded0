//! Whole nodes on real sockets and real disks (fsync on): 127.0.0.1 ports, temporary
//! data directories. Waits are on conditions with generous deadlines.

mod common;

use bytes::Bytes;
use common::Recorder;
use node::launch::{launch_with_listener, LaunchedNode};
use node::runtime::{NodeConfig, NodeError};
use node::storage::StorageOptions;
use node::transport::Transport;
use raft::{Index, NodeId, Role};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(30);

struct Cluster {
    configs: BTreeMap<NodeId, NodeConfig>,
    nodes: BTreeMap<NodeId, LaunchedNode>,
    machines: BTreeMap<NodeId, Recorder>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    async fn start(size: u64, max_raft_state_bytes: u64) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let mut listeners = BTreeMap::new();
        for id in 1..=size {
            let listener = Transport::bind("127.0.0.1:0".parse().unwrap())
                .await
                .unwrap();
            listeners.insert(NodeId(id), listener);
        }
        let peers: BTreeMap<NodeId, SocketAddr> = listeners
            .iter()
            .map(|(&id, l)| (id, l.local_addr()))
            .collect();
        let mut cluster = Cluster {
            configs: BTreeMap::new(),
            nodes: BTreeMap::new(),
            machines: BTreeMap::new(),
            _dir: dir,
        };
        for (id, listener) in listeners {
            let mut config = NodeConfig::new(
                42,
                id,
                peers.clone(),
                cluster._dir.path().join(format!("node-{}", id.0)),
            );
            config.election_timeout_ticks = 30;
            config.max_raft_state_bytes = max_raft_state_bytes;
            cluster.configs.insert(id, config);
            cluster.launch(id, listener).await;
        }
        cluster
    }

    async fn launch(&mut self, id: NodeId, listener: node::transport::BoundListener) {
        let machine = Recorder::default();
        let node = launch_with_listener(
            &self.configs[&id],
            listener,
            StorageOptions::default(),
            machine.clone(),
        )
        .await
        .unwrap();
        self.machines.insert(id, machine);
        self.nodes.insert(id, node);
    }

    /// Restarts a stopped node on its old port and data directory.
    async fn restart(&mut self, id: NodeId) {
        let address = self.configs[&id].listen_address().unwrap();
        let listener = eventually(|| async { Transport::bind(address).await.ok() }).await;
        self.launch(id, listener).await;
    }

    async fn stop(&mut self, id: NodeId) {
        self.nodes.remove(&id).unwrap().shutdown().await;
    }

    async fn leader(&self) -> NodeId {
        eventually(|| async {
            for (&id, node) in &self.nodes {
                if node.handle.status().await.ok()?.raft.role == Role::Leader {
                    return Some(id);
                }
            }
            None
        })
        .await
    }

    /// Proposes `count` commands from `concurrency` tasks, each retrying on whichever
    /// node leads; returns once all are applied on the leader.
    async fn propose_many(&self, prefix: &str, count: usize, concurrency: usize) {
        let handles: Arc<Vec<_>> = Arc::new(
            self.nodes
                .values()
                .map(|node| node.handle.clone())
                .collect(),
        );
        let mut tasks = Vec::new();
        for worker in 0..concurrency {
            let handles = handles.clone();
            let prefix = prefix.to_string();
            tasks.push(tokio::spawn(async move {
                for i in (worker..count).step_by(concurrency) {
                    propose_anywhere(&handles, Bytes::from(format!("{prefix}-{i}"))).await;
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    }

    async fn wait_applied(&self, id: NodeId, count: usize) {
        let machine = &self.machines[&id];
        eventually(|| async { (machine.len() >= count).then_some(()) }).await;
    }
}

async fn propose_anywhere(handles: &[node::runtime::NodeHandle], data: Bytes) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut target = 0;
    while tokio::time::Instant::now() < deadline {
        match handles[target % handles.len()].propose(data.clone()).await {
            Ok(_) => return,
            Err(
                NodeError::NotLeader { .. }
                | NodeError::ProposalDropped
                | NodeError::Busy
                | NodeError::ShuttingDown,
            ) => {
                target += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(error) => panic!("proposal failed: {error}"),
        }
    }
    panic!("proposal {data:?} not committed within {DEADLINE:?}");
}

/// Polls `probe` until it yields a value, failing after the deadline.
async fn eventually<T, F, Fut>(mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The identical-sequence check: every node applied the same commands at the same
/// indexes (a node restored from a snapshot holds the snapshot's history).
fn assert_same_sequence(cluster: &Cluster, count: usize) {
    let reference: Vec<(Index, Bytes)> =
        cluster.machines.values().next().unwrap().applied()[..count].to_vec();
    for (id, machine) in &cluster.machines {
        assert_eq!(
            machine.applied()[..count],
            reference[..],
            "node {id} applied a different sequence"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_replicate_fail_over_restart_and_catch_up_by_snapshot() {
    let mut cluster = Cluster::start(3, 64 << 10).await;
    let first_leader = cluster.leader().await;
    cluster.propose_many("a", 10_000, 64).await;
    for id in 1..=3 {
        cluster.wait_applied(NodeId(id), 10_000).await;
    }
    assert_same_sequence(&cluster, 10_000);

    // Stop the leader; another is elected and takes writes.
    cluster.stop(first_leader).await;
    let second_leader = cluster.leader().await;
    assert_ne!(second_leader, first_leader);
    cluster.propose_many("b", 2_000, 32).await;

    // The old leader restarts from its data directory; while it was down the others
    // took snapshots, so it catches up by InstallSnapshot.
    let status = cluster.nodes[&second_leader].handle.status().await.unwrap();
    assert!(
        status.raft.snapshot_index > Index(10_000),
        "no snapshot beyond the downtime: {status:?}"
    );
    cluster.machines.remove(&first_leader);
    cluster.restart(first_leader).await;
    for id in 1..=3 {
        cluster.wait_applied(NodeId(id), 12_000).await;
    }
    assert_same_sequence(&cluster, 12_000);
    for id in 1..=3 {
        cluster.stop(NodeId(id)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_survive_two_stopped_and_restarted() {
    let mut cluster = Cluster::start(5, u64::MAX).await;
    cluster.propose_many("a", 1_000, 32).await;
    let leader = cluster.leader().await;
    let follower = NodeId(if leader.0 == 1 { 2 } else { 1 });
    cluster.stop(leader).await;
    cluster.stop(follower).await;
    cluster.propose_many("b", 500, 16).await;
    cluster.machines.remove(&leader);
    cluster.machines.remove(&follower);
    cluster.restart(leader).await;
    cluster.restart(follower).await;
    for id in 1..=5 {
        cluster.wait_applied(NodeId(id), 1_500).await;
    }
    assert_same_sequence(&cluster, 1_500);
    for id in 1..=5 {
        cluster.stop(NodeId(id)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_puts_the_node_in_a_failed_state_that_acknowledges_nothing() {
    use node::storage::{FaultInjector, FaultOp, InjectedError};
    let dir = tempfile::tempdir().unwrap();
    let listener = Transport::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let peers = BTreeMap::from([(NodeId(1), listener.local_addr())]);
    let config = NodeConfig::new(9, NodeId(1), peers, dir.path().join("solo"));
    let faults = Arc::new(FaultInjector::new());
    let options = StorageOptions {
        fault_injector: Some(faults.clone()),
        ..StorageOptions::default()
    };
    let node = launch_with_listener(&config, listener, options, Recorder::default())
        .await
        .unwrap();
    let handle = node.handle.clone();
    eventually(|| async { (handle.status().await.ok()?.raft.role == Role::Leader).then_some(()) })
        .await;
    handle.propose(Bytes::from_static(b"before")).await.unwrap();

    faults.fail_next(FaultOp::Sync, InjectedError::ENOSPC);
    let result = tokio::time::timeout(DEADLINE, handle.propose(Bytes::from_static(b"lost"))).await;
    assert!(
        matches!(result, Ok(Err(NodeError::StorageFailed(_)))),
        "got {result:?}"
    );
    let status = handle.status().await.unwrap();
    let failure = status.storage_failure.expect("status reports the failure");
    assert!(
        failure.contains("No space left") || failure.contains("ENOSPC") || failure.contains("28"),
        "{failure}"
    );
    assert!(matches!(
        handle.propose(Bytes::from_static(b"after")).await,
        Err(NodeError::StorageFailed(_))
    ));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_directory_of_another_cluster_or_node_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let start = |cluster_id: u64, node_id: u64| {
        let data_dir = dir.path().join("shared");
        async move {
            let listener = Transport::bind("127.0.0.1:0".parse().unwrap())
                .await
                .unwrap();
            let peers = BTreeMap::from([(NodeId(node_id), listener.local_addr())]);
            let config = NodeConfig::new(cluster_id, NodeId(node_id), peers, data_dir);
            launch_with_listener(
                &config,
                listener,
                StorageOptions::default(),
                Recorder::default(),
            )
            .await
        }
    };
    start(42, 1).await.unwrap().shutdown().await;
    for (cluster_id, node_id) in [(43, 1), (42, 2)] {
        let error = start(cluster_id, node_id).await.err().expect("must refuse");
        let message = error.to_string();
        assert!(
            message.contains("42") && message.contains(&cluster_id.to_string()),
            "{message}"
        );
    }
    start(42, 1)
        .await
        .expect("its own node reopens it")
        .shutdown()
        .await;
}
