//! The node's configuration, validated up front with errors that say what to fix.

use raft::NodeId;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use thiserror::Error;

/// A configuration problem, found before anything starts.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// A peer entry is not `ID=HOST:PORT`.
    #[error("peer entry {entry:?} is not ID=HOST:PORT (e.g. 1=127.0.0.1:7001)")]
    MalformedPeer {
        /// The offending entry.
        entry: String,
    },
    /// An address did not parse.
    #[error("cannot parse address {address:?} of node {id}: {reason}")]
    BadAddress {
        /// The node it belongs to.
        id: u64,
        /// The text given.
        address: String,
        /// The parser's complaint.
        reason: String,
    },
    /// Node id 0 is reserved.
    #[error("node id 0 is reserved; number nodes from 1")]
    ZeroId,
    /// Two peers share an id.
    #[error("node id {0} appears twice in the peer list")]
    DuplicateId(u64),
    /// Two peers share an address.
    #[error("address {0} is given to two nodes")]
    DuplicateAddress(SocketAddr),
    /// This node is not in the peer list.
    #[error("this node's id {0} is missing from the peer list")]
    SelfMissing(u64),
    /// The data directory cannot be used.
    #[error("data directory {path}: {reason}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A timing or size setting is out of range.
    #[error("invalid setting {name}: {reason}")]
    Invalid {
        /// The setting.
        name: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Everything a node needs to start.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Identifies the cluster; peers from another cluster are refused, and a data
    /// directory written by another cluster is not opened.
    pub cluster_id: u64,
    /// This node's id (from 1).
    pub node_id: NodeId,
    /// Every voter's address for Raft traffic, this node's own included (it listens
    /// there).
    pub peers: BTreeMap<NodeId, SocketAddr>,
    /// Where the write-ahead log, snapshots and the node's identity live.
    pub data_dir: PathBuf,
    /// Real time per Raft tick.
    pub tick_interval: Duration,
    /// Election timeout lower bound, in ticks (randomized up to twice that).
    pub election_timeout_ticks: u32,
    /// Heartbeat interval, in ticks.
    pub heartbeat_interval_ticks: u32,
    /// Take a snapshot once the persisted Raft state (the log entries kept after the
    /// last snapshot) exceeds this many bytes: the labs' `maxraftstate`.
    pub max_raft_state_bytes: u64,
    /// Largest Raft message (and so largest command), in bytes.
    pub max_message_bytes: usize,
    /// Most bytes of uncommitted proposals the leader accepts.
    pub max_uncommitted_bytes: usize,
    /// Answer `read_index` from the leader's lease (no heartbeat round); see
    /// `raft::Config::lease_reads` for the clock-drift assumption. Off by default.
    pub lease_reads: bool,
    /// Debugging aid: sleep this long before each fsync, to test a slow disk (the chaos
    /// harness's slow-disk mode). `None` in production.
    pub debug_fsync_delay: Option<Duration>,
}

impl NodeConfig {
    /// A configuration with defaults: 10 ms ticks, 100 ms heartbeats, 0.5-1 s election
    /// timeout, snapshots once the log holds 64 MiB.
    pub fn new(
        cluster_id: u64,
        node_id: NodeId,
        peers: BTreeMap<NodeId, SocketAddr>,
        data_dir: PathBuf,
    ) -> NodeConfig {
        NodeConfig {
            cluster_id,
            node_id,
            peers,
            data_dir,
            tick_interval: Duration::from_millis(10),
            election_timeout_ticks: 50,
            heartbeat_interval_ticks: 10,
            max_raft_state_bytes: 64 << 20,
            max_message_bytes: 1 << 20,
            max_uncommitted_bytes: 64 << 20,
            lease_reads: false,
            debug_fsync_delay: None,
        }
    }

    /// This node's own peer address (validated to exist).
    pub fn listen_address(&self) -> Option<SocketAddr> {
        self.peers.get(&self.node_id).copied()
    }

    /// Checks everything that can be checked before starting: ids, addresses, timing,
    /// and that the data directory exists (or can be created) and is writable.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.node_id == NodeId::NONE || self.peers.contains_key(&NodeId::NONE) {
            return Err(ConfigError::ZeroId);
        }
        if !self.peers.contains_key(&self.node_id) {
            return Err(ConfigError::SelfMissing(self.node_id.0));
        }
        let mut addresses = std::collections::BTreeSet::new();
        for address in self.peers.values() {
            if !addresses.insert(*address) {
                return Err(ConfigError::DuplicateAddress(*address));
            }
        }
        self.validate_timing()?;
        check_data_dir_writable(&self.data_dir)
    }

    fn validate_timing(&self) -> Result<(), ConfigError> {
        let invalid = |name, reason| Err(ConfigError::Invalid { name, reason });
        if self.tick_interval.is_zero() {
            return invalid("tick_interval", "must be positive");
        }
        if self.heartbeat_interval_ticks == 0
            || self.election_timeout_ticks <= self.heartbeat_interval_ticks
        {
            return invalid(
                "election_timeout_ticks",
                "must exceed heartbeat_interval_ticks, which must be positive",
            );
        }
        if self.max_message_bytes == 0 || self.max_uncommitted_bytes < self.max_message_bytes {
            return invalid(
                "max_uncommitted_bytes",
                "must be at least max_message_bytes, which must be positive",
            );
        }
        Ok(())
    }

    /// The consensus core's configuration derived from this one.
    pub fn raft_config(&self) -> raft::Config {
        let mut config = raft::Config::new(self.node_id, self.peers.keys().copied().collect());
        config.election_timeout_ticks = self.election_timeout_ticks;
        config.heartbeat_interval_ticks = self.heartbeat_interval_ticks;
        config.max_message_bytes = self.max_message_bytes;
        config.max_uncommitted_bytes = self.max_uncommitted_bytes;
        config.lease_reads = self.lease_reads;
        config.max_inflight_bytes = config.max_inflight_bytes.max(self.max_message_bytes);
        config.snapshot_chunk_bytes = self.max_message_bytes;
        // Real randomness is fine (and wanted) outside the simulator: two nodes must not
        // share a timeout sequence.
        config.random_seed = random_seed(self.node_id);
        config.check_invariants = cfg!(debug_assertions);
        config
    }
}

