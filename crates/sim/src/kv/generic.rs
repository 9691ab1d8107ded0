//! The KV tests (`kvraft/test_test.go`): `GenericTest`, `GenericTestSpeed` and the
//! fixed scenarios, the registry of all 23, and the seed runner.

use super::history::History;
use super::tester::{ClerkOp, KvCanary, KvTask, KvTester, TaskWake, ELECTION_TIMEOUT_MS};
use crate::event_queue::{ms, Time, SECONDS};
use crate::lab::runner::{panic_message, seeds_from_env};
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Default seeds per KV test (`RAFTKV_SEEDS` overrides).
pub const DEFAULT_KV_SEEDS: u64 = 10;

/// Pause of a generic-test client between two operations. The lab's clients run back
/// to back, but a Go RPC round trip plus a Raft commit takes ~15 ms there against ~3 ms
/// here; this keeps the histories near the lab's size (~1000 operations per test).
pub const CLIENT_THINK_TIME: Time = ms(10);

/// Parameters of `GenericTest`.
#[derive(Clone, Copy, Debug)]
pub struct Generic {
    /// "4A" or "4B".
    pub part: &'static str,
    /// Concurrent clients.
    pub nclients: usize,
    /// Servers.
    pub nservers: usize,
    /// Unreliable network.
    pub unreliable: bool,
    /// Restart every server each iteration.
    pub crash: bool,
    /// Random partitions while the clients run.
    pub partitions: bool,
    /// Snapshot threshold in bytes; -1: never.
    pub maxraftstate: i64,
    /// Clients pick random keys (only the linearizability check judges values).
    pub randomkeys: bool,
}

impl Generic {
    fn title(&self) -> String {
        let mut title = String::from("Test: ");
        if self.unreliable {
            title += "unreliable net, ";
        }
        if self.crash {
            title += "restarts, ";
        }
        if self.partitions {
            title += "partitions, ";
        }
        if self.maxraftstate != -1 {
            title += "snapshots, ";
        }
        if self.randomkeys {
            title += "random keys, ";
        }
        title += if self.nclients > 1 {
            "many clients"
        } else {
            "one client"
        };
        format!("{title} ({})", self.part)
    }
}

/// `NextValue(prev, val)`.
fn next_value(prev: &str, value: &str) -> String {
    format!("{prev}{value}")
}

/// `checkClntAppends`: every "x clnt j y" for j < count appears once, in order.
pub fn check_clnt_appends(t: &KvTester, clnt: usize, v: &str, count: u64) {
    let mut lastoff: Option<usize> = None;
    for j in 0..count {
        let wanted = format!("x {clnt} {j} y");
        let Some(off) = v.find(&wanted) else {
            t.fail(format!(
                "{clnt} missing element {wanted} in Append result {}",
                abbreviate(v)
            ));
        };
        if v[off + 1..].contains(&wanted) {
            t.fail(format!("duplicate element {wanted} in Append result"));
        }
        if lastoff.is_some_and(|last| off <= last) {
            t.fail(format!("wrong order for element {wanted} in Append result"));
        }
        lastoff = Some(off);
    }
}

fn abbreviate(v: &str) -> String {
    if v.len() > 200 {
        format!("{}... ({} bytes)", &v[..200], v.len())
    } else {
        v.to_string()
    }
}

struct Client {
    cli: usize,
    ck: usize,
    nclients: usize,
    randomkeys: bool,
    j: u64,
    last: String,
    waiting: Option<ClerkOp>,
    started: bool,
    stop: Rc<Cell<bool>>,
    result: Rc<Cell<Option<u64>>>,
}

