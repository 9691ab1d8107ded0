//! The 6.824 KV harness (`kvraft/config.go`) on the simulated cluster: KV servers
//! (Raft core + [`kv::KvStore`] + [`kv::RequestTracker`]), clerks that retry across
//! servers, client links with labrpc's faults, client tasks, and the operation history.
//!
//! Client RPCs ride the same event queue as the cluster: each one is a timer in a slab
//! whose id is scheduled as a cluster task event. A call always ends in a reply or a
//! failure (labrpc's `Call` returning false), or the clerk's own timeout.

use super::history::{History, HistoryOp, OpKind};
use crate::applier::ApplierKind;
use crate::cluster::{Cluster, Output, Wakeup};
use crate::event_queue::{format_time, ms, Time, SECONDS};
use crate::rng::{SimRng, Stream};
use crate::server::SimOptions;
use bytes::Bytes;
use kv::{
    ClientId, KvError, KvStore, Limits, Operation, Outcome, Request, RequestTracker, Resolution,
};
use raft::{Apply, EntryPayload, Index};

/// How long a clerk waits for one RPC before trying the next server.
pub const CLERK_RPC_TIMEOUT: Time = ms(1_000);
/// The lab's `electionTimeout` constant used by the KV tests' sleeps.
pub const ELECTION_TIMEOUT_MS: u64 = 1_000;
/// A runaway guard.
const HARD_TIME_LIMIT: Time = 600 * SECONDS;

/// One clerk operation as the tests issue it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClerkOp {
    /// `ck.Get(key)`.
    Get(String),
    /// `ck.Put(key, value)`.
    Put(String, String),
    /// `ck.Append(key, value)`.
    Append(String, String),
}

/// A bug planted in the KV servers, to prove that the suite's checks can fail.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KvCanary {
    /// No bug.
    #[default]
    Off,
    /// Every server answers Gets from its own state at once, leader or not, without
    /// ReadIndex: stale reads from partitioned or lagging servers.
    LocalReads,
}

/// Who waits for a clerk's operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Waiter {
    Main,
    Task(usize),
}

#[derive(Clone, Debug)]
enum ClerkRequest {
    Read { key: Bytes },
    Write(Request),
}

#[derive(Clone, Debug)]
enum Reply {
    Outcome(Outcome),
    WrongLeader,
}

/// A server-side waiter: the call it answers, and the key for a ReadIndex read.
#[derive(Clone, Debug)]
struct Call {
    clerk: usize,
    rpc: u64,
    read_key: Option<Bytes>,
}

enum Timer {
    TaskWake(usize),
    RequestArrives {
        server: usize,
        incarnation: u32,
        clerk: usize,
        rpc: u64,
        request: ClerkRequest,
    },
    ReplyArrives {
        clerk: usize,
        rpc: u64,
        reply: Reply,
    },
    CallFails {
        clerk: usize,
        rpc: u64,
    },
    Timeout {
        clerk: usize,
        rpc: u64,
    },
    Retry {
        clerk: usize,
        rpc: u64,
    },
}

struct KvServer {
    store: KvStore,
    tracker: RequestTracker<Call>,
    next_read: u64,
    last_snapshot: u64,
}

struct Pending {
    op: ClerkOp,
    request: ClerkRequest,
    rpc: u64,
    call: Time,
    waiter: Waiter,
    log_as: Option<u64>,
}

struct Clerk {
    id: ClientId,
    sequence: u64,
    /// Server indexes in the clerk's (shuffled) order.
    order: Vec<usize>,
    /// `links[server]`: the clerk's end to that server is enabled.
    links: Vec<bool>,
    guess: usize,
    failures: usize,
    next_rpc: u64,
    pending: Option<Pending>,
    result: Option<String>,
}

/// What a client task does after a poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskWake {
    /// Sleep this long.
    After(Time),
    /// Wait for the clerk operation it started.
    Op,
    /// Finished.
    Done,
}

