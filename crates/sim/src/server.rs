//! One simulated node: its Raft core (absent while crashed), its disk, and which
//! incarnation of it is running. Events carry the incarnation they were meant for, so
//! nothing addressed to a crashed instance reaches its successor.

use crate::disk::Disk;
use crate::event_queue::Time;
use crate::rng::mix;
use raft::{Canary, Config, NodeId, Raft};

/// Settings shared by every node of a simulation.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// The seed every random choice derives from.
    pub seed: u64,
    /// Virtual time between two ticks of a node.
    pub tick: Time,
    /// Lower bound of the election timeout, in ticks.
    pub election_timeout_ticks: u32,
    /// Ticks between heartbeats (10 = 100 ms: the lab allows at most 10 per second).
    pub heartbeat_interval_ticks: u32,
    /// A bug to plant in the core, for checker tests.
    pub canary: Canary,
    /// Print every event.
    pub trace: bool,
    /// Run `Raft::check_invariants` after every event.
    pub check_core_invariants: bool,
    /// Reliable links deliver in order (like TCP). `false` lets messages on one link
    /// overtake each other by their 0.1-2 ms latency jitter.
    pub fifo_links: bool,
    /// A new leader appends an empty entry of its term (the lab suite runs without it
    /// so that the first command lands at index 1; the KV suite turns it on, which
    /// makes ReadIndex reads immediate after an election).
    pub leader_empty_entry: bool,
}

impl SimOptions {
    /// The lab settings for `seed`.
    pub fn new(seed: u64) -> SimOptions {
        SimOptions {
            seed,
            tick: crate::event_queue::ms(10),
            // 400-800 ms. At 300-600 ms about 1 in 2500 figure8_unreliable runs failed
            // its final 10 s agreement: with long reordering two thirds of responses
            // arrive 200-2200 ms late, and both the pre-vote and the vote round must
            // gather a quorum within one timeout. 40 ticks passed 7000 of 7000 seeds.
            election_timeout_ticks: 40,
            heartbeat_interval_ticks: 10,
            canary: Canary::Off,
            trace: false,
            check_core_invariants: true,
            fifo_links: true,
            leader_empty_entry: false,
        }
    }

    /// The Raft configuration of node `index` (id `index + 1`) in a cluster of `servers`,
    /// for its `incarnation`-th start.
    pub fn raft_config(&self, index: usize, servers: usize, incarnation: u32) -> Config {
        let voters = (1..=servers as u64).map(NodeId).collect();
        let mut config = Config::new(node_id(index), voters);
        config.election_timeout_ticks = self.election_timeout_ticks;
        config.heartbeat_interval_ticks = self.heartbeat_interval_ticks;
        config.pre_vote = true;
        config.check_quorum = true;
        // The lab expects the first command at index 1, then 2, 3, ...
        config.leader_empty_entry = self.leader_empty_entry;
        config.random_seed = mix(mix(self.seed, index as u64 + 1), u64::from(incarnation));
        config.check_invariants = true;
        config.canary = self.canary;
        config
    }
}

/// The node id of server `index` (ids start at 1; 0 means nobody).
pub fn node_id(index: usize) -> NodeId {
    NodeId(index as u64 + 1)
}

/// The server index of node `id`.
pub fn server_index(id: NodeId) -> usize {
    (id.0 as usize).wrapping_sub(1)
}

/// One simulated node.
pub struct Server {
    /// The running core; `None` while crashed.
    pub raft: Option<Raft>,
    /// Its disk, which survives crashes.
    pub disk: Disk,
    /// Bumped at every crash and start; events for other incarnations are stale.
    pub incarnation: u32,
    /// Offset of this node's ticks within the tick period.
    pub tick_phase: Time,
}

impl Server {
    /// A node that has never run.
    pub fn new(tick_phase: Time) -> Server {
        Server {
            raft: None,
            disk: Disk::new(),
            incarnation: 0,
            tick_phase,
        }
    }

    /// True if a core runs and `incarnation` is the current one.
    pub fn is_current(&self, incarnation: u32) -> bool {
        self.raft.is_some() && self.incarnation == incarnation
    }

    /// The next tick time strictly after `now` on this node's phase grid.
    pub fn next_tick_after(&self, now: Time, period: Time) -> Time {
        let base = now - now % period + self.tick_phase;
        if base > now {
            base
        } else {
            base + period
        }
    }
}
