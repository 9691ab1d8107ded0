//! The `raftkv` command line: run a node (`serve`), a local cluster (`cluster`), and
//! talk to one (`get`, `put`, `append`, `del`, `status`).

use bytes::Bytes;
use clap::{Args, Parser, Subcommand};
use node::runtime::{parse_peers, NodeConfig};
use node::transport::{BoundListener, Transport, TransportError};
use raft::NodeId;
use server::client::{Client, ClientError, ClientOptions};
use server::launch::RunningServer;
use server::service::ServerConfig;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use tokio::net::TcpListener;

/// The cluster id `cluster` uses, and `serve`'s default.
const DEFAULT_CLUSTER_ID: u64 = 0x7261_6674_6b76; // "raftkv"

/// Largest Raft message: room for a compare-and-set of two maximal values.
const MAX_MESSAGE_BYTES: usize = 4 << 20;

#[derive(Parser)]
#[command(
    name = "raftkv",
    version,
    about = "A replicated, linearizable key/value store on Raft that speaks RESP (redis-cli works)"
)]
struct Cli {
    /// Log level (error, warn, info, debug, trace) or a tracing filter.
    #[arg(long, global = true, default_value = "info")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs one node of a cluster (durable, in the foreground; Ctrl-C or SIGTERM stops it).
    Serve(ServeArgs),
    /// Runs a local cluster on loopback in this process (Ctrl-C stops it; a second run
    /// reuses the data).
    Cluster(ClusterArgs),
    /// Prints a key's value.
    Get {
        /// The key.
        key: String,
        #[command(flatten)]
        target: Target,
    },
    /// Sets a key.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: String,
        #[command(flatten)]
        target: Target,
    },
    /// Appends to a key's value.
    Append {
        /// The key.
        key: String,
        /// What to append.
        value: String,
        #[command(flatten)]
        target: Target,
    },
    /// Deletes a key (prints 1 if it existed, else 0).
    Del {
        /// The key.
        key: String,
        #[command(flatten)]
        target: Target,
    },
    /// Prints a table of the cluster's nodes.
    Status {
        #[command(flatten)]
        target: Target,
    },
    /// Measures throughput and latency with concurrent native clients.
    Bench(BenchArgs),
}

#[derive(Args)]
struct BenchArgs {
    /// Concurrent clients (each one request at a time).
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Requests in total.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Bytes per value written.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// Distinct keys.
    #[arg(long, default_value_t = 1000)]
    keys: usize,
    /// Percentage of requests that are reads (the rest are puts).
    #[arg(long, default_value_t = 0)]
    read_percent: u8,
    #[command(flatten)]
    target: Target,
}

#[derive(Args)]
struct ServeArgs {
    /// This node's id (from 1).
    #[arg(long)]
    id: u64,
    /// Every node's Raft address: 1=127.0.0.1:7101,2=127.0.0.1:7102,...
    #[arg(long)]
    peers: String,
    /// Every node's client (RESP and native) address: 1=127.0.0.1:7001,...
    #[arg(long)]
    clients: String,
    /// Where this node keeps its log and snapshots.
    #[arg(long)]
    data_dir: PathBuf,
    /// The cluster's id (every node must use the same).
    #[arg(long, default_value_t = DEFAULT_CLUSTER_ID)]
    cluster_id: u64,
    /// Serve GETs from the leader's lease, without a heartbeat round per read: faster,
    /// but linearizable only while clock drift between nodes stays well below the
    /// election timeout (see docs/design/core.md, "Lease reads").
    #[arg(long)]
    lease_reads: bool,
}

#[derive(Args)]
struct ClusterArgs {
    /// How many nodes (3 or 5 make sense).
    #[arg(long, default_value_t = 3)]
    nodes: u64,
    /// Where the nodes keep their data (node-1, node-2, ... inside).
    #[arg(long, default_value = "./raftkv-data")]
    data_dir: PathBuf,
    /// Node N serves clients on BASE+N and Raft on BASE+100+N.
    #[arg(long, default_value_t = 7000)]
    base_port: u16,
    /// Serve GETs from the leader's lease, without a heartbeat round per read: faster,
    /// but linearizable only while clock drift between nodes stays well below the
    /// election timeout (see docs/design/core.md, "Lease reads").
    #[arg(long)]
    lease_reads: bool,
}

#[derive(Args)]
struct Target {
    /// Any node's client address.
    #[arg(long, default_value = "127.0.0.1:7001")]
    addr: SocketAddr,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("raftkv: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("raftkv: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Serve(args) => serve(args).await,
        Command::Cluster(args) => cluster(args).await,
        Command::Get { key, target } => {
            let mut client = client(&target);
            match client
                .get(key)
                .await
                .map_err(|e| client_error(&target, e))?
            {
                Some(value) => println!("{}", String::from_utf8_lossy(&value)),
                None => println!("(nil)"),
            }
            Ok(())
        }
        Command::Put { key, value, target } => {
            let mut client = client(&target);
            client
                .put(key, value)
                .await
                .map_err(|e| client_error(&target, e))?;
            println!("OK");
            Ok(())
        }
        Command::Append { key, value, target } => {
            let mut client = client(&target);
            client
                .append(key, value)
                .await
                .map_err(|e| client_error(&target, e))?;
            println!("OK");
            Ok(())
        }
        Command::Del { key, target } => {
            let mut client = client(&target);
            let existed = client
                .delete(Bytes::from(key))
                .await
                .map_err(|e| client_error(&target, e))?;
            println!("{}", u8::from(existed));
            Ok(())
        }
        Command::Status { target } => status(&target).await,
        Command::Bench(args) => bench(args).await,
    }
}

fn client(target: &Target) -> Client {
    Client::new(
        [target.addr],
        ClientOptions {
            request_timeout: Duration::from_secs(5),
            ..ClientOptions::default()
        },
    )
}