/// A concurrent KV client of the tester (a goroutine of the lab's tests).
pub trait KvTask {
    /// Runs until the task sleeps, waits for an operation, or finishes.
    fn poll(&mut self, t: &mut KvTester) -> TaskWake;
}

/// One `begin`/`end` pair's "Passed" line in the KV columns.
#[derive(Clone, Debug, PartialEq)]
pub struct KvStats {
    /// The title.
    pub desc: String,
    /// Virtual seconds.
    pub seconds: f64,
    /// Servers.
    pub peers: usize,
    /// RPCs sent (Raft and client).
    pub rpcs: u64,
    /// Clerk operations made through the logging wrappers.
    pub ops: u64,
}

impl KvStats {
    /// The lab's "Passed" line.
    pub fn passed_line(&self) -> String {
        format!(
            "  ... Passed --  {:4.1}  {} {:5} {:4}",
            self.seconds, self.peers, self.rpcs, self.ops
        )
    }
}

/// The KV tester: cluster, KV servers, clerks, tasks and history.
pub struct KvTester {
    cluster: Cluster,
    servers: Vec<Option<KvServer>>,
    incarnations: Vec<u32>,
    clerks: Vec<Clerk>,
    tasks: Vec<Option<Box<dyn KvTask>>>,
    current_task: Option<usize>,
    timers: Vec<Option<Timer>>,
    free_timers: Vec<usize>,
    rng: SimRng,
    client_rng: SimRng,
    main_woken: bool,
    maxraftstate: i64,
    limits: Limits,
    client_rpcs: u64,
    ops: u64,
    count_ops: bool,
    canary: KvCanary,
    begun: Option<(String, Time, u64, u64)>,
    results: Vec<KvStats>,
    /// Every operation made through the logging wrappers.
    pub history: History,
    /// Snapshots installed from leaders (InstallSnapshot), over all servers.
    pub installed_snapshots: u64,
}

impl KvTester {
    /// `make_config(n, unreliable, maxraftstate)` for `seed`.
    pub fn new(seed: u64, servers: usize, unreliable: bool, maxraftstate: i64) -> KvTester {
        let mut opts = SimOptions::new(seed);
        opts.leader_empty_entry = true;
        KvTester::with_options(opts, servers, unreliable, maxraftstate)
    }

    /// `make_config` with explicit simulation options.
    pub fn with_options(
        opts: SimOptions,
        servers: usize,
        unreliable: bool,
        maxraftstate: i64,
    ) -> KvTester {
        let seed = opts.seed;
        let mut cluster = Cluster::new(opts, servers, ApplierKind::Plain);
        cluster.set_external_application();
        cluster.set_reliable(!unreliable);
        // The KV config runs without LongDelays: disabled links fail in 0-99 ms.
        cluster.net.set_long_delays(false);
        let mut t = KvTester {
            cluster,
            servers: (0..servers).map(|_| None).collect(),
            incarnations: vec![0; servers],
            clerks: Vec::new(),
            tasks: Vec::new(),
            current_task: None,
            timers: Vec::new(),
            free_timers: Vec::new(),
            rng: SimRng::new(seed, Stream::Tester),
            client_rng: SimRng::new(seed, Stream::Clients),
            main_woken: false,
            maxraftstate,
            limits: Limits::default(),
            client_rpcs: 0,
            ops: 0,
            count_ops: true,
            canary: KvCanary::Off,
            begun: None,
            results: Vec::new(),
            history: History::default(),
            installed_snapshots: 0,
        };
        for i in 0..servers {
            t.start_server(i);
        }
        t.connect_all();
        t
    }

    // ---- accessors ----------------------------------------------------------------

    /// Number of servers.
    pub fn n(&self) -> usize {
        self.servers.len()
    }

    /// Every server index (`cfg.All()`).
    pub fn all(&self) -> Vec<usize> {
        (0..self.n()).collect()
    }

    /// The cluster.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Virtual time now.
    pub fn now(&self) -> Time {
        self.cluster.now()
    }

    /// The tester's random stream (the tests' `rand`).
    pub fn rng(&mut self) -> &mut SimRng {
        &mut self.rng
    }

