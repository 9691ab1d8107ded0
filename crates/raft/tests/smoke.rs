//! End-to-end smoke tests of the core: a few nodes in one thread, messages moved by
//! the test, storage acknowledged at once.

use raft::*;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

struct Cluster {
    nodes: BTreeMap<NodeId, Raft>,
    storage: BTreeMap<NodeId, MemStorage>,
    applied: BTreeMap<NodeId, Vec<(Index, Vec<u8>)>>,
    in_flight: VecDeque<Message>,
    cut: BTreeSet<NodeId>,
}

impl Cluster {
    fn new(size: u64) -> Cluster {
        let ids: Vec<NodeId> = (1..=size).map(NodeId).collect();
        let mut cluster = Cluster {
            nodes: BTreeMap::new(),
            storage: BTreeMap::new(),
            applied: BTreeMap::new(),
            in_flight: VecDeque::new(),
            cut: BTreeSet::new(),
        };
        for &id in &ids {
            cluster.storage.insert(id, MemStorage::new());
            cluster.restart(id, &ids);
        }
        cluster
    }

    fn restart(&mut self, id: NodeId, ids: &[NodeId]) {
        let mut config = Config::new(id, ids.to_vec());
        config.election_timeout_ticks = 10;
        config.heartbeat_interval_ticks = 2;
        config.snapshot_chunk_bytes = 7;
        let recovered = self.storage[&id].recover().unwrap();
        self.nodes.insert(id, Raft::new(config, recovered).unwrap());
    }

    fn drain(&mut self, id: NodeId) {
        while self.nodes[&id].has_ready() {
            let ready = self.nodes.get_mut(&id).unwrap().ready();
            if let Some(persist) = &ready.persist {
                self.storage.get_mut(&id).unwrap().persist(persist).unwrap();
                self.nodes.get_mut(&id).unwrap().on_persisted(persist.id);
            }
            self.in_flight.extend(ready.messages);
            for apply in ready.apply {
                let log = self.applied.entry(id).or_default();
                match apply {
                    Apply::Entry(entry) => {
                        if let EntryPayload::Command(data) = entry.payload {
                            log.push((entry.index, data.to_vec()));
                        }
                    }
                    Apply::Snapshot(snapshot) => {
                        log.push((snapshot.meta.last_included.index, b"snap".to_vec()))
                    }
                }
            }
        }
    }

    fn deliver_all(&mut self) {
        for _ in 0..10_000 {
            let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
            for id in ids {
                self.drain(id);
            }
            let Some(message) = self.in_flight.pop_front() else {
                return;
            };
            if self.cut.contains(&message.from) || self.cut.contains(&message.to) {
                continue;
            }
            let to = message.to;
            self.nodes.get_mut(&to).unwrap().step(message);
        }
        panic!("messages never settled");
    }

    fn tick_all(&mut self, ticks: usize) {
        for _ in 0..ticks {
            for node in self.nodes.values_mut() {
                node.tick();
            }
            self.deliver_all();
        }
    }

    fn propose(&mut self, id: NodeId, data: Vec<u8>) {
        self.nodes.get_mut(&id).unwrap().propose(data).unwrap();
    }

    fn leader(&self) -> Option<NodeId> {
        let leaders: Vec<NodeId> = self
            .nodes
            .values()
            .filter(|node| node.is_leader() && !self.cut.contains(&node.id()))
            .map(|node| node.id())
            .collect();
        assert!(leaders.len() <= 1, "two connected leaders: {leaders:?}");
        leaders.first().copied()
    }

    fn elect(&mut self) -> NodeId {
        for _ in 0..100 {
            self.tick_all(1);
            if let Some(leader) = self.leader() {
                return leader;
            }
        }
        panic!("no leader elected");
    }
}

#[test]
fn three_nodes_elect_and_replicate() {
    let mut cluster = Cluster::new(3);
    let leader = cluster.elect();
    for i in 0..5u8 {
        cluster.propose(leader, vec![i]);
    }
    cluster.deliver_all();
    cluster.tick_all(3);
    for id in [1, 2, 3].map(NodeId) {
        let data: Vec<Vec<u8>> = cluster.applied[&id]
            .iter()
            .map(|(_, d)| d.clone())
            .collect();
        assert_eq!(
            data,
            (0..5u8).map(|i| vec![i]).collect::<Vec<_>>(),
            "node {id}"
        );
    }
}