impl KvTask for Client {
    fn poll(&mut self, t: &mut KvTester) -> TaskWake {
        if let Some(op) = self.waiting.take() {
            let v = t.take_result(self.ck);
            if let ClerkOp::Get(key) = op {
                if !self.randomkeys && v != self.last {
                    t.fail(format!(
                        "get wrong value, key {key}, wanted:\n{}\n, got\n{}",
                        abbreviate(&self.last),
                        abbreviate(&v)
                    ));
                }
            }
            return TaskWake::After(CLIENT_THINK_TIME);
        }
        let log = Some(self.cli as u64);
        if !self.started {
            self.started = true;
            if !self.randomkeys {
                let op = ClerkOp::Put(self.cli.to_string(), String::new());
                self.waiting = Some(op.clone());
                t.start_op(self.ck, op, log);
                return TaskWake::Op;
            }
        }
        if self.stop.get() {
            self.result.set(Some(self.j));
            return TaskWake::Done;
        }
        let key = if self.randomkeys {
            t.rng().below(self.nclients as u64).to_string()
        } else {
            self.cli.to_string()
        };
        let nv = format!("x {} {} y", self.cli, self.j);
        let op = if t.rng().int63() % 1000 < 500 {
            if !self.randomkeys {
                self.last = next_value(&self.last, &nv);
            }
            self.j += 1;
            ClerkOp::Append(key, nv)
        } else if self.randomkeys && t.rng().int63() % 1000 < 100 {
            self.j += 1;
            ClerkOp::Put(key, nv)
        } else {
            ClerkOp::Get(key)
        };
        self.waiting = Some(op.clone());
        t.start_op(self.ck, op, log);
        TaskWake::Op
    }
}

struct Partitioner {
    stop: Rc<Cell<bool>>,
}

impl KvTask for Partitioner {
    fn poll(&mut self, t: &mut KvTester) -> TaskWake {
        if self.stop.get() {
            return TaskWake::Done;
        }
        let n = t.n();
        let groups: Vec<u64> = (0..n).map(|_| t.rng().int63() % 2).collect();
        let p0: Vec<usize> = (0..n).filter(|&i| groups[i] == 0).collect();
        let p1: Vec<usize> = (0..n).filter(|&i| groups[i] == 1).collect();
        t.partition(&p0, &p1);
        let pause = ELECTION_TIMEOUT_MS + t.rng().int63() % 200;
        TaskWake::After(ms(pause))
    }
}

/// `GenericTest`.
pub fn generic_test(t: &mut KvTester, g: Generic) {
    t.begin(&g.title());
    let ck = t.make_client(&t.all());
    for _ in 0..3 {
        let stop = Rc::new(Cell::new(false));
        let mut clients = Vec::new();
        for cli in 0..g.nclients {
            let myck = t.make_client(&t.all());
            let result = Rc::new(Cell::new(None));
            let id = t.spawn(Box::new(Client {
                cli,
                ck: myck,
                nclients: g.nclients,
                randomkeys: g.randomkeys,
                j: 0,
                last: String::new(),
                waiting: None,
                started: false,
                stop: stop.clone(),
                result: result.clone(),
            }));
            clients.push((id, result));
        }
        let mut partitioner = None;
        if g.partitions {
            t.sleep(1000);
            partitioner = Some(t.spawn(Box::new(Partitioner { stop: stop.clone() })));
        }
        t.sleep(5000);
        stop.set(true);
        if let Some(p) = partitioner {
            t.join(&[p]);
            t.connect_all();
            t.sleep(ELECTION_TIMEOUT_MS);
        }
        if g.crash {
            for i in 0..g.nservers {
                t.shutdown_server(i);
            }
            t.sleep(ELECTION_TIMEOUT_MS);
            for i in 0..g.nservers {
                t.start_server(i);
            }
            t.connect_all();
        }
        for (i, (id, result)) in clients.iter().enumerate() {
            t.join(&[*id]);
            let j = result.get().expect("client finished");
            let v = t.get(ck, &i.to_string(), Some(0));
            if !g.randomkeys {
                check_clnt_appends(t, i, &v, j);
            }
        }
        if g.maxraftstate > 0 {
            let sz = t.log_size();
            if sz > 8 * g.maxraftstate as usize {
                t.fail(format!(
                    "logs were not trimmed ({sz} > 8*{})",
                    g.maxraftstate
                ));
            }
        }
        if g.maxraftstate < 0 {
            let ssz = t.snapshot_size();
            if ssz > 0 {
                t.fail(format!(
                    "snapshot too large ({ssz}), should not be used when maxraftstate = {}",
                    g.maxraftstate
                ));
            }
        }
    }
    check_history(t);
    t.end();
}

