//! Throughput and latency of the consensus core alone.
//!
//! Workload: three nodes in one process and one thread, no IO. The benchmark loop is
//! the runtime: it takes each node's `Ready`, acknowledges the persist request at once
//! (`on_persisted` right after `ready()`, before the next `ready()`: a disk with zero
//! latency; the entries are dropped), moves the messages between nodes, and drops what
//! the followers apply. A closed-loop client keeps `outstanding` 128-byte proposals in
//! flight on the leader: whenever the leader applies some, it proposes as many new
//! ones. No ticks during measurement (no heartbeats).
//!
//! Log compaction stands in for an application that snapshots: every
//! `COMPACT_EVERY_ENTRIES` commits each node drops its applied prefix but the last
//! `RETAINED_ENTRIES` (etcd keeps 5,000 for slow followers), so each log holds 4K-20K
//! entries as a real one would, and memory stays bounded. Its cost (freeing entries)
//! is in entries/s; it is kept out of the latencies (the proposal times of the entries
//! in flight are shifted by the pause) and reported in its own column.
//!
//! One round of the loop: drain the leader's `Ready` (applies), top up proposals,
//! drain every node's `Ready`, deliver every queued message. A proposal therefore
//! commits two rounds after it was made: AppendEntries out, responses back.
//!
//! Config: defaults (`leader_empty_entry` on, `max_message_bytes` 1 MiB,
//! `max_inflight_messages` 256, `max_inflight_bytes` 8 MiB) with `check_invariants`
//! off. With this round-based delivery each follower has at most one AppendEntries in
//! flight, so the 256-message window never binds.
//!
//! Output: criterion groups (`Throughput::Elements`, one element = one entry committed
//! and applied on the leader), preceded by a table of entries/s and the mean and p99
//! wall-time latency from `propose` to the leader's `Ready` that applies the entry.
//!
//! `cargo bench -p raft --bench throughput`. Environment:
//! `RAFT_BENCH_REPORT=only` skips criterion, `=skip` skips the table;
//! `RAFT_BENCH_REPORT_SECS` sets the table's measuring time per level (default 2);
//! `RAFT_BENCH_OUTSTANDING=1,1024` limits the table to those levels and
//! `RAFT_BENCH_REPORT_ENTRIES=N` measures N entries instead of a time (for profiling,
//! and for `perf stat -e cycles:u` per entry, which other load on the machine does
//! not disturb as much as wall time).
//! Under `cargo test --all-targets` (no `--bench` argument) it runs a short smoke pass.

use criterion::{BenchmarkId, Criterion, Throughput};
use raft::{Apply, Config, EntryPayload, Index, Message, NodeId, Raft, RecoveredState};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Cluster size.
const NODES: usize = 3;
/// Bytes of each proposed command.
const PAYLOAD_BYTES: usize = 128;
/// Proposals kept in flight, one benchmark each.
const OUTSTANDING: [usize; 5] = [1, 8, 64, 256, 1024];
/// Compact every node's log after this many commits...
const COMPACT_EVERY_ENTRIES: u64 = 16_384;
/// ...keeping this many applied entries.
const RETAINED_ENTRIES: u64 = 4_096;
/// Entries committed before the table starts measuring a level.
const WARM_UP_ENTRIES: u64 = 50_000;

/// Targets from the issue (entries/s), and tikv raft-rs 0.7 on the same workload.
fn target(outstanding: usize) -> Option<(f64, f64)> {
    match outstanding {
        1 => Some((500_000.0, 250_000.0)),
        1024 => Some((2_200_000.0, 1_100_000.0)),
        _ => None,
    }
}

struct Cluster {
    /// Node `NodeId(i + 1)` at index `i`.
    nodes: Vec<Raft>,
    /// Index into `nodes` of the leader.
    leader: usize,
    /// Messages taken from `Ready`s and not delivered yet.
    in_flight: Vec<Message>,
    /// Spare buffer swapped with `in_flight` while delivering (keeps its allocation).
    delivering: Vec<Message>,
    /// Proposals kept in flight.
    outstanding: usize,
    /// Leader entries proposed and not yet applied, oldest first, with their proposal
    /// time when recording latencies (reading the clock is skipped otherwise).
    pending: VecDeque<(Index, Option<Instant>)>,
    /// Command entries applied on the leader so far.
    committed: u64,
    /// `committed` at the last compaction.
    compacted_at: u64,
    /// Compactions done while recording, and their total duration.
    compactions: (u32, Duration),
    /// Messages delivered so far.
    delivered: u64,
    /// Latency of every committed entry, in nanoseconds, when recording.
    latencies_ns: Option<Vec<u32>>,
    /// The command proposed (cloned per proposal, as a client would build one).
    payload: Vec<u8>,
}