#[test]
fn partitioned_leader_is_replaced_and_its_entries_overwritten() {
    let mut cluster = Cluster::new(3);
    let old = cluster.elect();
    cluster.propose(old, b"a".to_vec());
    cluster.deliver_all();
    cluster.cut.insert(old);
    cluster.propose(old, b"lost".to_vec());
    let new = cluster.elect();
    assert_ne!(new, old);
    cluster.propose(new, b"b".to_vec());
    cluster.deliver_all();
    cluster.cut.clear();
    cluster.tick_all(30);
    let expected: Vec<Vec<u8>> = vec![b"a".to_vec(), b"b".to_vec()];
    for id in [1, 2, 3].map(NodeId) {
        let data: Vec<Vec<u8>> = cluster.applied[&id]
            .iter()
            .map(|(_, d)| d.clone())
            .collect();
        assert_eq!(data, expected, "node {id}");
    }
}

#[test]
fn lagging_follower_catches_up_through_a_chunked_snapshot() {
    let mut cluster = Cluster::new(3);
    let leader = cluster.elect();
    let lagging = NodeId(if leader.0 == 3 { 2 } else { 3 });
    cluster.cut.insert(lagging);
    for i in 0..20u8 {
        cluster.propose(leader, vec![i; 4]);
    }
    cluster.deliver_all();
    cluster.tick_all(2);
    let applied = cluster.nodes[&leader].status().applied;
    cluster
        .nodes
        .get_mut(&leader)
        .unwrap()
        .snapshot(applied, b"state-through-20".to_vec())
        .unwrap();
    cluster.deliver_all();
    cluster.cut.clear();
    cluster.tick_all(20);
    let status = cluster.nodes[&lagging].status();
    assert_eq!(status.snapshot_index, applied);
    assert_eq!(
        cluster.nodes[&lagging].latest_snapshot().data.as_ref(),
        b"state-through-20"
    );
    assert_eq!(
        cluster.applied[&lagging].last().unwrap().1,
        b"snap".to_vec()
    );
}

#[test]
fn read_index_confirms_leadership_and_transfer_moves_it() {
    let mut cluster = Cluster::new(3);
    let leader = cluster.elect();
    cluster
        .nodes
        .get_mut(&leader)
        .unwrap()
        .read_index(42)
        .unwrap();
    let mut read_states = Vec::new();
    for _ in 0..5 {
        let ready = cluster.nodes.get_mut(&leader).unwrap().ready();
        read_states.extend(ready.read_states);
        cluster.in_flight.extend(ready.messages);
        cluster.deliver_all_but_collect(&mut read_states, leader);
    }
    assert_eq!(read_states.len(), 1);
    assert_eq!(read_states[0].request_id, 42);
    let target = NodeId(if leader.0 == 1 { 2 } else { 1 });
    cluster
        .nodes
        .get_mut(&leader)
        .unwrap()
        .transfer_leadership(target)
        .unwrap();
    cluster.deliver_all();
    assert_eq!(cluster.leader(), Some(target));
}

impl Cluster {
    fn deliver_all_but_collect(&mut self, read_states: &mut Vec<ReadState>, watch: NodeId) {
        while let Some(message) = self.in_flight.pop_front() {
            let to = message.to;
            self.nodes.get_mut(&to).unwrap().step(message);
            for id in self.nodes.keys().copied().collect::<Vec<_>>() {
                while self.nodes[&id].has_ready() {
                    let ready = self.nodes.get_mut(&id).unwrap().ready();
                    if id == watch {
                        read_states.extend(ready.read_states.iter().copied());
                    }
                    if let Some(persist) = &ready.persist {
                        self.nodes.get_mut(&id).unwrap().on_persisted(persist.id);
                    }
                    self.in_flight.extend(ready.messages);
                }
            }
        }
    }
}

#[test]
fn restart_recovers_term_vote_and_log() {
    let mut cluster = Cluster::new(3);
    let leader = cluster.elect();
    cluster.propose(leader, b"x".to_vec());
    cluster.deliver_all();
    let before = cluster.nodes[&leader].status();
    let ids: Vec<NodeId> = (1..=3).map(NodeId).collect();
    cluster.restart(leader, &ids);
    let after = cluster.nodes[&leader].status();
    assert_eq!(
        (after.term, after.vote, after.last_index),
        (before.term, before.vote, before.last_index)
    );
}