    /// The "Passed" lines so far.
    pub fn results(&self) -> &[KvStats] {
        &self.results
    }

    /// The trace digest.
    pub fn digest(&self) -> u64 {
        self.cluster.trace.digest()
    }

    /// The `maxraftstate` the servers run with (-1: never snapshot).
    pub fn maxraftstate(&self) -> i64 {
        self.maxraftstate
    }

    /// Fails the test with the seed and virtual time.
    pub fn fail(&self, message: impl std::fmt::Display) -> ! {
        self.cluster.fail(message)
    }

    // ---- begin / end ----------------------------------------------------------------

    /// `cfg.begin(desc)`.
    pub fn begin(&mut self, desc: &str) {
        let rpcs = self.rpc_total();
        self.begun = Some((desc.to_string(), self.now(), rpcs, self.ops));
    }

    /// `cfg.end()`: checks the 120 s limit and records the "Passed" line.
    pub fn end(&mut self) {
        if self.now() > 120 * SECONDS {
            self.fail("test took longer than 120 seconds");
        }
        let Some((desc, at, rpcs, ops)) = self.begun.take() else {
            self.fail("end() without begin()");
        };
        self.results.push(KvStats {
            desc,
            seconds: (self.now() - at) as f64 / SECONDS as f64,
            peers: self.n(),
            rpcs: self.rpc_total() - rpcs,
            ops: self.ops - ops,
        });
    }

    /// Every RPC sent, Raft's and the clerks'.
    pub fn rpc_total(&self) -> u64 {
        self.cluster.net.stats.rpc_total + self.client_rpcs
    }

    // ---- servers and links ------------------------------------------------------------

    /// `StartServer(i)`: a fresh KV server over the surviving disk; not connected.
    pub fn start_server(&mut self, i: usize) {
        self.shutdown_server(i);
        self.cluster.start(i);
        self.incarnations[i] += 1;
        let snapshot = self.cluster.disk(i).durable().snapshot.clone();
        let mut store = KvStore::new(self.limits);
        if let Err(e) = store.restore(&snapshot.data) {
            self.fail(format!("server {i} cannot restore its snapshot: {e}"));
        }
        let mut tracker = RequestTracker::new();
        tracker.on_snapshot(snapshot.meta.last_included);
        self.servers[i] = Some(KvServer {
            store,
            tracker,
            next_read: 0,
            last_snapshot: snapshot.meta.last_included.index.0,
        });
    }

    /// `ShutdownServer(i)`: disconnect, kill; waiting calls fail.
    pub fn shutdown_server(&mut self, i: usize) {
        self.cluster.crash(i);
        if let Some(mut server) = self.servers[i].take() {
            let lost = server.tracker.clear();
            self.resolve(i, lost);
        }
    }

    /// Connects server `i` to each server of `to` (both directions).
    fn connect_to(&mut self, i: usize, to: &[usize], up: bool) {
        for &j in to {
            if i != j {
                self.cluster.set_link(i, j, up);
                self.cluster.set_link(j, i, up);
            }
        }
    }

    /// `ConnectAll()`.
    pub fn connect_all(&mut self) {
        let all = self.all();
        for i in 0..self.n() {
            self.connect_to(i, &all, true);
        }
    }

    /// `partition(p1, p2)`: full connectivity inside each group, none across.
    pub fn partition(&mut self, p1: &[usize], p2: &[usize]) {
        for &i in p1 {
            self.connect_to(i, p2, false);
            self.connect_to(i, p1, true);
        }
        for &i in p2 {
            self.connect_to(i, p1, false);
            self.connect_to(i, p2, true);
        }
    }

    /// The server that believes it leads with the highest term, if any (`cfg.Leader()`).
    pub fn leader(&self) -> Option<usize> {
        (0..self.n())
            .filter_map(|i| self.cluster.get_state(i).map(|(term, l)| (term, l, i)))
            .filter(|&(_, l, _)| l)
            .max()
            .map(|(_, _, i)| i)
    }