impl Cluster {
    /// Three fresh nodes, one elected leader, its empty entry committed everywhere.
    fn new(outstanding: usize) -> Cluster {
        let voters: Vec<NodeId> = (1..=NODES as u64).map(NodeId).collect();
        let nodes = voters
            .iter()
            .map(|&id| {
                let mut config = Config::new(id, voters.clone());
                config.check_invariants = false;
                assert!(config.leader_empty_entry);
                assert_eq!(config.max_message_bytes, 1 << 20);
                assert_eq!(config.max_inflight_messages, 256);
                Raft::new(config, RecoveredState::default()).expect("valid config")
            })
            .collect();
        let mut cluster = Cluster {
            nodes,
            leader: usize::MAX,
            in_flight: Vec::new(),
            delivering: Vec::new(),
            outstanding,
            pending: VecDeque::new(),
            committed: 0,
            compacted_at: 0,
            compactions: (0, Duration::ZERO),
            delivered: 0,
            latencies_ns: None,
            payload: vec![0xab; PAYLOAD_BYTES],
        };
        cluster.elect();
        cluster
    }

    fn elect(&mut self) {
        for _ in 0..10_000 {
            for node in &mut self.nodes {
                node.tick();
            }
            self.settle();
            if let Some(leader) = self.nodes.iter().position(Raft::is_leader) {
                self.leader = leader;
                self.settle();
                let commit = self.nodes[leader].status().commit;
                assert!(commit > Index::ZERO, "leader's empty entry committed");
                return;
            }
        }
        panic!("no leader elected");
    }

    /// Runs rounds until no node has anything left to do (no proposals made).
    fn settle(&mut self) {
        for _ in 0..1_000 {
            for i in 0..NODES {
                self.drain(i);
            }
            if self.in_flight.is_empty() {
                return;
            }
            self.deliver();
        }
        panic!("cluster never settled");
    }

    /// Takes every `Ready` of node `i`, acknowledging its persist request at once.
    fn drain(&mut self, i: usize) {
        while self.nodes[i].has_ready() {
            let ready = self.nodes[i].ready();
            if let Some(persist) = &ready.persist {
                self.nodes[i].on_persisted(persist.id);
            }
            self.in_flight.extend(ready.messages);
            if i == self.leader && !ready.apply.is_empty() {
                self.on_leader_apply(ready.apply);
            }
        }
    }

    fn on_leader_apply(&mut self, apply: Vec<Apply>) {
        let now = self.latencies_ns.is_some().then(Instant::now);
        for item in apply {
            let Apply::Entry(entry) = item else {
                panic!("no snapshot is ever sent to the leader");
            };
            if let EntryPayload::Empty = entry.payload {
                continue;
            }
            let (index, proposed_at) = self.pending.pop_front().expect("applied a proposal");
            assert_eq!(index, entry.index, "proposals apply in order");
            self.committed += 1;
            if let (Some(latencies), Some(now), Some(proposed_at)) =
                (&mut self.latencies_ns, now, proposed_at)
            {
                latencies.push((now - proposed_at).as_nanos().min(u32::MAX as u128) as u32);
            }
        }
    }

    /// Proposes until `outstanding` proposals are in flight.
    fn top_up(&mut self) {
        let missing = self.outstanding - self.pending.len();
        if missing == 0 {
            return;
        }
        let now = self.latencies_ns.is_some().then(Instant::now);
        let leader = &mut self.nodes[self.leader];
        for _ in 0..missing {
            let id = leader
                .propose(self.payload.clone())
                .expect("leader accepts");
            self.pending.push_back((id.index, now));
        }
    }

