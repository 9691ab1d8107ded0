//! Three whole nodes on loopback with fsync on: committed proposals per second and
//! latency from `propose` to the leader's applied response, for 1, 64 and 256
//! concurrent proposers with 128-byte commands.
//!
//! `cargo bench -p node --bench cluster` — knobs: `CLUSTER_BENCH_SECS` (per level,
//! default 5), `CLUSTER_BENCH_PROPOSERS` (e.g. `1,64,256`). Under `cargo test` it runs a
//! short smoke pass.

use bytes::Bytes;
use hdrhistogram::Histogram;
use node::launch::{launch_with_listener, LaunchedNode};
use node::runtime::{NodeConfig, NodeHandle, StateMachine};
use node::storage::StorageOptions;
use node::transport::Transport;
use raft::{Index, NodeId, Role};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Applies nothing but counts: the benchmark measures replication, not a state machine.
struct Counter(u64);

impl StateMachine for Counter {
    fn apply(&mut self, _index: Index, _command: &[u8]) -> Bytes {
        self.0 += 1;
        Bytes::new()
    }
    fn snapshot(&self) -> Bytes {
        Bytes::copy_from_slice(&self.0.to_le_bytes())
    }
    fn restore(&mut self, snapshot: &[u8]) {
        self.0 = u64::from_le_bytes(snapshot.try_into().unwrap_or([0; 8]));
    }
}

async fn start_cluster(dir: &std::path::Path) -> Vec<LaunchedNode> {
    let mut listeners = BTreeMap::new();
    for id in 1..=3u64 {
        listeners.insert(
            NodeId(id),
            Transport::bind("127.0.0.1:0".parse().unwrap())
                .await
                .unwrap(),
        );
    }
    let peers: BTreeMap<_, _> = listeners
        .iter()
        .map(|(&id, l)| (id, l.local_addr()))
        .collect();
    let mut nodes = Vec::new();
    for (id, listener) in listeners {
        let config = NodeConfig::new(1, id, peers.clone(), dir.join(id.0.to_string()));
        nodes.push(
            launch_with_listener(&config, listener, StorageOptions::default(), Counter(0))
                .await
                .unwrap(),
        );
    }
    nodes
}

async fn leader(nodes: &[LaunchedNode]) -> NodeHandle {
    loop {
        for node in nodes {
            if node.handle.status().await.unwrap().raft.role == Role::Leader {
                return node.handle.clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `proposers` closed-loop clients against the leader for `duration`.
async fn measure(
    leader: &NodeHandle,
    proposers: usize,
    duration: Duration,
) -> (u64, Histogram<u64>) {
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for _ in 0..proposers {
        let leader = leader.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Histogram::<u64>::new(3).unwrap();
            let command = Bytes::from(vec![7u8; 128]);
            while Instant::now() < deadline {
                let start = Instant::now();
                leader
                    .propose(command.clone())
                    .await
                    .expect("proposal failed");
                latencies
                    .record(start.elapsed().as_micros() as u64)
                    .unwrap();
            }
            latencies
        }));
    }
    let mut all = Histogram::<u64>::new(3).unwrap();
    for task in tasks {
        all.add(task.await.unwrap()).unwrap();
    }
    (all.len(), all)
}

fn main() {
    let smoke = std::env::args().any(|arg| arg == "--test" || arg == "--list")
        || !std::env::args().any(|arg| arg == "--bench");
    let secs: u64 = std::env::var("CLUSTER_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let duration = if smoke {
        Duration::from_millis(200)
    } else {
        Duration::from_secs(secs)
    };
    let levels: Vec<usize> = std::env::var("CLUSTER_BENCH_PROPOSERS")
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|_| vec![1, 64, 256]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let nodes = start_cluster(dir.path()).await;
        let leader = leader(&nodes).await;
        println!("3 nodes on loopback, fsync on, 128-byte proposals, {duration:?} per level");
        println!(
            "{:>10} {:>14} {:>10} {:>10} {:>10}",
            "proposers", "proposals/s", "p50 µs", "p99 µs", "max µs"
        );
        for proposers in levels {
            // Warm up, then measure.
            measure(&leader, proposers, duration / 5).await;
            let (count, latencies) = measure(&leader, proposers, duration).await;
            println!(
                "{:>10} {:>14.0} {:>10} {:>10} {:>10}",
                proposers,
                count as f64 / duration.as_secs_f64(),
                latencies.value_at_quantile(0.5),
                latencies.value_at_quantile(0.99),
                latencies.max()
            );
        }
        for node in nodes {
            node.shutdown().await;
        }
    });
}