    /// `make_partition()`: p1 = n/2+1 servers without the leader, p2 = the rest
    /// (the leader in the minority).
    pub fn make_partition(&mut self) -> (Vec<usize>, Vec<usize>) {
        let leader = self.leader().unwrap_or(0);
        let mut p1 = Vec::new();
        let mut p2 = vec![leader];
        for i in (0..self.n()).filter(|&i| i != leader) {
            if p1.len() < self.n() / 2 + 1 {
                p1.push(i);
            } else {
                p2.push(i);
            }
        }
        (p1, p2)
    }

    /// `LogSize()`: the largest persisted Raft state.
    pub fn log_size(&self) -> usize {
        (0..self.n())
            .map(|i| self.cluster.disk(i).raft_state_size())
            .max()
            .unwrap_or(0)
    }

    /// `SnapshotSize()`: the largest persisted snapshot.
    pub fn snapshot_size(&self) -> usize {
        (0..self.n())
            .map(|i| self.cluster.disk(i).snapshot_size())
            .max()
            .unwrap_or(0)
    }

    // ---- clerks -------------------------------------------------------------------------

    /// `makeClient(to)`: a clerk with ends to every server in shuffled order, only those
    /// in `to` enabled. Returns its handle.
    pub fn make_client(&mut self, to: &[usize]) -> usize {
        let mut order = self.all();
        self.client_rng.shuffle(&mut order);
        let mut links = vec![false; self.n()];
        for &i in to {
            links[i] = true;
        }
        let id = ClientId(self.client_rng.next_u64() | 1);
        self.clerks.push(Clerk {
            id,
            sequence: 0,
            order,
            links,
            guess: 0,
            failures: 0,
            next_rpc: 0,
            pending: None,
            result: None,
        });
        self.clerks.len() - 1
    }

    /// `ConnectClient(ck, to)`: enables exactly the clerk's ends to `to`.
    pub fn connect_client(&mut self, ck: usize, to: &[usize]) {
        let links = &mut self.clerks[ck].links;
        links.iter_mut().for_each(|l| *l = false);
        for &i in to {
            links[i] = true;
        }
    }

    /// Starts an operation on clerk `ck`; the current task (or the main body) is woken
    /// when it completes. `log_as`: record it in the history under this client id.
    pub fn start_op(&mut self, ck: usize, op: ClerkOp, log_as: Option<u64>) {
        let waiter = match self.current_task {
            Some(task) => Waiter::Task(task),
            None => Waiter::Main,
        };
        let clerk = &mut self.clerks[ck];
        assert!(
            clerk.pending.is_none(),
            "clerk {ck} already has an operation"
        );
        let request = match &op {
            ClerkOp::Get(key) => ClerkRequest::Read {
                key: Bytes::copy_from_slice(key.as_bytes()),
            },
            ClerkOp::Put(key, value) | ClerkOp::Append(key, value) => {
                clerk.sequence += 1;
                let (key, value) = (
                    Bytes::copy_from_slice(key.as_bytes()),
                    Bytes::copy_from_slice(value.as_bytes()),
                );
                let operation = if matches!(op, ClerkOp::Put(..)) {
                    Operation::Put { key, value }
                } else {
                    Operation::Append { key, value }
                };
                ClerkRequest::Write(Request {
                    client: clerk.id,
                    sequence: clerk.sequence,
                    operation,
                    // The labs have no expiry: an unstamped request leaves the store's
                    // clock alone.
                    timestamp_ms: 0,
                })
            }
        };
        clerk.pending = Some(Pending {
            op,
            request,
            rpc: 0,
            call: 0,
            waiter,
            log_as,
        });
        clerk.result = None;
        let now = self.now();
        self.clerks[ck].pending.as_mut().expect("set").call = now;
        if self.count_ops {
            self.ops += 1;
        }
        self.send_rpc(ck);
    }

    /// Plants a bug in the servers (see [`KvCanary`]).
    pub fn set_canary(&mut self, canary: KvCanary) {
        self.canary = canary;
    }

