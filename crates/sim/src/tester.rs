//! The 6.824 Raft tester (the lab's `config.go`) on top of the simulated cluster.
//!
//! Every method mirrors the lab function of the same name; "sleep" advances virtual
//! time, running the cluster and any client tasks meanwhile.

use crate::applier::{ApplierKind, Slot};
use crate::cluster::Cluster;
use crate::command::Cmd;
use crate::event_queue::{ms, Time, SECONDS};
use crate::rng::{SimRng, Stream};
use crate::server::SimOptions;
use crate::task::{ClientTask, OneOp, OnePoll, TaskId, Wake};

/// The lab's per-test limit (`checkTimeout`).
pub const TEST_TIME_LIMIT: Time = 120 * SECONDS;
/// A runaway guard far beyond any test's needs.
const HARD_TIME_LIMIT: Time = 600 * SECONDS;

/// One `begin`/`end` pair's "Passed" line: the lab's columns.
#[derive(Clone, Debug, PartialEq)]
pub struct TestStats {
    /// The description given to `begin`.
    pub desc: String,
    /// Virtual seconds between `begin` and `end`.
    pub seconds: f64,
    /// Number of Raft peers.
    pub peers: usize,
    /// RPCs sent (`rpcTotal` delta).
    pub rpcs: u64,
    /// Bytes sent (`bytesTotal` delta).
    pub bytes: u64,
    /// Agreements reported (max applied index delta).
    pub commits: u64,
}

impl TestStats {
    /// The lab's "Passed" line.
    pub fn passed_line(&self) -> String {
        format!(
            "  ... Passed --  {:4.1}  {} {:4} {:7} {:4}",
            self.seconds, self.peers, self.rpcs, self.bytes, self.commits
        )
    }
}

struct Begun {
    desc: String,
    at: Time,
    rpcs: u64,
    bytes: u64,
    max_index: u64,
}

/// The tester: a simulated cluster plus the lab's checks and timing semantics.
pub struct Tester {
    cluster: Cluster,
    rng: SimRng,
    created: Time,
    begun: Option<Begun>,
    results: Vec<TestStats>,
    tasks: Vec<Option<Box<dyn ClientTask>>>,
    in_task: bool,
}

impl Tester {
    /// The lab's `make_config(n, unreliable, snapshot)` for `seed`.
    pub fn new(seed: u64, servers: usize, unreliable: bool, snapshot: bool) -> Tester {
        Tester::with_options(SimOptions::new(seed), servers, unreliable, snapshot)
    }

    /// `make_config` with explicit simulation options (trace, canary, timeouts).
    pub fn with_options(
        opts: SimOptions,
        servers: usize,
        unreliable: bool,
        snapshot: bool,
    ) -> Tester {
        let seed = opts.seed;
        let kind = if snapshot {
            ApplierKind::Snapshot
        } else {
            ApplierKind::Plain
        };
        let mut cluster = Cluster::new(opts, servers, kind);
        cluster.set_reliable(!unreliable);
        cluster.net.set_long_delays(true);
        let mut tester = Tester {
            cluster,
            rng: SimRng::new(seed, Stream::Tester),
            created: 0,
            begun: None,
            results: Vec::new(),
            tasks: Vec::new(),
            in_task: false,
        };
        for i in 0..servers {
            tester.start1(i);
        }
        for i in 0..servers {
            tester.connect(i);
        }
        tester
    }

    // ---- accessors ----------------------------------------------------------------

    /// The simulated cluster.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The simulated cluster, mutably (for scenarios beyond the lab's vocabulary).
    pub fn cluster_mut(&mut self) -> &mut Cluster {
        &mut self.cluster
    }

    /// Number of servers.
    pub fn servers(&self) -> usize {
        self.cluster.len()
    }

    /// Current virtual time.
    pub fn now(&self) -> Time {
        self.cluster.now()
    }

    /// The results of every `begin`/`end` pair so far.
    pub fn results(&self) -> &[TestStats] {
        &self.results
    }

    /// The trace digest so far.
    pub fn digest(&self) -> u64 {
        self.cluster.trace.digest()
    }

    /// The tester's random stream (the lab's `rand`).
    pub fn rng(&mut self) -> &mut SimRng {
        &mut self.rng
    }

    /// Go's `rand.Int()`.
    pub fn rand_int(&mut self) -> u64 {
        self.rng.int63()
    }