/// Parses `ID=HOST:PORT,ID=HOST:PORT,...` (host names are resolved).
pub fn parse_peers(spec: &str) -> Result<BTreeMap<NodeId, SocketAddr>, ConfigError> {
    let mut peers = BTreeMap::new();
    for entry in spec
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
    {
        let malformed = || ConfigError::MalformedPeer {
            entry: entry.to_string(),
        };
        let (id, address) = entry.split_once('=').ok_or_else(malformed)?;
        let id: u64 = id.trim().parse().map_err(|_| malformed())?;
        if id == 0 {
            return Err(ConfigError::ZeroId);
        }
        let address = resolve(id, address.trim())?;
        if peers.insert(NodeId(id), address).is_some() {
            return Err(ConfigError::DuplicateId(id));
        }
    }
    Ok(peers)
}

fn resolve(id: u64, address: &str) -> Result<SocketAddr, ConfigError> {
    use std::net::ToSocketAddrs;
    let bad = |reason: String| ConfigError::BadAddress {
        id,
        address: address.to_string(),
        reason,
    };
    let mut resolved = address
        .to_socket_addrs()
        .map_err(|error| bad(error.to_string()))?;
    resolved
        .next()
        .ok_or_else(|| bad("resolves to no address".to_string()))
}

fn check_data_dir_writable(path: &std::path::Path) -> Result<(), ConfigError> {
    let fail = |reason: String| ConfigError::DataDir {
        path: path.to_path_buf(),
        reason,
    };
    std::fs::create_dir_all(path).map_err(|error| fail(format!("cannot create it: {error}")))?;
    let probe = path.join(".write-probe");
    std::fs::write(&probe, b"probe").map_err(|error| fail(format!("not writable: {error}")))?;
    std::fs::remove_file(&probe)
        .map_err(|error| fail(format!("cannot remove a probe file: {error}")))
}

fn random_seed(node_id: NodeId) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(node_id.0);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_peers_reports_each_kind_of_mistake() {
        let ok = parse_peers("1=127.0.0.1:7001, 2=127.0.0.1:7002").unwrap();
        assert_eq!(ok.len(), 2);
        assert!(matches!(
            parse_peers("1:127.0.0.1:7001"),
            Err(ConfigError::MalformedPeer { .. })
        ));
        assert!(matches!(
            parse_peers("x=127.0.0.1:7001"),
            Err(ConfigError::MalformedPeer { .. })
        ));
        assert!(matches!(
            parse_peers("1=not-an-address"),
            Err(ConfigError::BadAddress { id: 1, .. })
        ));
        assert_eq!(parse_peers("0=127.0.0.1:7001"), Err(ConfigError::ZeroId));
        assert_eq!(
            parse_peers("1=127.0.0.1:7001,1=127.0.0.1:7002"),
            Err(ConfigError::DuplicateId(1))
        );
    }

    #[test]
    fn validate_names_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let peers = parse_peers("1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003").unwrap();
        let config = NodeConfig::new(1, NodeId(1), peers.clone(), dir.path().to_path_buf());
        assert_eq!(config.validate(), Ok(()));

        let missing = NodeConfig::new(1, NodeId(4), peers.clone(), dir.path().to_path_buf());
        assert_eq!(missing.validate(), Err(ConfigError::SelfMissing(4)));

        let mut same_address = peers.clone();
        same_address.insert(NodeId(4), "127.0.0.1:7001".parse().unwrap());
        let config = NodeConfig::new(1, NodeId(1), same_address, dir.path().to_path_buf());
        assert!(matches!(
            config.validate(),
            Err(ConfigError::DuplicateAddress(_))
        ));

        let file = dir.path().join("a-file");
        std::fs::write(&file, b"x").unwrap();
        let config = NodeConfig::new(1, NodeId(1), peers.clone(), file.join("sub"));
        assert!(matches!(
            config.validate(),
            Err(ConfigError::DataDir { .. })
        ));

        let mut config = NodeConfig::new(1, NodeId(1), peers, dir.path().to_path_buf());
        config.election_timeout_ticks = config.heartbeat_interval_ticks;
        assert!(matches!(
            config.validate(),
            Err(ConfigError::Invalid { .. })
        ));
    }
}