    /// Whether operations count in the "Passed" line's ops column (the speed tests
    /// call the clerk directly, outside the counting wrappers).
    pub fn set_count_ops(&mut self, on: bool) {
        self.count_ops = on;
    }

    /// The result of the clerk's last completed operation (Get's value; "" otherwise).
    pub fn take_result(&mut self, ck: usize) -> String {
        self.clerks[ck]
            .result
            .take()
            .unwrap_or_else(|| self.fail(format!("clerk {ck} has no result")))
    }

    /// True if the clerk has an operation in flight.
    pub fn busy(&self, ck: usize) -> bool {
        self.clerks[ck].pending.is_some()
    }

    /// Runs `op` on clerk `ck` from the main body, blocking in virtual time.
    pub fn op(&mut self, ck: usize, op: ClerkOp, log_as: Option<u64>) -> String {
        self.start_op(ck, op, log_as);
        while self.clerks[ck].pending.is_some() {
            self.run(self.now() + ms(100), true);
        }
        self.main_woken = false;
        self.take_result(ck)
    }

    /// `ck.Get(key)`.
    pub fn get(&mut self, ck: usize, key: &str, log_as: Option<u64>) -> String {
        self.op(ck, ClerkOp::Get(key.to_string()), log_as)
    }

    /// `ck.Put(key, value)`.
    pub fn put(&mut self, ck: usize, key: &str, value: &str, log_as: Option<u64>) {
        self.op(ck, ClerkOp::Put(key.to_string(), value.to_string()), log_as);
    }

    /// `ck.Append(key, value)`.
    pub fn append(&mut self, ck: usize, key: &str, value: &str, log_as: Option<u64>) {
        self.op(
            ck,
            ClerkOp::Append(key.to_string(), value.to_string()),
            log_as,
        );
    }

    /// `check(ck, key, value)`: a Get must return `value`.
    pub fn check(&mut self, ck: usize, key: &str, value: &str) {
        let v = self.get(ck, key, None);
        if v != value {
            self.fail(format!("Get({key}): expected:\n{value}\nreceived:\n{v}"));
        }
    }

    // ---- tasks and time ----------------------------------------------------------------

    /// `go task()`: runs its first step now.
    pub fn spawn(&mut self, task: Box<dyn KvTask>) -> usize {
        self.tasks.push(Some(task));
        let id = self.tasks.len() - 1;
        self.poll_task(id);
        id
    }

    /// True once the task finished.
    pub fn task_done(&self, id: usize) -> bool {
        self.tasks[id].is_none()
    }

    /// Waits until every task in `ids` has finished.
    pub fn join(&mut self, ids: &[usize]) {
        while !ids.iter().all(|&id| self.task_done(id)) {
            self.sleep(10);
        }
    }

    /// `time.Sleep(millis)`.
    pub fn sleep(&mut self, millis: u64) {
        assert!(
            self.current_task.is_none(),
            "tasks must not sleep inside poll"
        );
        self.run(self.now() + ms(millis), false);
    }

    fn run(&mut self, until: Time, stop_on_main: bool) {
        if until > HARD_TIME_LIMIT {
            self.fail("simulation ran past its hard time limit");
        }
        loop {
            if stop_on_main && self.main_woken {
                self.main_woken = false;
                return;
            }
            match self.cluster.run_until_output(until) {
                Wakeup::Output => self.drain_outputs(),
                Wakeup::Task(id) => {
                    let timer = self.timers[id].take().expect("scheduled timer");
                    self.free_timers.push(id);
                    self.handle_timer(timer);
                    self.check_leadership();
                }
                Wakeup::Limit => return,
            }
        }
    }

    fn poll_task(&mut self, id: usize) {
        let Some(mut task) = self.tasks[id].take() else {
            return;
        };
        self.current_task = Some(id);
        let wake = task.poll(self);
        self.current_task = None;
        match wake {
            TaskWake::Done => {}
            TaskWake::Op => self.tasks[id] = Some(task),
            TaskWake::After(delay) => {
                self.tasks[id] = Some(task);
                self.schedule(self.now() + delay, Timer::TaskWake(id));
            }
        }
    }