    fn deliver(&mut self) {
        std::mem::swap(&mut self.in_flight, &mut self.delivering);
        self.delivered += self.delivering.len() as u64;
        for message in self.delivering.drain(..) {
            let to = message.to.0 as usize - 1;
            self.nodes[to].step(message);
        }
    }

    fn round(&mut self) {
        self.drain(self.leader);
        self.top_up();
        for i in 0..NODES {
            self.drain(i);
        }
        self.deliver();
        if self.committed - self.compacted_at >= COMPACT_EVERY_ENTRIES {
            self.compact();
        }
    }

    /// Drops every node's applied prefix but the last `RETAINED_ENTRIES`; the leader
    /// also keeps what a follower still lacks.
    fn compact(&mut self) {
        self.compacted_at = self.committed;
        let start = self.latencies_ns.is_some().then(Instant::now);
        for (i, node) in self.nodes.iter_mut().enumerate() {
            let status = node.status();
            let mut index = Index(status.applied.0.saturating_sub(RETAINED_ENTRIES));
            if i == self.leader {
                let slowest = status.peers.iter().map(|peer| peer.match_index).min();
                index = index.min(slowest.expect("leader has peers"));
            }
            if index > status.snapshot_index {
                node.snapshot(index, Vec::new()).expect("applied prefix");
            }
        }
        if let Some(start) = start {
            let pause = start.elapsed();
            self.compactions.0 += 1;
            self.compactions.1 += pause;
            for (_, proposed_at) in &mut self.pending {
                *proposed_at = proposed_at.map(|at| at + pause);
            }
        }
    }

    /// Runs until `entries` more commands are committed on the leader; returns the
    /// number actually committed (a round can overshoot by up to `outstanding - 1`).
    fn run(&mut self, entries: u64) -> u64 {
        let start = self.committed;
        let goal = start + entries;
        while self.committed < goal {
            self.round();
        }
        assert!(self.nodes[self.leader].is_leader(), "leadership is stable");
        self.committed - start
    }
}

impl Cluster {
    /// Delivers what is in flight and checks that the followers hold the leader's log.
    fn check_replicated(&mut self) {
        self.settle();
        let leader = self.nodes[self.leader].status();
        for node in &self.nodes {
            let status = node.status();
            assert_eq!(status.last_index, leader.last_index, "node {}", status.id);
            assert_eq!(status.term, leader.term, "node {}", status.id);
        }
    }
}

struct Report {
    outstanding: usize,
    entries_per_second: f64,
    mean_us: f64,
    p99_us: f64,
    messages_per_entry: f64,
    /// Mean duration of one compaction, if any happened while measuring.
    compaction_us: Option<f64>,
}

/// How long the table measures each level.
#[derive(Clone, Copy)]
enum Budget {
    Time(Duration),
    Entries(u64),
}

fn measure(outstanding: usize, warm_up_entries: u64, budget: Budget) -> Report {
    let mut cluster = Cluster::new(outstanding);
    let warm_up_start = Instant::now();
    let warm_up_committed = cluster.run(warm_up_entries);
    // Size the latency buffer from the warm-up rate so it never grows while measuring.
    let rate = warm_up_committed as f64 / warm_up_start.elapsed().as_secs_f64();
    let capacity = match budget {
        Budget::Time(duration) => (rate * duration.as_secs_f64() * 1.5) as usize,
        Budget::Entries(entries) => entries as usize + outstanding,
    } + 65_536;
    cluster.latencies_ns = Some(Vec::with_capacity(capacity));
    // Flush the proposals made before recording started (they carry no timestamp).
    cluster.run(outstanding as u64);
    cluster.latencies_ns.as_mut().expect("recording").clear();
    cluster.compactions = (0, Duration::ZERO);
    let (committed, delivered) = (cluster.committed, cluster.delivered);
    let start = Instant::now();
    match budget {
        // Check the clock only every few thousand entries so reading it costs nothing.
        Budget::Time(duration) => {
            while start.elapsed() < duration {
                cluster.run(4_096);
            }
        }
        Budget::Entries(entries) => {
            cluster.run(entries);
        }
    }
    let elapsed = start.elapsed();
    let entries = cluster.committed - committed;
    let mut latencies = cluster.latencies_ns.take().expect("recording");
    assert_eq!(latencies.len() as u64, entries);
    cluster.check_replicated();
    latencies.sort_unstable();
    let mean_ns =
        latencies.iter().map(|&ns| ns as u64).sum::<u64>() as f64 / latencies.len() as f64;
    let p99_ns = latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)];
    Report {
        outstanding,
        entries_per_second: entries as f64 / elapsed.as_secs_f64(),
        mean_us: mean_ns / 1e3,
        p99_us: p99_ns as f64 / 1e3,
        messages_per_entry: (cluster.delivered - delivered) as f64 / entries as f64,
        compaction_us: (cluster.compactions.0 > 0)
            .then(|| cluster.compactions.1.as_secs_f64() * 1e6 / f64::from(cluster.compactions.0)),
    }
}