/// The linearizability check of the recorded history (porcupine's
/// `CheckOperationsVerbose(KvModel, history, 1 s)`): fails on a violation; a timeout
/// counts as a pass, as in the lab.
pub fn check_history(t: &KvTester) {
    if let Err(report) = super::linearizable::check(&t.history) {
        t.fail(format!("history is not linearizable:\n{report}"));
    }
}

/// `GenericTestSpeed`: 1000 sequential Appends at ≤ 33.3 ms each.
pub fn generic_test_speed(t: &mut KvTester, part: &str) {
    const NUM_OPS: u64 = 1000;
    let ck = t.make_client(&t.all());
    t.set_count_ops(false);
    t.begin(&format!("Test: ops complete fast enough ({part})"));
    // Wait until servers are ready.
    t.get(ck, "x", None);
    let start = t.now();
    for i in 0..NUM_OPS {
        t.append(ck, "x", &format!("x 0 {i} y"), None);
    }
    let dur = t.now() - start;
    let v = t.get(ck, "x", None);
    check_clnt_appends(t, 0, &v, NUM_OPS);
    let limit = NUM_OPS * ms(100) / 3;
    if dur > limit {
        t.fail(format!(
            "Operations completed too slowly {} µs/op > {} µs/op",
            dur / NUM_OPS,
            limit / NUM_OPS
        ));
    }
    t.end();
}

/// `TestUnreliableOneKey4A`. The lab logs nothing here (`nil` op log): five clients
/// appending to one key with every call overlapping make the orders explode for a
/// Wing-Gong search when an append answers only "done". Our appends report the new
/// length, which pins each one's place, so the whole history (the initial put, every
/// append, the final read) is recorded and checked, on top of the lab's
/// `checkConcurrentAppends` (each append exactly once, in each client's order).
pub fn unreliable_one_key(t: &mut KvTester) {
    struct Appender {
        me: usize,
        ck: usize,
        n: u64,
        waiting: bool,
    }
    impl KvTask for Appender {
        fn poll(&mut self, t: &mut KvTester) -> TaskWake {
            if self.waiting {
                t.take_result(self.ck);
                self.waiting = false;
                self.n += 1;
            }
            if self.n == 10 {
                return TaskWake::Done;
            }
            let value = format!("x {} {} y", self.me, self.n);
            t.start_op(
                self.ck,
                ClerkOp::Append("k".into(), value),
                Some(self.me as u64),
            );
            self.waiting = true;
            TaskWake::Op
        }
    }
    let ck = t.make_client(&t.all());
    t.begin("Test: concurrent append to same key, unreliable (4A)");
    const NCLIENT: usize = 5;
    let main_log = Some(NCLIENT as u64);
    t.put(ck, "k", "", main_log);
    let ids: Vec<usize> = (0..NCLIENT)
        .map(|me| {
            let myck = t.make_client(&t.all());
            t.spawn(Box::new(Appender {
                me,
                ck: myck,
                n: 0,
                waiting: false,
            }))
        })
        .collect();
    t.join(&ids);
    let vx = t.get(ck, "k", main_log);
    // checkConcurrentAppends: every client's appends once each, in its order.
    for me in 0..NCLIENT {
        check_clnt_appends(t, me, &vx, 10);
    }
    check_history(t);
    t.end();
}