    fn schedule(&mut self, at: Time, timer: Timer) {
        let id = match self.free_timers.pop() {
            Some(id) => {
                self.timers[id] = Some(timer);
                id
            }
            None => {
                self.timers.push(Some(timer));
                self.timers.len() - 1
            }
        };
        self.cluster.schedule_task(at, id);
    }

    // ---- client RPCs ---------------------------------------------------------------------

    /// Delivers a clerk's request to the current incarnation of `server` at `at`.
    fn schedule_arrival(
        &mut self,
        at: Time,
        server: usize,
        clerk: usize,
        rpc: u64,
        request: ClerkRequest,
    ) {
        let incarnation = self.incarnations[server];
        let timer = Timer::RequestArrives {
            server,
            incarnation,
            clerk,
            rpc,
            request,
        };
        self.schedule(at, timer);
    }

    fn send_rpc(&mut self, ck: usize) {
        let now = self.now();
        let clerk = &mut self.clerks[ck];
        clerk.next_rpc += 1;
        let rpc = clerk.next_rpc;
        let pending = clerk.pending.as_mut().expect("an operation in flight");
        pending.rpc = rpc;
        let request = pending.request.clone();
        let server = clerk.order[clerk.guess % clerk.order.len()];
        let linked = clerk.links[server];
        self.client_rpcs += 1;
        let alive = self.servers[server].is_some();
        let reliable = self.cluster.net.is_reliable();
        if !linked || !alive {
            let after = self.client_rng.below(ms(100));
            self.schedule(now + after, Timer::CallFails { clerk: ck, rpc });
        } else if reliable {
            let delay = self.client_rng.range_inclusive(100, 2_000);
            self.schedule_arrival(now + delay, server, ck, rpc, request);
        } else {
            let delay = self.client_rng.below(ms(27));
            if self.client_rng.chance_per_mille(100) {
                self.schedule(now + delay, Timer::CallFails { clerk: ck, rpc });
            } else {
                self.schedule_arrival(now + delay, server, ck, rpc, request);
            }
        }
        self.schedule(now + CLERK_RPC_TIMEOUT, Timer::Timeout { clerk: ck, rpc });
    }

    fn handle_timer(&mut self, timer: Timer) {
        match timer {
            Timer::TaskWake(id) => self.poll_task(id),
            Timer::RequestArrives {
                server,
                incarnation,
                clerk,
                rpc,
                request,
            } => self.handle_request(server, incarnation, clerk, rpc, request),
            Timer::ReplyArrives { clerk, rpc, reply } => self.handle_reply(clerk, rpc, reply),
            Timer::CallFails { clerk, rpc } | Timer::Timeout { clerk, rpc } => {
                if self.is_current_rpc(clerk, rpc) {
                    self.retry(clerk);
                }
            }
            Timer::Retry { clerk, rpc } => {
                if self.is_current_rpc(clerk, rpc) {
                    self.send_rpc(clerk);
                }
            }
        }
    }

    fn is_current_rpc(&self, ck: usize, rpc: u64) -> bool {
        self.clerks[ck]
            .pending
            .as_ref()
            .is_some_and(|p| p.rpc == rpc)
    }

    /// Tries the next server; pauses 50 ms after a whole round without success.
    fn retry(&mut self, ck: usize) {
        let clerk = &mut self.clerks[ck];
        clerk.guess = (clerk.guess + 1) % clerk.order.len();
        clerk.failures += 1;
        let pause = if clerk.failures.is_multiple_of(clerk.order.len()) {
            ms(50)
        } else {
            0
        };
        let rpc = clerk.pending.as_ref().expect("in flight").rpc;
        self.schedule(self.now() + pause, Timer::Retry { clerk: ck, rpc });
    }