fn print_table(reports: &[Report]) {
    println!();
    println!("raft core, 3 nodes, 1 thread, no IO, {PAYLOAD_BYTES}-byte proposals");
    println!(
        "{:>11} {:>12} {:>9} {:>9} {:>10} {:>11} {:>10} {:>11}",
        "outstanding",
        "entries/s",
        "mean µs",
        "p99 µs",
        "msgs/entry",
        "compact µs",
        "target",
        "raft-rs 0.7"
    );
    for report in reports {
        let (goal, reference) = match target(report.outstanding) {
            Some((goal, reference)) => (format!("{goal:.0}"), format!("{reference:.0}")),
            None => ("-".to_string(), "-".to_string()),
        };
        let compaction = report
            .compaction_us
            .map_or("-".to_string(), |us| format!("{us:.0}"));
        println!(
            "{:>11} {:>12.0} {:>9.2} {:>9.2} {:>10.3} {:>11} {:>10} {:>11}",
            report.outstanding,
            report.entries_per_second,
            report.mean_us,
            report.p99_us,
            report.messages_per_entry,
            compaction,
            goal,
            reference
        );
    }
    println!(
        "compact µs: mean pause of one compaction (every {COMPACT_EVERY_ENTRIES} commits, \
         all 3 nodes), counted in entries/s, not in the latencies"
    );
    println!();
}

fn criterion_groups(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("commit");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(1));
    for outstanding in OUTSTANDING {
        let mut cluster = Cluster::new(outstanding);
        group.bench_function(BenchmarkId::new("outstanding", outstanding), |bencher| {
            bencher.iter_custom(|iters| {
                let start = Instant::now();
                let committed = cluster.run(iters);
                // Charge only the `iters` entries asked for, not a round's overshoot.
                start.elapsed().mul_f64(iters as f64 / committed as f64)
            })
        });
    }
    group.finish();
}

fn main() {
    // Criterion runs benchmarks only when cargo bench passes `--bench`; `cargo test
    // --all-targets` runs this binary without it, as a smoke test.
    let benchmarking = std::env::args().any(|arg| arg == "--bench");
    let mode = std::env::var("RAFT_BENCH_REPORT").unwrap_or_default();
    if mode != "skip" {
        let env_number = |name: &str| -> Option<f64> {
            let value = std::env::var(name).ok()?;
            Some(
                value
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}: not a number")),
            )
        };
        let (warm_up, budget) = if !benchmarking {
            (1_000, Budget::Time(Duration::from_millis(20)))
        } else if let Some(entries) = env_number("RAFT_BENCH_REPORT_ENTRIES") {
            (WARM_UP_ENTRIES, Budget::Entries(entries as u64))
        } else {
            let seconds = env_number("RAFT_BENCH_REPORT_SECS").unwrap_or(2.0);
            (
                WARM_UP_ENTRIES,
                Budget::Time(Duration::from_secs_f64(seconds)),
            )
        };
        let levels: Vec<usize> = match std::env::var("RAFT_BENCH_OUTSTANDING") {
            Ok(list) => list
                .split(',')
                .map(|level| level.trim().parse().expect("a number of proposals"))
                .collect(),
            Err(_) => OUTSTANDING.to_vec(),
        };
        let reports: Vec<Report> = levels
            .iter()
            .map(|&outstanding| measure(outstanding, warm_up, budget))
            .collect();
        print_table(&reports);
    }
    if mode != "only" {
        let mut criterion = Criterion::default().configure_from_args();
        criterion_groups(&mut criterion);
        criterion.final_summary();
    }
}
