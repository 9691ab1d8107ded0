//! Lab 3B: log replication.

use super::part_3a::RAFT_ELECTION_TIMEOUT_MS;
use crate::tester::Tester;

/// TestBasicAgree3B: three agreements at indexes 1, 2, 3.
pub fn basic_agree(t: &mut Tester) {
    let servers = t.servers();
    t.begin("Test (3B): basic agreement");
    for index in 1..=3u64 {
        let (count, _) = t.n_committed(index);
        if count > 0 {
            t.fail("some have committed before Start()");
        }
        let xindex = t.one(index * 100, servers, false);
        if xindex != index {
            t.fail(format!("got index {xindex} but expected {index}"));
        }
    }
    t.end();
}

/// TestRPCBytes3B: each command is sent to each peer about once.
pub fn rpc_bytes(t: &mut Tester) {
    let servers = t.servers() as u64;
    t.begin("Test (3B): RPC byte count");
    t.one(99u64, servers as usize, false);
    let bytes0 = t.bytes_total();
    let mut sent = 0u64;
    for index in 2..12u64 {
        let cmd = t.randstring(5000);
        sent += cmd.len() as u64;
        let xindex = t.one(cmd, servers as usize, false);
        if xindex != index {
            t.fail(format!("got index {xindex} but expected {index}"));
        }
    }
    let got = t.bytes_total() - bytes0;
    let expected = servers * sent;
    if got > expected + 50_000 {
        t.fail(format!(
            "too many RPC bytes; got {got}, expected {expected}"
        ));
    }
    t.end();
}

/// TestFollowerFailure3B: progressive failure of followers.
pub fn follower_failure(t: &mut Tester) {
    let servers = t.servers();
    t.begin("Test (3B): test progressive failure of followers");
    t.one(101u64, servers, false);
    let leader1 = t.check_one_leader();
    t.disconnect((leader1 + 1) % servers);
    // The leader and the remaining follower agree despite the disconnected follower.
    t.one(102u64, servers - 1, false);
    t.sleep(RAFT_ELECTION_TIMEOUT_MS);
    t.one(103u64, servers - 1, false);
    let leader2 = t.check_one_leader();
    t.disconnect((leader2 + 1) % servers);
    t.disconnect((leader2 + 2) % servers);
    let Some((index, _)) = t.start(leader2, 104u64) else {
        t.fail("leader rejected Start()");
    };
    if index != 4 {
        t.fail(format!("expected index 4, got {index}"));
    }
    t.sleep(2 * RAFT_ELECTION_TIMEOUT_MS);
    let (count, _) = t.n_committed(index);
    if count > 0 {
        t.fail(format!("{count} committed but no majority"));
    }
    t.end();
}

/// TestLeaderFailure3B: failure of leaders.
pub fn leader_failure(t: &mut Tester) {
    let servers = t.servers();
    t.begin("Test (3B): test failure of leaders");
    t.one(101u64, servers, false);
    let leader1 = t.check_one_leader();
    t.disconnect(leader1);
    // The remaining followers elect a new leader.
    t.one(102u64, servers - 1, false);
    t.sleep(RAFT_ELECTION_TIMEOUT_MS);
    t.one(103u64, servers - 1, false);
    let leader2 = t.check_one_leader();
    t.disconnect(leader2);
    for i in 0..servers {
        t.start(i, 104u64);
    }
    t.sleep(2 * RAFT_ELECTION_TIMEOUT_MS);
    let (count, _) = t.n_committed(4);
    if count > 0 {
        t.fail(format!("{count} committed but no majority"));
    }
    t.end();
}

/// TestFailAgree3B: a lagging follower catches up after reconnecting.
pub fn fail_agree(t: &mut Tester) {
    let servers = t.servers();
    t.begin("Test (3B): agreement after follower reconnects");
    t.one(101u64, servers, false);
    let leader = t.check_one_leader();
    t.disconnect((leader + 1) % servers);
    t.one(102u64, servers - 1, false);
    t.one(103u64, servers - 1, false);
    t.sleep(RAFT_ELECTION_TIMEOUT_MS);
    t.one(104u64, servers - 1, false);
    t.one(105u64, servers - 1, false);
    t.connect((leader + 1) % servers);
    // The full set preserves previous agreements and agrees on new commands.
    t.one(106u64, servers, true);
    t.sleep(RAFT_ELECTION_TIMEOUT_MS);
    t.one(107u64, servers, true);
    t.end();
}