fn client_error(target: &Target, error: ClientError) -> String {
    match error {
        ClientError::Timeout { .. } => format!(
            "{error}\nIs a node listening on {}? Start a cluster with `raftkv cluster`, or pass --addr HOST:PORT.",
            target.addr
        ),
        other => other.to_string(),
    }
}

fn parse_addresses(what: &str, spec: &str) -> Result<BTreeMap<NodeId, SocketAddr>, String> {
    parse_peers(spec).map_err(|error| format!("--{what}: {error}"))
}

async fn serve(args: ServeArgs) -> Result<(), String> {
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
    let node_config = node_config(args.cluster_id, id, peers, args.data_dir, args.lease_reads);
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

fn node_config(
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
async fn bind_pair(
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

/// Ctrl-C and SIGTERM, caught from the moment this is created (so a signal that
/// arrives while the nodes start still stops them cleanly).
struct StopSignal {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl StopSignal {
    fn install() -> StopSignal {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            StopSignal {
                interrupt: signal(SignalKind::interrupt()).ok(),
                terminate: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        {
            StopSignal {}
        }
    }

    async fn wait(mut self) {
        #[cfg(unix)]
        {
            async fn next(signal: &mut Option<tokio::signal::unix::Signal>) {
                match signal {
                    Some(signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            if self.interrupt.is_none() {
                // Could not install our own: fall back on tokio's Ctrl-C.
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = next(&mut self.terminate) => {}
                }
                return;
            }
            tokio::select! {
                _ = next(&mut self.interrupt) => {}
                _ = next(&mut self.terminate) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
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

async fn cluster(args: ClusterArgs) -> Result<(), String> {
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

async fn status(target: &Target) -> Result<(), String> {
    let timeout = Duration::from_secs(3);
    let first = Client::status_of(target.addr, timeout)
        .await
        .map_err(|error| client_error(target, error))?;
    let mut nodes: Vec<(u64, String)> = first
        .client_addresses
        .iter()
        .filter_map(|entry| {
            let (id, address) = entry.split_once('=')?;
            Some((id.parse().ok()?, address.to_string()))
        })
        .collect();
    if nodes.is_empty() {
        nodes.push((first.node_id, target.addr.to_string()));
    }
    println!(
        "{:<5} {:<22} {:<13} {:>6} {:>6} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "NODE", "ADDRESS", "ROLE", "TERM", "LEADER", "COMMIT", "APPLIED", "LOG", "SNAPSHOT", "KEYS"
    );
    for (id, address) in nodes {
        let status = match address.parse() {
            Ok(address) => Client::status_of(address, timeout).await,
            Err(_) => Err(ClientError::NoAddress),
        };
        match status {
            Ok(status) => {
                let log_entries = (status.last_index + 1).saturating_sub(status.first_index);
                let role = if status.storage_failure.is_empty() {
                    status.role.clone()
                } else {
                    format!("{} (storage failed)", status.role)
                };
                println!(
                    "{:<5} {:<22} {:<13} {:>6} {:>6} {:>9} {:>9} {:>9} {:>9} {:>7}",
                    id,
                    address,
                    role,
                    status.term,
                    if status.leader == 0 {
                        "-".to_string()
                    } else {
                        status.leader.to_string()
                    },
                    status.commit,
                    status.applied,
                    log_entries,
                    status.snapshot_index,
                    status.keys
                );
            }
            Err(error) => println!("{id:<5} {address:<22} unreachable ({error})"),
        }
    }
    Ok(())
}

async fn bench(args: BenchArgs) -> Result<(), String> {
    if args.clients == 0 || args.keys == 0 || args.read_percent > 100 {
        return Err("--clients and --keys must be positive, --read-percent at most 100".into());
    }
    let mut probe = client(&args.target);
    probe
        .discover()
        .await
        .map_err(|error| client_error(&args.target, error))?;
    let addresses = probe.addresses().to_vec();
    let value = Bytes::from(vec![b'x'; args.value_size]);
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..args.clients {
        let count =
            args.requests / args.clients + usize::from(worker < args.requests % args.clients);
        let mut client = Client::new(addresses.clone(), ClientOptions::default());
        let value = value.clone();
        let (keys, read_percent) = (args.keys, args.read_percent as usize);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(count);
            for i in 0..count {
                // A cheap deterministic spread over keys and over reads / writes.
                let n = worker
                    .wrapping_mul(7919)
                    .wrapping_add(i.wrapping_mul(104_729));
                let key = format!("bench-{}", n % keys);
                let begin = std::time::Instant::now();
                if n % 100 < read_percent {
                    client.get(key).await?;
                } else {
                    client.put(key, value.clone()).await?;
                }
                latencies.push(begin.elapsed());
            }
            Ok::<_, ClientError>(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(args.requests);
    for task in tasks {
        let worker = task
            .await
            .map_err(|error| format!("benchmark task: {error}"))?
            .map_err(|error| format!("benchmark request failed: {error}"))?;
        latencies.extend(worker);
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let percentile = |p: f64| {
        let index = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[index]
    };
    if latencies.is_empty() {
        return Err("--requests must be positive".into());
    }
    println!(
        "{} requests ({}% reads, {}-byte values, {} keys) from {} clients in {:.2?}",
        latencies.len(),
        args.read_percent,
        args.value_size,
        args.keys,
        args.clients,
        elapsed
    );
    println!(
        "throughput: {:.0} requests/s",
        latencies.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "latency: p50 {:.2?}  p90 {:.2?}  p99 {:.2?}  max {:.2?}",
        percentile(0.50),
        percentile(0.90),
        percentile(0.99),
        latencies[latencies.len() - 1]
    );
    Ok(())
}