/// `TestOnePartition4A`.
pub fn one_partition(t: &mut KvTester) {
    let ck = t.make_client(&t.all());
    t.put(ck, "1", "13", None);
    t.begin("Test: progress in majority (4A)");
    let (p1, p2) = t.make_partition();
    t.partition(&p1, &p2);
    let ckp1 = t.make_client(&p1);
    let ckp2a = t.make_client(&p2);
    let ckp2b = t.make_client(&p2);
    t.put(ckp1, "1", "14", None);
    t.check(ckp1, "1", "14");
    t.end();

    struct Once {
        ck: usize,
        op: Option<ClerkOp>,
        done: Rc<Cell<bool>>,
    }
    impl KvTask for Once {
        fn poll(&mut self, t: &mut KvTester) -> TaskWake {
            match self.op.take() {
                Some(op) => {
                    t.start_op(self.ck, op, None);
                    TaskWake::Op
                }
                None => {
                    t.take_result(self.ck);
                    self.done.set(true);
                    TaskWake::Done
                }
            }
        }
    }
    t.begin("Test: no progress in minority (4A)");
    let done0 = Rc::new(Cell::new(false));
    let done1 = Rc::new(Cell::new(false));
    t.spawn(Box::new(Once {
        ck: ckp2a,
        op: Some(ClerkOp::Put("1".into(), "15".into())),
        done: done0.clone(),
    }));
    t.spawn(Box::new(Once {
        ck: ckp2b,
        op: Some(ClerkOp::Get("1".into())),
        done: done1.clone(),
    }));
    let deadline = t.now() + SECONDS;
    while t.now() < deadline {
        t.sleep(10);
        if done0.get() {
            t.fail("Put in minority completed");
        }
        if done1.get() {
            t.fail("Get in minority completed");
        }
    }
    t.check(ckp1, "1", "14");
    t.put(ckp1, "1", "16", None);
    t.check(ckp1, "1", "16");
    t.end();

    t.begin("Test: completion after heal (4A)");
    t.connect_all();
    let all = t.all();
    t.connect_client(ckp2a, &all);
    t.connect_client(ckp2b, &all);
    t.sleep(ELECTION_TIMEOUT_MS);
    let deadline = t.now() + ms(3000);
    while !done0.get() {
        if t.now() >= deadline {
            t.fail("Put did not complete");
        }
        t.sleep(10);
    }
    if !done1.get() {
        t.fail("Get did not complete");
    }
    t.check(ck, "1", "15");
    t.end();
}

/// `TestSnapshotRPC4B`.
pub fn snapshot_rpc(t: &mut KvTester) {
    let maxraftstate = t.maxraftstate() as usize;
    let ck = t.make_client(&t.all());
    t.begin("Test: InstallSnapshot RPC (4B)");
    t.put(ck, "a", "A", None);
    t.check(ck, "a", "A");
    // A bunch of puts into the majority partition.
    t.partition(&[0, 1], &[2]);
    {
        let ck1 = t.make_client(&[0, 1]);
        for i in 0..50 {
            t.put(ck1, &i.to_string(), &i.to_string(), None);
        }
        t.sleep(ELECTION_TIMEOUT_MS);
        t.put(ck1, "b", "B", None);
    }
    // The majority partition must have thrown away most of its log entries.
    let sz = t.log_size();
    if sz > 8 * maxraftstate {
        t.fail(format!("logs were not trimmed ({sz} > 8*{maxraftstate})"));
    }
    // A group that requires the lagging server, so it has to catch up.
    t.partition(&[0, 2], &[1]);
    {
        let ck1 = t.make_client(&[0, 2]);
        t.put(ck1, "c", "C", None);
        t.put(ck1, "d", "D", None);
        t.check(ck1, "a", "A");
        t.check(ck1, "b", "B");
        t.check(ck1, "1", "1");
        t.check(ck1, "49", "49");
    }
    // Now everybody.
    t.partition(&[0, 1, 2], &[]);
    t.put(ck, "e", "E", None);
    t.check(ck, "c", "C");
    t.check(ck, "e", "E");
    t.check(ck, "1", "1");
    t.end();
}

/// `TestSnapshotSize4B`.
pub fn snapshot_size(t: &mut KvTester) {
    let maxraftstate = t.maxraftstate() as usize;
    const MAX_SNAPSHOT_STATE: usize = 500;
    let ck = t.make_client(&t.all());
    t.begin("Test: snapshot size is reasonable (4B)");
    for _ in 0..200 {
        t.put(ck, "x", "0", None);
        t.check(ck, "x", "0");
        t.put(ck, "x", "1", None);
        t.check(ck, "x", "1");
    }
    // Check that servers have thrown away most of their log entries.
    let sz = t.log_size();
    if sz > 8 * maxraftstate {
        t.fail(format!("logs were not trimmed ({sz} > 8*{maxraftstate})"));
    }
    // Check that the snapshots are not unreasonably large.
    let ssz = t.snapshot_size();
    if ssz > MAX_SNAPSHOT_STATE {
        t.fail(format!("snapshot too large ({ssz} > {MAX_SNAPSHOT_STATE})"));
    }
    if t.now() > 20 * SECONDS {
        t.fail("snapshot_size took longer than the handout's 20 s");
    }
    t.end();
}

