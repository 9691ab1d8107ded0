//! Lab 3C: persistence.

use super::part_3a::RAFT_ELECTION_TIMEOUT_MS;
use crate::command::Cmd;
use crate::event_queue::ms;
use crate::task::{ClientTask, OneTask, TaskId, Wake};
use crate::tester::Tester;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// TestPersist13C: basic persistence.
pub fn persist1(t: &mut Tester) {
    let servers = t.servers();
    t.begin("Test (3C): basic persistence");
    t.one(11u64, servers, true);
    // Crash and restart all.
    for i in 0..servers {
        t.start1(i);
    }
    for i in 0..servers {
        t.disconnect(i);
        t.connect(i);
    }
    t.one(12u64, servers, true);
    let leader1 = t.check_one_leader();
    t.disconnect(leader1);
    t.start1(leader1);
    t.connect(leader1);
    t.one(13u64, servers, true);
    let leader2 = t.check_one_leader();
    t.disconnect(leader2);
    t.one(14u64, servers - 1, true);
    t.start1(leader2);
    t.connect(leader2);
    // Wait for leader2 to join before killing i3.
    t.wait(4, servers, None);
    let i3 = (t.check_one_leader() + 1) % servers;
    t.disconnect(i3);
    t.one(15u64, servers - 1, true);
    t.start1(i3);
    t.connect(i3);
    t.one(16u64, servers, true);
    t.end();
}

/// TestPersist23C: more persistence.
pub fn persist2(t: &mut Tester) {
    let servers = t.servers();
    t.begin("Test (3C): more persistence");
    let mut index = 1u64;
    for _ in 0..5 {
        t.one(10 + index, servers, true);
        index += 1;
        let leader1 = t.check_one_leader();
        t.disconnect((leader1 + 1) % servers);
        t.disconnect((leader1 + 2) % servers);
        t.one(10 + index, servers - 2, true);
        index += 1;
        t.disconnect(leader1 % servers);
        t.disconnect((leader1 + 3) % servers);
        t.disconnect((leader1 + 4) % servers);
        t.start1((leader1 + 1) % servers);
        t.start1((leader1 + 2) % servers);
        t.connect((leader1 + 1) % servers);
        t.connect((leader1 + 2) % servers);
        t.sleep(RAFT_ELECTION_TIMEOUT_MS);
        t.start1((leader1 + 3) % servers);
        t.connect((leader1 + 3) % servers);
        t.one(10 + index, servers - 2, true);
        index += 1;
        t.connect((leader1 + 4) % servers);
        t.connect(leader1 % servers);
    }
    t.one(1000u64, servers, true);
    t.end();
}

/// TestPersist33C: partitioned leader and one follower crash, leader restarts.
pub fn persist3(t: &mut Tester) {
    let servers = t.servers();
    t.begin("Test (3C): partitioned leader and one follower crash, leader restarts");
    t.one(101u64, 3, true);
    let leader = t.check_one_leader();
    t.disconnect((leader + 2) % servers);
    t.one(102u64, 2, true);
    t.crash1(leader % servers);
    t.crash1((leader + 1) % servers);
    t.connect((leader + 2) % servers);
    t.start1(leader % servers);
    t.connect(leader % servers);
    t.one(103u64, 2, true);
    t.start1((leader + 1) % servers);
    t.connect((leader + 1) % servers);
    t.one(104u64, servers, true);
    t.end();
}

/// The lab's Figure 8 sleep: 0-499 ms with p = 10 %, else 0-12 ms.
fn figure8_pause(t: &mut Tester) {
    let pause = if t.rng().chance_per_mille(100) {
        t.rand_int() % (RAFT_ELECTION_TIMEOUT_MS / 2)
    } else {
        t.rand_int() % 13
    };
    t.sleep(pause);
}

/// TestFigure83C: 1000 rounds of proposing everywhere, then crashing the leader.
pub fn figure8(t: &mut Tester) {
    let servers = t.servers();
    t.begin("Test (3C): Figure 8");
    let cmd = t.rand_int();
    t.one(cmd, 1, true);
    let mut nup = servers;
    for _ in 0..1000 {
        let mut leader = None;
        for i in 0..servers {
            if t.alive(i) {
                let cmd = t.rand_int();
                if t.start(i, cmd).is_some() {
                    leader = Some(i);
                }
            }
        }
        figure8_pause(t);
        if let Some(leader) = leader {
            t.crash1(leader);
            nup -= 1;
        }
        if nup < 3 {
            let s = (t.rand_int() % servers as u64) as usize;
            if !t.alive(s) {
                t.start1(s);
                t.connect(s);
                nup += 1;
            }
        }
    }
    for i in 0..servers {
        if !t.alive(i) {
            t.start1(i);
            t.connect(i);
        }
    }
    let cmd = t.rand_int();
    t.one(cmd, servers, true);
    t.end();
}

/// TestUnreliableAgree3C: concurrent agreements on an unreliable network.
pub fn unreliable_agree(t: &mut Tester) {
    let servers = t.servers();
    t.begin("Test (3C): unreliable agreement");
    let mut tasks: Vec<TaskId> = Vec::new();
    for iters in 1..50u64 {
        for j in 0..4u64 {
            let task = OneTask::new(t, Cmd::from(100 * iters + j), 1, true);
            tasks.push(t.spawn(Box::new(task)));
        }
        t.one(iters, 1, true);
    }
    t.set_unreliable(false);
    t.join(&tasks);
    t.one(100u64, servers, true);
    t.end();
}