    fn handle_request(
        &mut self,
        server: usize,
        incarnation: u32,
        ck: usize,
        rpc: u64,
        request: ClerkRequest,
    ) {
        if self.servers[server].is_none() || self.incarnations[server] != incarnation {
            let after = self.client_rng.below(ms(100));
            self.schedule(self.now() + after, Timer::CallFails { clerk: ck, rpc });
            return;
        }
        let reply = match request {
            ClerkRequest::Read { key } if self.canary == KvCanary::LocalReads => {
                let kv = self.servers[server].as_ref().expect("running");
                Some(Reply::Outcome(Outcome::Value(kv.store.get(&key))))
            }
            ClerkRequest::Read { key } => {
                let kv = self.servers[server].as_mut().expect("running");
                kv.next_read += 1;
                let read_id = kv.next_read;
                match self.cluster.read_index(server, read_id) {
                    Err(_) => Some(Reply::WrongLeader),
                    Ok(()) => {
                        let term = self.cluster.get_state(server).expect("running").0;
                        let kv = self.servers[server].as_mut().expect("running");
                        let call = Call {
                            clerk: ck,
                            rpc,
                            read_key: Some(key),
                        };
                        kv.tracker.register_read(read_id, term, call);
                        None
                    }
                }
            }
            ClerkRequest::Write(request) => {
                match self.cluster.propose_bytes(server, request.encode()) {
                    Err(_) => Some(Reply::WrongLeader),
                    Ok(id) => {
                        let kv = self.servers[server].as_mut().expect("running");
                        let call = Call {
                            clerk: ck,
                            rpc,
                            read_key: None,
                        };
                        kv.tracker.register(id, call).map(|_| Reply::WrongLeader)
                    }
                }
            }
        };
        if let Some(reply) = reply {
            self.send_reply(server, ck, rpc, reply);
        }
    }

    fn send_reply(&mut self, server: usize, ck: usize, rpc: u64, reply: Reply) {
        let now = self.now();
        let linked = self.clerks[ck].links[server] && self.servers[server].is_some();
        if !linked || (!self.cluster.net.is_reliable() && self.client_rng.chance_per_mille(100)) {
            self.schedule(now, Timer::CallFails { clerk: ck, rpc });
            return;
        }
        let delay = self.client_rng.range_inclusive(100, 2_000);
        self.schedule(
            now + delay,
            Timer::ReplyArrives {
                clerk: ck,
                rpc,
                reply,
            },
        );
    }

    fn handle_reply(&mut self, ck: usize, rpc: u64, reply: Reply) {
        if !self.is_current_rpc(ck, rpc) {
            return;
        }
        let outcome = match reply {
            Reply::WrongLeader => return self.retry(ck),
            Reply::Outcome(outcome) => outcome,
        };
        let (read, length) = match outcome {
            Outcome::Value(v) => (v.map(|b| String::from_utf8_lossy(&b).into_owned()), None),
            Outcome::Written => (None, None),
            Outcome::Appended { length } => (None, Some(length)),
            Outcome::Rejected(e @ (KvError::Stale { .. } | KvError::SessionExpired)) => {
                self.fail(format!("clerk {ck}: request rejected: {e}"))
            }
            other => self.fail(format!("clerk {ck}: unexpected outcome {other:?}")),
        };
        let now = self.now();
        let clerk = &mut self.clerks[ck];
        clerk.failures = 0;
        let pending = clerk.pending.take().expect("current");
        clerk.result = Some(read.clone().unwrap_or_default());
        if let Some(client) = pending.log_as {
            let (kind, key, value) = match pending.op {
                ClerkOp::Get(key) => (OpKind::Get, key, String::new()),
                ClerkOp::Put(key, value) => (OpKind::Put, key, value),
                ClerkOp::Append(key, value) => (OpKind::Append, key, value),
            };
            self.history.push(HistoryOp {
                client,
                kind,
                key,
                value,
                output: read,
                length,
                call: pending.call,
                ret: now,
            });
        }
        match pending.waiter {
            Waiter::Main => self.main_woken = true,
            Waiter::Task(id) => self.schedule(now, Timer::TaskWake(id)),
        }
    }

    // ---- servers apply ---------------------------------------------------------------------

    fn drain_outputs(&mut self) {
        loop {
            let outputs = self.cluster.take_outputs();
            if outputs.is_empty() {
                break;
            }
            for output in outputs {
                self.handle_output(output);
            }
        }
        self.check_leadership();
    }

