//! The cluster under test: the node processes and the proxies between them, started on
//! free loopback ports, with the operations the fault schedule needs.

use super::ports;
use super::process::{NodeProcess, NodeSpec};
use super::proxy::{Link, Network};
use server::client::Client;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

pub struct Cluster {
    pub nodes: BTreeMap<u64, NodeProcess>,
    pub network: Arc<Network>,
    /// Whether `serve` has the slow-disk flag (`--debug-fsync-delay-ms`).
    pub has_fsync_delay: bool,
    /// Nodes running with a delayed fsync.
    slow: BTreeSet<u64>,
}

fn join(addresses: &BTreeMap<u64, SocketAddr>) -> String {
    let entries: Vec<String> = addresses
        .iter()
        .map(|(id, address)| format!("{id}={address}"))
        .collect();
    entries.join(",")
}

impl Cluster {
    /// Starts `count` nodes with data and logs under `dir`, and a proxy on every link.
    pub async fn launch(count: u64, dir: &Path, lease_reads: bool) -> Result<Cluster, String> {
        let reserved = ports::reserve(2 * count as usize)?;
        let addresses = reserved.addresses();
        let peers: BTreeMap<u64, SocketAddr> = (1..=count).zip(addresses.clone()).collect();
        let clients: BTreeMap<u64, SocketAddr> = (1..=count)
            .zip(addresses[count as usize..].to_vec())
            .collect();
        let mut links = BTreeMap::new();
        let mut specs = Vec::new();
        for from in 1..=count {
            let mut view = peers.clone();
            for to in (1..=count).filter(|&to| to != from) {
                let listener = TcpListener::bind("127.0.0.1:0")
                    .await
                    .map_err(|error| format!("cannot bind a proxy port: {error}"))?;
                view.insert(to, listener.local_addr().map_err(|e| e.to_string())?);
                links.insert((from, to), Link::start(listener, peers[&to]));
            }
            specs.push(NodeSpec {
                id: from,
                peers: join(&view),
                clients: join(&clients),
                client_address: clients[&from],
                data_dir: dir.join(format!("node-{from}")),
                log_path: dir.join(format!("node-{from}.log")),
                lease_reads,
            });
        }
        let mut cluster = Cluster {
            nodes: specs
                .into_iter()
                .map(|spec| (spec.id, NodeProcess::new(spec)))
                .collect(),
            network: Arc::new(Network::new(links)),
            has_fsync_delay: serve_has_fsync_delay().await,
            slow: BTreeSet::new(),
        };
        reserved.release();
        for node in cluster.nodes.values_mut() {
            node.start(None)?;
        }
        Ok(cluster)
    }

    pub fn client_addresses(&self) -> Vec<SocketAddr> {
        self.nodes
            .values()
            .map(|node| node.spec.client_address)
            .collect()
    }

    pub fn ids(&self) -> Vec<u64> {
        self.nodes.keys().copied().collect()
    }

    fn node(&mut self, id: u64) -> &mut NodeProcess {
        self.nodes
            .get_mut(&id)
            .expect("the schedule names existing nodes")
    }

    pub async fn kill(&mut self, id: u64) {
        self.node(id).kill().await;
    }

    pub fn pause(&mut self, id: u64) {
        self.node(id).pause();
    }

    /// Restarts the node with each fsync delayed by `ms`.
    pub async fn slow_down(&mut self, id: u64, ms: u64) -> Result<(), String> {
        self.node(id).kill().await;
        self.slow.insert(id);
        self.node(id).start(Some(ms))
    }

    /// Nodes that exited without being killed: each is a crash to report.
    pub fn crashed(&mut self) -> Vec<String> {
        let mut crashes = Vec::new();
        for (id, node) in &mut self.nodes {
            if let Some(status) = node.exited() {
                crashes.push(format!(
                    "node {id} exited on its own: {status}; its log ends: {}",
                    node.last_log_line()
                ));
            }
        }
        crashes
    }

    /// Back to normal: every link passes, every node runs (not paused, normal disk).
    /// Returns the crashes found on the way (the crashed nodes are restarted).
    pub async fn heal(&mut self) -> Result<Vec<String>, String> {
        self.network.heal();
        let crashes = self.crashed();
        for id in std::mem::take(&mut self.slow) {
            self.node(id).kill().await;
        }
        for node in self.nodes.values_mut() {
            node.resume();
            if node.exited().is_some() {
                node.kill().await;
            }
            if !node.is_running() {
                node.start(None)?;
            }
        }
        Ok(crashes)
    }

    /// The leader of the highest term any node reports, waiting up to `patience` for one.
    pub async fn leader(&self, patience: Duration) -> Option<u64> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let mut best: Option<(u64, u64)> = None;
            for address in self.client_addresses() {
                let status = Client::status_of(address, Duration::from_millis(300)).await;
                if let Ok(status) = status {
                    if status.role == "Leader" && best.is_none_or(|(term, _)| status.term > term) {
                        best = Some((status.term, status.node_id));
                    }
                }
            }
            if let Some((_, id)) = best {
                return Some(id);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn shutdown(&mut self) {
        for node in self.nodes.values_mut() {
            node.kill().await;
        }
    }
}

/// Whether this binary's `serve` takes `--debug-fsync-delay-ms` (the slow-disk mode).
async fn serve_has_fsync_delay() -> bool {
    let Ok(exe) = super::process::serve_binary() else {
        return false;
    };
    let output = tokio::process::Command::new(exe)
        .args(["serve", "--help"])
        .output()
        .await;
    output.is_ok_and(|output| {
        String::from_utf8_lossy(&output.stdout).contains("--debug-fsync-delay-ms")
    })
}