/// How a KV test body runs.
#[derive(Clone, Copy, Debug)]
pub enum Body {
    /// `GenericTest` with these parameters.
    Generic(Generic),
    /// `GenericTestSpeed(part)` with `maxraftstate`.
    Speed(&'static str),
    /// A fixed scenario.
    Scenario(fn(&mut KvTester)),
}

/// One KV test of the suite.
#[derive(Clone, Copy, Debug)]
pub struct KvTest {
    /// Cargo test name.
    pub name: &'static str,
    /// Integration test file (`kv_4a` or `kv_4b`).
    pub file: &'static str,
    /// Servers.
    pub servers: usize,
    /// Unreliable network from the start.
    pub unreliable: bool,
    /// `maxraftstate`.
    pub maxraftstate: i64,
    /// The body.
    pub body: Body,
}

// One argument per column of the catalogue's table, in its order.
#[allow(clippy::too_many_arguments)]
const fn generic(
    name: &'static str,
    part: &'static str,
    nclients: usize,
    nservers: usize,
    unreliable: bool,
    crash: bool,
    partitions: bool,
    maxraftstate: i64,
    randomkeys: bool,
) -> KvTest {
    KvTest {
        name,
        file: if part.as_bytes()[1] == b'A' {
            "kv_4a"
        } else {
            "kv_4b"
        },
        servers: nservers,
        unreliable,
        maxraftstate,
        body: Body::Generic(Generic {
            part,
            nclients,
            nservers,
            unreliable,
            crash,
            partitions,
            maxraftstate,
            randomkeys,
        }),
    }
}

const fn scenario(
    name: &'static str,
    file: &'static str,
    servers: usize,
    unreliable: bool,
    maxraftstate: i64,
    body: Body,
) -> KvTest {
    KvTest {
        name,
        file,
        servers,
        unreliable,
        maxraftstate,
        body,
    }
}

/// Every KV test, in the lab's order.
pub static KV_TESTS: &[KvTest] = &[
    generic("basic_4a", "4A", 1, 5, false, false, false, -1, false),
    scenario("speed_4a", "kv_4a", 3, false, -1, Body::Speed("4A")),
    generic("concurrent_4a", "4A", 5, 5, false, false, false, -1, false),
    generic("unreliable_4a", "4A", 5, 5, true, false, false, -1, false),
    scenario(
        "unreliable_one_key_4a",
        "kv_4a",
        3,
        true,
        -1,
        Body::Scenario(unreliable_one_key),
    ),
    scenario(
        "one_partition_4a",
        "kv_4a",
        5,
        false,
        -1,
        Body::Scenario(one_partition),
    ),
    generic(
        "many_partitions_one_client_4a",
        "4A",
        1,
        5,
        false,
        false,
        true,
        -1,
        false,
    ),
    generic(
        "many_partitions_many_clients_4a",
        "4A",
        5,
        5,
        false,
        false,
        true,
        -1,
        false,
    ),
    generic(
        "persist_one_client_4a",
        "4A",
        1,
        5,
        false,
        true,
        false,
        -1,
        false,
    ),
    generic(
        "persist_concurrent_4a",
        "4A",
        5,
        5,
        false,
        true,
        false,
        -1,
        false,
    ),
    generic(
        "persist_concurrent_unreliable_4a",
        "4A",
        5,
        5,
        true,
        true,
        false,
        -1,
        false,
    ),
    generic(
        "persist_partition_4a",
        "4A",
        5,
        5,
        false,
        true,
        true,
        -1,
        false,
    ),
    generic(
        "persist_partition_unreliable_4a",
        "4A",
        5,
        5,
        true,
        true,
        true,
        -1,
        false,
    ),
    generic(
        "persist_partition_unreliable_linearizable_4a",
        "4A",
        15,
        7,
        true,
        true,
        true,
        -1,
        true,
    ),
    scenario(
        "snapshot_rpc_4b",
        "kv_4b",
        3,
        false,
        1000,
        Body::Scenario(snapshot_rpc),
    ),
    scenario(
        "snapshot_size_4b",
        "kv_4b",
        3,
        false,
        1000,
        Body::Scenario(snapshot_size),
    ),
    scenario("speed_4b", "kv_4b", 3, false, 1000, Body::Speed("4B")),
    generic(
        "snapshot_recover_4b",
        "4B",
        1,
        5,
        false,
        true,
        false,
        1000,
        false,
    ),
    generic(
        "snapshot_recover_many_clients_4b",
        "4B",
        20,
        5,
        false,
        true,
        false,
        1000,
        false,
    ),
    generic(
        "snapshot_unreliable_4b",
        "4B",
        5,
        5,
        true,
        false,
        false,
        1000,
        false,
    ),
    generic(
        "snapshot_unreliable_recover_4b",
        "4B",
        5,
        5,
        true,
        true,
        false,
        1000,
        false,
    ),
    generic(
        "snapshot_unreliable_recover_concurrent_partition_4b",
        "4B",
        5,
        5,
        true,
        true,
        true,
        1000,
        false,
    ),
    generic(
        "snapshot_unreliable_recover_concurrent_partition_linearizable_4b",
        "4B",
        15,
        7,
        true,
        true,
        true,
        1000,
        true,
    ),
];

/// The KV test named `name`.
pub fn find(name: &str) -> Option<&'static KvTest> {
    KV_TESTS.iter().find(|t| t.name == name)
}