/// TestFailNoAgree3B: no agreement if too many followers disconnect.
pub fn fail_no_agree(t: &mut Tester) {
    let servers = t.servers();
    t.begin("Test (3B): no agreement if too many followers disconnect");
    t.one(10u64, servers, false);
    let leader = t.check_one_leader();
    for k in 1..=3 {
        t.disconnect((leader + k) % servers);
    }
    let Some((index, _)) = t.start(leader, 20u64) else {
        t.fail("leader rejected Start()");
    };
    if index != 2 {
        t.fail(format!("expected index 2, got {index}"));
    }
    t.sleep(2 * RAFT_ELECTION_TIMEOUT_MS);
    let (count, _) = t.n_committed(index);
    if count > 0 {
        t.fail(format!("{count} committed but no majority"));
    }
    for k in 1..=3 {
        t.connect((leader + k) % servers);
    }
    // The disconnected majority may have chosen a leader from among their own ranks,
    // forgetting index 2.
    let leader2 = t.check_one_leader();
    let Some((index2, _)) = t.start(leader2, 30u64) else {
        t.fail("leader2 rejected Start()");
    };
    if !(2..=3).contains(&index2) {
        t.fail(format!("unexpected index {index2}"));
    }
    t.one(1000u64, servers, true);
    t.end();
}

/// TestConcurrentStarts3B: five concurrent Start()s in one term all commit.
pub fn concurrent_starts(t: &mut Tester) {
    let servers = t.servers();
    t.begin("Test (3B): concurrent Start()s");
    let mut success = false;
    'tries: for attempt in 0..5 {
        if attempt > 0 {
            // Give the solution some time to settle.
            t.sleep(3000);
        }
        let leader = t.check_one_leader();
        let Some((_, term)) = t.start(leader, 1u64) else {
            continue; // The leader moved on really quickly.
        };
        // The goroutines run in a random order, all before the main goroutine goes on.
        let mut order: Vec<u64> = (0..5).collect();
        t.rng().shuffle(&mut order);
        let mut indexes = Vec::new();
        for i in order {
            if let Some((index, term1)) = t.start(leader, 100 + i) {
                if term1 == term {
                    indexes.push(index);
                }
            }
        }
        if (0..servers).any(|j| t.get_state(j).0 != term) {
            continue; // The term changed: can't expect low RPC counts.
        }
        let mut cmds = Vec::new();
        for index in indexes {
            match t.wait(index, servers, Some(term)) {
                None => continue 'tries, // Peers moved on to later terms.
                Some(cmd) => match cmd.as_int() {
                    Some(x) => cmds.push(x),
                    None => t.fail(format!("value {cmd} is not an int")),
                },
            }
        }
        for x in 100..105u64 {
            if !cmds.contains(&x) {
                t.fail(format!("cmd {x} missing in {cmds:?}"));
            }
        }
        success = true;
        break;
    }
    if !success {
        t.fail("term changed too often");
    }
    t.end();
}

/// TestRejoin3B: a partitioned leader's uncommitted entries are overwritten.
pub fn rejoin(t: &mut Tester) {
    let servers = t.servers();
    t.begin("Test (3B): rejoin of partitioned leader");
    t.one(101u64, servers, true);
    let leader1 = t.check_one_leader();
    t.disconnect(leader1);
    // The old leader tries to agree on some entries.
    t.start(leader1, 102u64);
    t.start(leader1, 103u64);
    t.start(leader1, 104u64);
    // The new leader commits, also for index 2.
    t.one(103u64, 2, true);
    let leader2 = t.check_one_leader();
    t.disconnect(leader2);
    t.connect(leader1);
    t.one(104u64, 2, true);
    t.connect(leader2);
    t.one(105u64, servers, true);
    t.end();
}