/// TestFigure8Unreliable3C: Figure 8 with disconnections on an unreliable network
/// with long reordering.
pub fn figure8_unreliable(t: &mut Tester) {
    let servers = t.servers();
    t.begin("Test (3C): Figure 8 (unreliable)");
    let cmd = t.rand_int() % 10_000;
    t.one(cmd, 1, true);
    let mut nup = servers;
    for iters in 0..1000 {
        if iters == 200 {
            t.set_long_reordering(true);
        }
        let mut leader = None;
        for i in 0..servers {
            let cmd = t.rand_int() % 10_000;
            if t.start(i, cmd).is_some() && t.connected(i) {
                leader = Some(i);
            }
        }
        figure8_pause(t);
        if let Some(leader) = leader {
            if t.rand_int() % 1000 < RAFT_ELECTION_TIMEOUT_MS / 2 {
                t.disconnect(leader);
                nup -= 1;
            }
        }
        if nup < 3 {
            let s = (t.rand_int() % servers as u64) as usize;
            if !t.connected(s) {
                t.connect(s);
                nup += 1;
            }
        }
    }
    for i in 0..servers {
        if !t.connected(i) {
            t.connect(i);
        }
    }
    let cmd = t.rand_int() % 10_000;
    t.one(cmd, servers, true);
    t.end();
}

/// TestReliableChurn3C.
pub fn reliable_churn(t: &mut Tester) {
    churn(t, false);
}

/// TestUnreliableChurn3C.
pub fn unreliable_churn(t: &mut Tester) {
    churn(t, true);
}

/// One churn client (the lab's `cfn` goroutine): Start on every live server, then poll
/// for the commit with growing pauses; remember values seen committed.
struct ChurnClient {
    me: u64,
    stop: Rc<Cell<bool>>,
    values: Rc<RefCell<Vec<Cmd>>>,
    pending: Option<(Cmd, u64, usize)>,
}

const CHURN_POLL_PAUSES_MS: [u64; 5] = [10, 20, 50, 100, 200];

impl ClientTask for ChurnClient {
    fn poll(&mut self, t: &mut Tester) -> Wake {
        loop {
            if let Some((x, index, step)) = self.pending.take() {
                if step == CHURN_POLL_PAUSES_MS.len() {
                    continue; // Don't wait forever: propose the next value.
                }
                let (count, cmd) = t.n_committed(index);
                if count > 0 {
                    if cmd.as_ref() == Some(&x) {
                        self.values.borrow_mut().push(x);
                    }
                    continue;
                }
                self.pending = Some((x, index, step + 1));
                return Wake::After(ms(CHURN_POLL_PAUSES_MS[step]));
            }
            if self.stop.get() {
                return Wake::Done;
            }
            let x = Cmd::from(t.rand_int());
            let mut accepted = None;
            for i in 0..t.servers() {
                if let Some((index, _)) = t.start(i, x.clone()) {
                    accepted = Some(index);
                }
            }
            match accepted {
                Some(index) => self.pending = Some((x, index, 0)),
                None => return Wake::After(ms(79 + self.me * 17)),
            }
        }
    }
}

/// The lab's `internalChurn`.
fn churn(t: &mut Tester, unreliable: bool) {
    let servers = t.servers();
    t.begin(if unreliable {
        "Test (3C): unreliable churn"
    } else {
        "Test (3C): churn"
    });
    let stop = Rc::new(Cell::new(false));
    let mut clients = Vec::new();
    for me in 0..3 {
        let values = Rc::new(RefCell::new(Vec::new()));
        let client = ChurnClient {
            me,
            stop: stop.clone(),
            values: values.clone(),
            pending: None,
        };
        clients.push((t.spawn(Box::new(client)), values));
    }
    for _ in 0..20 {
        if t.rng().chance_per_mille(200) {
            let i = (t.rand_int() % servers as u64) as usize;
            t.disconnect(i);
        }
        if t.rng().chance_per_mille(500) {
            let i = (t.rand_int() % servers as u64) as usize;
            if !t.alive(i) {
                t.start1(i);
            }
            t.connect(i);
        }
        if t.rng().chance_per_mille(200) {
            let i = (t.rand_int() % servers as u64) as usize;
            if t.alive(i) {
                t.crash1(i);
            }
        }
        // Often enough that peers can't settle, rarely enough that they can keep up.
        t.sleep(RAFT_ELECTION_TIMEOUT_MS * 7 / 10);
    }
    t.sleep(RAFT_ELECTION_TIMEOUT_MS);
    t.set_unreliable(false);
    for i in 0..servers {
        if !t.alive(i) {
            t.start1(i);
        }
        t.connect(i);
    }
    stop.set(true);
    let ids: Vec<TaskId> = clients.iter().map(|(id, _)| *id).collect();
    t.join(&ids);
    let values: Vec<Cmd> = clients
        .iter()
        .flat_map(|(_, v)| v.borrow().clone())
        .collect();
    t.sleep(RAFT_ELECTION_TIMEOUT_MS);
    let cmd = t.rand_int();
    let last_index = t.one(cmd, servers, true);
    let mut really = Vec::new();
    for index in 1..=last_index {
        match t.wait(index, servers, None) {
            Some(v) => really.push(v),
            None => t.fail("not an int"),
        }
    }
    for v in &values {
        if !really.contains(v) {
            t.fail(format!("didn't find a value ({v}) a client saw committed"));
        }
    }
    t.end();
}