/// The result of one KV test on one seed.
#[derive(Clone, Debug)]
pub struct KvRun {
    /// The test.
    pub test: &'static KvTest,
    /// The seed.
    pub seed: u64,
    /// `Err(message)` on failure.
    pub result: Result<(), String>,
    /// "Passed" lines.
    pub stats: Vec<super::KvStats>,
    /// Operations in the history.
    pub history_len: usize,
    /// Virtual seconds.
    pub virtual_seconds: f64,
    /// Real time.
    pub wall: Duration,
    /// Trace digest.
    pub digest: u64,
}

/// Runs `test` on `seed`, catching failures.
pub fn run_kv_test(test: &'static KvTest, seed: u64) -> KvRun {
    run_kv_test_with(test, seed, KvCanary::Off)
}

/// Runs `test` on `seed` with a planted bug, catching failures.
pub fn run_kv_test_with(test: &'static KvTest, seed: u64, canary: KvCanary) -> KvRun {
    let started = Instant::now();
    let mut slot: Option<KvTester> = None;
    let result = catch_unwind(AssertUnwindSafe(|| {
        let t = slot.insert(KvTester::new(
            seed,
            test.servers,
            test.unreliable,
            test.maxraftstate,
        ));
        t.set_canary(canary);
        match test.body {
            Body::Generic(g) => generic_test(t, g),
            Body::Speed(part) => generic_test_speed(t, part),
            Body::Scenario(f) => f(t),
        }
    }))
    .map_err(|payload| panic_message(payload.as_ref()));
    let (stats, history_len, virtual_seconds, digest) = match &slot {
        Some(t) => (
            t.results().to_vec(),
            t.history.len(),
            t.cluster().seconds(),
            t.digest(),
        ),
        None => (Vec::new(), 0, 0.0, 0),
    };
    KvRun {
        test,
        seed,
        result,
        stats,
        history_len,
        virtual_seconds,
        wall: started.elapsed(),
        digest,
    }
}

/// Runs every (test, seed) pair over the machine's cores; results in input order.
pub fn run_many_kv(jobs: &[(&'static KvTest, u64)]) -> Vec<KvRun> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(jobs.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<KvRun>>> = Mutex::new(vec![None; jobs.len()]);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(test, seed)) = jobs.get(k) else {
                    break;
                };
                let run = run_kv_test(test, seed);
                results.lock().expect("no poisoning")[k] = Some(run);
            });
        }
    });
    results
        .into_inner()
        .expect("no poisoning")
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect()
}

