//! `raftkv serve`: one durable node, and what `cluster` shares with it (configuration,
//! binding ports with errors that say what to do).

use crate::stop_signal::StopSignal;
use clap::Args;
use node::runtime::{parse_peers, NodeConfig};
use node::transport::{BoundListener, Transport, TransportError};
use raft::NodeId;
use server::service::ServerConfig;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::TcpListener;

/// The cluster id `cluster` uses, and `serve`'s default.
pub const DEFAULT_CLUSTER_ID: u64 = 0x7261_6674_6b76; // "raftkv"

/// Largest Raft message: room for a compare-and-set of two maximal values.
const MAX_MESSAGE_BYTES: usize = 4 << 20;

#[derive(Args)]
pub struct ServeArgs {
    /// This node's id (from 1).
    #[arg(long)]
    pub id: u64,
    /// Every node's Raft address: 1=127.0.0.1:7101,2=127.0.0.1:7102,...
    #[arg(long)]
    pub peers: String,
    /// Every node's client (RESP and native) address: 1=127.0.0.1:7001,...
    #[arg(long)]
    pub clients: String,
    /// Where this node keeps its log and snapshots.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The cluster's id (every node must use the same).
    #[arg(long, default_value_t = DEFAULT_CLUSTER_ID)]
    pub cluster_id: u64,
    /// Serve GETs from the leader's lease, without a heartbeat round per read: faster,
    /// but linearizable only while clock drift between nodes stays well below the
    /// election timeout (see docs/design/core.md, "Lease reads").
    #[arg(long)]
    pub lease_reads: bool,
    /// Take a snapshot once the log kept on disk exceeds this many bytes.
    #[arg(long, default_value_t = 64 << 20)]
    pub max_raft_state_bytes: u64,
    /// Debugging aid: sleep this many milliseconds before each fsync (a slow disk, for
    /// the chaos harness). Never use in production.
    #[arg(long)]
    pub debug_fsync_delay_ms: Option<u64>,
}

pub fn parse_addresses(what: &str, spec: &str) -> Result<BTreeMap<NodeId, SocketAddr>, String> {
    parse_peers(spec).map_err(|error| format!("--{what}: {error}"))
}

pub async fn serve(args: ServeArgs) -> Result<(), String> {
    let stop = StopSignal::install();
    let peers = parse_addresses("peers", &args.peers)?;
    let clients = parse_addresses("clients", &args.clients)?;
    let id = NodeId(args.id);
    if peers.keys().ne(clients.keys()) {
        return Err("--peers and --clients must list the same node ids".into());
    }
    let peer_address = *peers
        .get(&id)
        .ok_or_else(|| format!("node {} is not in --peers", args.id))?;
    let client_address = clients[&id];
    let (peer_listener, client_listener) = bind_pair(peer_address, client_address, None).await?;
    let mut node_config = node_config(args.cluster_id, id, peers, args.data_dir, args.lease_reads);
    node_config.max_raft_state_bytes = args.max_raft_state_bytes;
    node_config.debug_fsync_delay = args.debug_fsync_delay_ms.map(Duration::from_millis);
    if let Some(delay) = args.debug_fsync_delay_ms {
        tracing::warn!(
            delay_ms = delay,
            "debug: every fsync is delayed (slow disk)"
        );
    }
    let server = server::launch::start(
        &node_config,
        ServerConfig::new(id, clients),
        peer_listener,
        client_listener,
    )
    .await
    .map_err(|error| format!("node {}: {error}", id.0))?;
    tracing::info!(node = id.0, %client_address, %peer_address, "serving");
    println!("raftkv node {} serving clients on {client_address}", id.0);
    stop.wait().await;
    eprintln!("raftkv: stopping node {}", id.0);
    server.shutdown().await;
    Ok(())
}

pub fn node_config(
    cluster_id: u64,
    id: NodeId,
    peers: BTreeMap<NodeId, SocketAddr>,
    data_dir: PathBuf,
    lease_reads: bool,
) -> NodeConfig {
    let mut config = NodeConfig::new(cluster_id, id, peers, data_dir);
    config.max_message_bytes = MAX_MESSAGE_BYTES;
    config.lease_reads = lease_reads;
    config
}

/// Binds a node's Raft and client ports, with errors that say what to do.
pub async fn bind_pair(
    peer: SocketAddr,
    client: SocketAddr,
    base_port_hint: Option<u16>,
) -> Result<(BoundListener, TcpListener), String> {
    let advice = |port: u16| match base_port_hint {
        Some(base) => format!(
            "port {port} in use: pass --base-port (e.g. --base-port {}) or stop what uses it",
            base.saturating_add(1000)
        ),
        None => format!("port {port} in use: choose other addresses or stop what uses it"),
    };
    let client_listener = TcpListener::bind(client).await.map_err(|error| {
        if error.kind() == std::io::ErrorKind::AddrInUse {
            advice(client.port())
        } else {
            format!("cannot listen for clients on {client}: {error}")
        }
    })?;
    let peer_listener = Transport::bind(peer).await.map_err(|error| match error {
        TransportError::Bind { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse => {
            advice(peer.port())
        }
        other => other.to_string(),
    })?;
    Ok((peer_listener, client_listener))
}