    fn handle_output(&mut self, output: Output) {
        match output {
            Output::Apply { node, apply } => {
                let Some(kv) = self.servers[node].as_mut() else {
                    return;
                };
                let resolutions = match apply {
                    Apply::Entry(entry) => match &entry.payload {
                        EntryPayload::Command(data) => {
                            let outcome = kv.store.apply(entry.index, data);
                            kv.tracker.on_applied(entry.id(), Some(&outcome))
                        }
                        EntryPayload::Empty => {
                            kv.store.apply_empty(entry.index);
                            kv.tracker.on_applied(entry.id(), None)
                        }
                    },
                    Apply::Snapshot(snapshot) => {
                        self.installed_snapshots += 1;
                        if let Err(e) = kv.store.restore(&snapshot.data) {
                            self.fail(format!("server {node}: bad snapshot: {e}"));
                        }
                        kv.last_snapshot =
                            kv.last_snapshot.max(snapshot.meta.last_included.index.0);
                        kv.tracker.on_snapshot(snapshot.meta.last_included)
                    }
                };
                self.resolve(node, resolutions);
                self.maybe_snapshot(node);
            }
            Output::Read { node, read } => {
                let Some(kv) = self.servers[node].as_mut() else {
                    return;
                };
                let resolutions = kv.tracker.on_read_state(read);
                self.resolve(node, resolutions);
            }
        }
    }

    /// The application snapshots once the persisted Raft state exceeds `maxraftstate`.
    fn maybe_snapshot(&mut self, node: usize) {
        if self.maxraftstate <= 0 {
            return;
        }
        if self.cluster.disk(node).raft_state_size() <= self.maxraftstate as usize {
            return;
        }
        let Some(kv) = self.servers[node].as_mut() else {
            return;
        };
        let applied = kv.store.applied_index();
        if applied.0 <= kv.last_snapshot {
            return;
        }
        kv.last_snapshot = applied.0;
        let data = kv.store.snapshot().to_vec();
        self.cluster.snapshot(node, applied.0, data);
    }

    /// Answers resolved waiters of `node`.
    fn resolve(&mut self, node: usize, resolutions: Vec<Resolution<Call>>) {
        for resolution in resolutions {
            let (call, reply) = match resolution {
                Resolution::Applied { waiter, outcome } => match Outcome::decode(&outcome) {
                    Ok(outcome) => (waiter, Reply::Outcome(outcome)),
                    Err(e) => self.fail(format!("server {node}: undecodable outcome: {e}")),
                },
                Resolution::ReadReady { waiter } => {
                    let key = waiter.read_key.clone().expect("reads carry their key");
                    let value = self.servers[node]
                        .as_ref()
                        .and_then(|kv| kv.store.get(&key));
                    (waiter, Reply::Outcome(Outcome::Value(value)))
                }
                Resolution::Lost { waiter } => (waiter, Reply::WrongLeader),
            };
            self.send_reply(node, call.clerk, call.rpc, reply);
        }
    }

    /// Loses the waiters of servers whose term moved on or who stopped leading.
    fn check_leadership(&mut self) {
        for i in 0..self.n() {
            let Some((term, leader)) = self.cluster.get_state(i) else {
                continue;
            };
            let Some(kv) = self.servers[i].as_mut() else {
                continue;
            };
            if kv.tracker.is_empty() {
                continue;
            }
            let lost = kv.tracker.on_term(term, leader);
            if !lost.is_empty() {
                self.resolve(i, lost);
            }
        }
    }

    /// A description of where the clerks stand (for failure messages).
    pub fn describe(&self) -> String {
        format!(
            "virtual time {}s, {} clerks, {} ops",
            format_time(self.now()),
            self.clerks.len(),
            self.ops
        )
    }

    /// Applied index of server `i`'s store, if it runs.
    pub fn applied(&self, i: usize) -> Option<Index> {
        self.servers[i].as_ref().map(|kv| kv.store.applied_index())
    }
}