/// The cargo command that replays `test` on `seed`.
pub fn kv_replay_command(test: &KvTest, seed: u64) -> String {
    format!(
        "RAFTKV_SEED={seed} cargo test --release -p sim --test {} {} -- --exact",
        test.file, test.name
    )
}

/// Entry point of the cargo tests: the named test over `RAFTKV_SEEDS` seeds (default
/// [`DEFAULT_KV_SEEDS`]) or exactly `RAFTKV_SEED`; panics listing each failing seed and
/// its replay command.
pub fn run_kv_test_over_seeds(name: &str) {
    let test = find(name).unwrap_or_else(|| panic!("no KV test named {name}"));
    let seeds = if std::env::var("RAFTKV_SEED").is_ok() || std::env::var("RAFTKV_SEEDS").is_ok() {
        seeds_from_env()
    } else {
        (0..DEFAULT_KV_SEEDS).collect()
    };
    let jobs: Vec<_> = seeds.into_iter().map(|seed| (test, seed)).collect();
    let runs = run_many_kv(&jobs);
    let mut failures = Vec::new();
    for run in &runs {
        for stats in &run.stats {
            println!(
                "{name} seed {}: {} [{} history ops, {:.2}s wall]",
                run.seed,
                stats.passed_line(),
                run.history_len,
                run.wall.as_secs_f64()
            );
        }
        if let Err(message) = &run.result {
            failures.push(format!(
                "FAIL {name} seed {}: {message}\n  replay: {}",
                run.seed,
                kv_replay_command(test, run.seed)
            ));
        }
    }
    if !failures.is_empty() {
        panic!(
            "{} of {} seeds failed:\n{}",
            failures.len(),
            runs.len(),
            failures.join("\n")
        );
    }
}

/// The history of a run, for callers that check it themselves.
pub fn history_of(t: &KvTester) -> &History {
    &t.history
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_are_identical_and_snapshots_happen() {
        let test = find("snapshot_unreliable_recover_4b").expect("registered");
        let a = run_kv_test(test, 3);
        let b = run_kv_test(test, 3);
        assert!(a.result.is_ok(), "{:?}", a.result);
        assert_eq!(a.digest, b.digest);
        assert_eq!(a.history_len, b.history_len);
        let c = run_kv_test(test, 4);
        assert_ne!(a.digest, c.digest);
    }

    #[test]
    fn every_test_of_the_catalogue_is_registered_once() {
        assert_eq!(KV_TESTS.len(), 23);
        for (i, t) in KV_TESTS.iter().enumerate() {
            assert!(KV_TESTS[..i].iter().all(|u| u.name != t.name));
        }
    }

    #[test]
    fn the_servers_snapshot_when_the_raft_state_exceeds_maxraftstate() {
        let mut t = KvTester::new(1, 3, false, 1000);
        let ck = t.make_client(&t.all());
        for i in 0..100 {
            t.put(ck, "k", &i.to_string(), None);
        }
        assert!(t.cluster().stats.snapshots > 0);
        assert!(t.log_size() <= 8 * 1000, "{}", t.log_size());
        assert!(t.snapshot_size() > 0);
        // A restarted server recovers the value from its snapshot and log.
        for i in 0..3 {
            t.shutdown_server(i);
        }
        for i in 0..3 {
            t.start_server(i);
        }
        t.connect_all();
        t.check(ck, "k", "99");
    }

    #[test]
    fn snapshot_rpc_catches_the_lagging_server_up_by_snapshot() {
        let mut t = KvTester::new(0, 3, false, 1000);
        snapshot_rpc(&mut t);
        assert!(t.installed_snapshots > 0);
    }

    #[test]
    fn no_snapshots_without_maxraftstate() {
        let mut t = KvTester::new(1, 3, false, -1);
        let ck = t.make_client(&t.all());
        for i in 0..100 {
            t.put(ck, "k", &i.to_string(), None);
        }
        assert_eq!(t.cluster().stats.snapshots, 0);
        assert_eq!(t.snapshot_size(), 0);
    }
}