    /// The lab's `randstring(n)`: `n` random URL-safe base64 characters.
    pub fn randstring(&mut self, n: usize) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        (0..n)
            .map(|_| ALPHABET[self.rng.below(64) as usize] as char)
            .collect()
    }

    /// Fails the test.
    pub fn fail(&self, message: impl std::fmt::Display) -> ! {
        self.cluster.fail(message)
    }

    // ---- lifecycle ----------------------------------------------------------------

    /// `begin(desc)`: starts measuring a "Passed" line.
    pub fn begin(&mut self, desc: &str) {
        let stats = &self.cluster.net.stats;
        self.begun = Some(Begun {
            desc: desc.to_string(),
            at: self.now(),
            rpcs: stats.rpc_total,
            bytes: stats.bytes_total,
            max_index: self.cluster.appliers.max_index,
        });
    }

    /// `end()`: checks the 120 s limit and records the "Passed" line.
    pub fn end(&mut self) {
        if self.now() - self.created > TEST_TIME_LIMIT {
            self.fail("test took longer than 120 seconds");
        }
        let Some(begun) = self.begun.take() else {
            self.fail("end() without begin()");
        };
        let stats = &self.cluster.net.stats;
        self.results.push(TestStats {
            desc: begun.desc,
            seconds: (self.now() - begun.at) as f64 / SECONDS as f64,
            peers: self.servers(),
            rpcs: stats.rpc_total - begun.rpcs,
            bytes: stats.bytes_total - begun.bytes,
            commits: self.cluster.appliers.max_index - begun.max_index,
        });
    }

    /// `crash1(i)`.
    pub fn crash1(&mut self, i: usize) {
        self.cluster.crash(i);
    }

    /// `start1(i)`: crash, restart from the disk; not connected yet.
    pub fn start1(&mut self, i: usize) {
        self.cluster.start(i);
    }

    /// `connect(i)`.
    pub fn connect(&mut self, i: usize) {
        self.cluster.connect(i);
    }

    /// `disconnect(i)`.
    pub fn disconnect(&mut self, i: usize) {
        self.cluster.disconnect(i);
    }

    /// The lab's `connected[i]`.
    pub fn connected(&self, i: usize) -> bool {
        self.cluster.is_connected(i)
    }

    /// True if server `i` runs (the lab's `rafts[i] != nil`).
    pub fn alive(&self, i: usize) -> bool {
        self.cluster.is_alive(i)
    }

    /// `setunreliable(unrel)`.
    pub fn set_unreliable(&mut self, unreliable: bool) {
        self.cluster.set_reliable(!unreliable);
    }

    /// `setlongreordering(on)`.
    pub fn set_long_reordering(&mut self, on: bool) {
        self.cluster.set_long_reordering(on);
    }

    // ---- Raft API as the tests call it --------------------------------------------

    /// `rafts[i].Start(cmd)`: `Some((index, term))` if `i` runs and leads.
    pub fn start(&mut self, i: usize, cmd: impl Into<Cmd>) -> Option<(u64, u64)> {
        self.cluster.propose(i, &cmd.into())
    }

    /// `rafts[i].GetState()`: `(term, is_leader)`; a crashed server reports `(0, false)`.
    pub fn get_state(&self, i: usize) -> (u64, bool) {
        self.cluster
            .get_state(i)
            .map(|(t, l)| (t.0, l))
            .unwrap_or((0, false))
    }

    // ---- time ---------------------------------------------------------------------

    /// `time.Sleep(ms)`: runs the simulation (and client tasks) for `millis`.
    pub fn sleep(&mut self, millis: u64) {
        assert!(!self.in_task, "a client task must not sleep inside poll");
        let until = self.now() + ms(millis);
        if until - self.created > HARD_TIME_LIMIT {
            self.fail("simulation ran past its hard time limit");
        }
        while let Some(task) = self.cluster.run_until(until) {
            self.poll_task(task);
        }
    }

    /// `go task()`: starts a client task; it runs its first step now.
    pub fn spawn(&mut self, task: Box<dyn ClientTask>) -> TaskId {
        let id = self.tasks.len();
        self.tasks.push(Some(task));
        self.poll_task(id);
        TaskId(id)
    }

    /// True once the task has finished.
    pub fn task_done(&self, id: TaskId) -> bool {
        self.tasks[id.0].is_none()
    }

    /// Waits (in virtual time) until every task in `ids` has finished.
    pub fn join(&mut self, ids: &[TaskId]) {
        while !ids.iter().all(|&id| self.task_done(id)) {
            self.sleep(10);
        }
    }

    fn poll_task(&mut self, id: usize) {
        let Some(mut task) = self.tasks[id].take() else {
            return;
        };
        self.in_task = true;
        let wake = task.poll(self);
        self.in_task = false;
        if let Wake::After(delay) = wake {
            self.tasks[id] = Some(task);
            self.cluster.schedule_task(self.now() + delay, id);
        }
    }

    // ---- checkers -----------------------------------------------------------------

    /// `checkOneLeader()`: a single leader among connected servers within ~5 s.
    pub fn check_one_leader(&mut self) -> usize {
        for _ in 0..10 {
            let pause = 450 + self.rng.below(100);
            self.sleep(pause);
            let mut leaders: Vec<(u64, usize)> = (0..self.servers())
                .filter(|&i| self.connected(i))
                .filter_map(|i| {
                    let (term, leader) = self.get_state(i);
                    leader.then_some((term, i))
                })
                .collect();
            leaders.sort();
            for pair in leaders.windows(2) {
                if pair[0].0 == pair[1].0 {
                    self.fail(format!("term {} has 2 (>1) leaders", pair[0].0));
                }
            }
            if let Some(&(_, leader)) = leaders.last() {
                return leader;
            }
        }
        self.fail("expected one leader, got none");
    }

    /// `checkTerms()`: all connected servers agree on the term.
    pub fn check_terms(&self) -> u64 {
        let mut term = None;
        for i in (0..self.servers()).filter(|&i| self.connected(i)) {
            let (t, _) = self.get_state(i);
            match term {
                None => term = Some(t),
                Some(known) if known != t => self.fail("servers disagree on term"),
                Some(_) => {}
            }
        }
        term.unwrap_or(0)
    }

    /// `checkNoLeader()`: no connected server claims leadership.
    pub fn check_no_leader(&self) {
        for i in (0..self.servers()).filter(|&i| self.connected(i)) {
            if self.get_state(i).1 {
                self.fail(format!(
                    "expected no leader among connected servers, but {i} claims to be leader"
                ));
            }
        }
    }

    /// `nCommitted(index)`: how many servers applied `index`, and the value; fails if
    /// two disagree.
    pub fn n_committed(&self, index: u64) -> (usize, Option<Cmd>) {
        let mut count = 0;
        let mut value: Option<&Cmd> = None;
        for log in self.cluster.appliers.logs() {
            if let Slot::Command(cmd) = log.get(index) {
                if value.is_some_and(|v| v != cmd) {
                    self.fail(format!(
                        "committed values do not match: index {index}, {}, {cmd}",
                        value.expect("set")
                    ));
                }
                count += 1;
                value = Some(cmd);
            }
        }
        (count, value.cloned())
    }

    /// `wait(index, n, startTerm)`: polls until `n` servers applied `index`; `None` if
    /// some server moved past `start_term` (the lab's `-1`).
    pub fn wait(&mut self, index: u64, n: usize, start_term: Option<u64>) -> Option<Cmd> {
        let mut pause = 10;
        for _ in 0..30 {
            if self.n_committed(index).0 >= n {
                break;
            }
            self.sleep(pause);
            if pause < 1000 {
                pause *= 2;
            }
            if let Some(start_term) = start_term {
                let moved_on = (0..self.servers())
                    .filter(|&i| self.alive(i))
                    .any(|i| self.get_state(i).0 > start_term);
                if moved_on {
                    return None;
                }
            }
        }
        let (count, value) = self.n_committed(index);
        if count < n {
            self.fail(format!(
                "only {count} decided for index {index}; wanted {n}"
            ));
        }
        value
    }

    /// `one(cmd, expectedServers, retry)`: full agreement on `cmd`; returns its index.
    pub fn one(&mut self, cmd: impl Into<Cmd>, expected: usize, retry: bool) -> u64 {
        let mut op = OneOp::new(self, cmd.into(), expected, retry);
        loop {
            match op.poll(self) {
                OnePoll::SleepMs(millis) => self.sleep(millis),
                OnePoll::Done(index) => return index,
            }
        }
    }

    // ---- counters -----------------------------------------------------------------

    /// `rpcCount(i)`: requests that reached server `i`.
    pub fn rpc_count(&self, i: usize) -> u64 {
        self.cluster.net.stats.rpc_count[i]
    }

    /// `rpcTotal()`: every request sent.
    pub fn rpc_total(&self) -> u64 {
        self.cluster.net.stats.rpc_total
    }

    /// `bytesTotal()`.
    pub fn bytes_total(&self) -> u64 {
        self.cluster.net.stats.bytes_total
    }

    /// `LogSize()`: the largest `RaftStateSize()` over the servers.
    pub fn log_size(&self) -> usize {
        (0..self.servers())
            .map(|i| self.cluster.disk(i).raft_state_size())
            .max()
            .unwrap_or(0)
    }

    /// The largest `SnapshotSize()` over the servers.
    pub fn snapshot_size(&self) -> usize {
        (0..self.servers())
            .map(|i| self.cluster.disk(i).snapshot_size())
            .max()
            .unwrap_or(0)
    }
}
