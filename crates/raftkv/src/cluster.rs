//! `raftkv cluster`: a local cluster on loopback, in this process.

use crate::serve::{bind_pair, node_config, DEFAULT_CLUSTER_ID};
use crate::stop_signal::StopSignal;
use clap::Args;
use raft::NodeId;
use server::launch::RunningServer;
use server::service::ServerConfig;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Args)]
pub struct ClusterArgs {
    /// How many nodes (3 or 5 make sense).
    #[arg(long, default_value_t = 3)]
    pub nodes: u64,
    /// Where the nodes keep their data (node-1, node-2, ... inside).
    #[arg(long, default_value = "./raftkv-data")]
    pub data_dir: PathBuf,
    /// Node N serves clients on BASE+N and Raft on BASE+100+N.
    #[arg(long, default_value_t = 7000)]
    pub base_port: u16,
    /// Serve GETs from the leader's lease, without a heartbeat round per read: faster,
    /// but linearizable only while clock drift between nodes stays well below the
    /// election timeout (see docs/design/core.md, "Lease reads").
    #[arg(long)]
    pub lease_reads: bool,
}

/// Records the cluster's size in the data directory, refusing a different one later.
fn check_cluster_size(data_dir: &Path, nodes: u64) -> Result<bool, String> {
    let marker = data_dir.join("cluster-size");
    match std::fs::read_to_string(&marker) {
        Ok(text) => {
            let recorded: u64 = text.trim().parse().unwrap_or(0);
            if recorded != nodes {
                return Err(format!(
                    "{} holds a {recorded}-node cluster: pass --nodes {recorded}, or another --data-dir for a new cluster",
                    data_dir.display()
                ));
            }
            Ok(true)
        }
        Err(_) => {
            std::fs::create_dir_all(data_dir)
                .and_then(|()| std::fs::write(&marker, format!("{nodes}\n")))
                .map_err(|error| format!("cannot use {}: {error}", data_dir.display()))?;
            Ok(false)
        }
    }
}

pub async fn cluster(args: ClusterArgs) -> Result<(), String> {
    let stop = StopSignal::install();
    if args.nodes == 0 || args.nodes > 99 {
        return Err("--nodes must be between 1 and 99 (3 or 5 make sense)".into());
    }
    if u32::from(args.base_port) + 100 + args.nodes as u32 > u32::from(u16::MAX) {
        return Err("--base-port is too high: ports BASE+1 .. BASE+100+NODES must exist".into());
    }
    let reused = check_cluster_size(&args.data_dir, args.nodes)?;
    let ids: Vec<NodeId> = (1..=args.nodes).map(NodeId).collect();
    let loopback = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    let clients: BTreeMap<NodeId, SocketAddr> = ids
        .iter()
        .map(|&id| (id, loopback(args.base_port + id.0 as u16)))
        .collect();
    let peers: BTreeMap<NodeId, SocketAddr> = ids
        .iter()
        .map(|&id| (id, loopback(args.base_port + 100 + id.0 as u16)))
        .collect();
    let mut listeners = Vec::new();
    for &id in &ids {
        listeners.push(bind_pair(peers[&id], clients[&id], Some(args.base_port)).await?);
    }
    let mut servers: Vec<RunningServer> = Vec::new();
    for (&id, (peer_listener, client_listener)) in ids.iter().zip(listeners) {
        let config = node_config(
            DEFAULT_CLUSTER_ID,
            id,
            peers.clone(),
            args.data_dir.join(format!("node-{}", id.0)),
            args.lease_reads,
        );
        match server::launch::start(
            &config,
            ServerConfig::new(id, clients.clone()),
            peer_listener,
            client_listener,
        )
        .await
        {
            Ok(server) => servers.push(server),
            Err(error) => {
                for server in servers {
                    server.shutdown().await;
                }
                return Err(format!(
                    "node {}: {error}\n(the data is in {}; pass another --data-dir to start afresh)",
                    id.0,
                    args.data_dir.display()
                ));
            }
        }
    }
    println!(
        "raftkv: {}-node cluster on loopback, data in {} ({})",
        args.nodes,
        args.data_dir.display(),
        if reused { "reused" } else { "new" }
    );
    for &id in &ids {
        println!(
            "  node {}: clients on {} (RESP and native), raft on {}",
            id.0, clients[&id], peers[&id]
        );
    }
    let first = clients[&ids[0]];
    let last = clients[ids.last().expect("at least one node")];
    println!("Try:");
    println!(
        "  redis-cli -p {} set hello world && redis-cli -p {} get hello",
        first.port(),
        last.port()
    );
    println!("  cargo run --release -p raftkv -- status --addr {first}");
    println!("Ctrl-C stops the cluster.");
    match wait_for_leader(&servers).await {
        Some(leader) => println!("raftkv: node {} leads", leader.0),
        None => println!("raftkv: no leader yet (still electing)"),
    }
    stop.wait().await;
    println!("raftkv: stopping the cluster");
    for server in servers {
        server.shutdown().await;
    }
    println!(
        "raftkv: stopped; the data stays in {}",
        args.data_dir.display()
    );
    Ok(())
}

async fn wait_for_leader(servers: &[RunningServer]) -> Option<NodeId> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        for server in servers {
            if let Ok(status) = server.node().status().await {
                if status.raft.role == raft::Role::Leader {
                    return Some(status.raft.id);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}