/// TestBackup3B: the leader backs up quickly over incorrect follower logs.
pub fn backup(t: &mut Tester) {
    let servers = t.servers();
    t.begin("Test (3B): leader backs up quickly over incorrect follower logs");
    let cmd = t.rand_int();
    t.one(cmd, servers, true);
    // The leader and one follower in a partition.
    let leader1 = t.check_one_leader();
    for k in 2..=4 {
        t.disconnect((leader1 + k) % servers);
    }
    // Lots of commands that won't commit.
    for _ in 0..50 {
        let cmd = t.rand_int();
        t.start(leader1, cmd);
    }
    t.sleep(RAFT_ELECTION_TIMEOUT_MS / 2);
    t.disconnect(leader1 % servers);
    t.disconnect((leader1 + 1) % servers);
    // The other partition recovers.
    for k in 2..=4 {
        t.connect((leader1 + k) % servers);
    }
    for _ in 0..50 {
        let cmd = t.rand_int();
        t.one(cmd, 3, true);
    }
    // Now another partitioned leader and one follower.
    let leader2 = t.check_one_leader();
    let mut other = (leader1 + 2) % servers;
    if leader2 == other {
        other = (leader2 + 1) % servers;
    }
    t.disconnect(other);
    for _ in 0..50 {
        let cmd = t.rand_int();
        t.start(leader2, cmd);
    }
    t.sleep(RAFT_ELECTION_TIMEOUT_MS / 2);
    // Bring the original leader back to life.
    for i in 0..servers {
        t.disconnect(i);
    }
    t.connect(leader1 % servers);
    t.connect((leader1 + 1) % servers);
    t.connect(other);
    for _ in 0..50 {
        let cmd = t.rand_int();
        t.one(cmd, 3, true);
    }
    for i in 0..servers {
        t.connect(i);
    }
    let cmd = t.rand_int();
    t.one(cmd, servers, true);
    t.end();
}

/// TestCount3B: RPC counts aren't too high.
pub fn count(t: &mut Tester) {
    let servers = t.servers();
    t.begin("Test (3B): RPC counts aren't too high");
    let rpcs = |t: &Tester| (0..servers).map(|j| t.rpc_count(j)).sum::<u64>();
    t.check_one_leader();
    let total1 = rpcs(t);
    if !(1..=30).contains(&total1) {
        t.fail(format!(
            "too many or few RPCs ({total1}) to elect initial leader"
        ));
    }
    let Some(total2) = count_agreement(t, &rpcs) else {
        t.fail("term changed too often");
    };
    t.sleep(RAFT_ELECTION_TIMEOUT_MS);
    let total3 = rpcs(t);
    if total3 - total2 > 3 * 20 {
        t.fail(format!(
            "too many RPCs ({}) for 1 second of idleness",
            total3 - total2
        ));
    }
    t.end();
}

/// The retried middle part of TestCount3B; returns `total2` on success.
fn count_agreement(t: &mut Tester, rpcs: &dyn Fn(&Tester) -> u64) -> Option<u64> {
    let servers = t.servers();
    let iters = 10u64;
    'tries: for attempt in 0..5 {
        if attempt > 0 {
            t.sleep(3000);
        }
        let leader = t.check_one_leader();
        let total1 = rpcs(t);
        let Some((starti, term)) = t.start(leader, 1u64) else {
            continue;
        };
        let mut cmds = Vec::new();
        for i in 1..iters + 2 {
            let x = t.rng().below(1 << 31);
            cmds.push(x);
            match t.start(leader, x) {
                Some((index1, term1)) if term1 == term => {
                    if starti + i != index1 {
                        t.fail("Start() failed");
                    }
                }
                _ => continue 'tries,
            }
        }
        for i in 1..iters + 1 {
            match t.wait(starti + i, servers, Some(term)) {
                None => continue 'tries,
                Some(cmd) if cmd.as_int() == Some(cmds[i as usize - 1]) => {}
                Some(cmd) => t.fail(format!(
                    "wrong value {cmd} committed for index {}; expected {cmds:?}",
                    starti + i
                )),
            }
        }
        let failed = (0..servers).any(|j| t.get_state(j).0 != term);
        let total2 = rpcs(t);
        if failed {
            continue;
        }
        if total2 - total1 > (iters + 1 + 3) * 3 {
            t.fail(format!(
                "too many RPCs ({}) for {iters} entries",
                total2 - total1
            ));
        }
        return Some(total2);
    }
    None
}
