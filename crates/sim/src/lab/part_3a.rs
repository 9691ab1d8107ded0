//! Lab 3A: leader election (`TestInitialElection3A`, `TestReElection3A`,
//! `TestManyElections3A`).

use crate::tester::Tester;

/// The lab's `RaftElectionTimeout`, in milliseconds.
pub const RAFT_ELECTION_TIMEOUT_MS: u64 = 1000;

/// TestInitialElection3A: one leader, agreed term, and it stays put without failures.
pub fn initial_election(t: &mut Tester) {
    t.begin("Test (3A): initial election");
    t.check_one_leader();
    // Let followers learn of the election before comparing terms.
    t.sleep(50);
    let term1 = t.check_terms();
    if term1 < 1 {
        t.fail(format!("term is {term1}, but should be at least 1"));
    }
    t.sleep(2 * RAFT_ELECTION_TIMEOUT_MS);
    let term2 = t.check_terms();
    if term1 != term2 {
        // The lab only warns here.
        eprintln!("warning: term changed even though there were no failures");
    }
    t.check_one_leader();
    t.end();
}

/// TestReElection3A: a new leader after leader loss; no leader without a quorum.
pub fn re_election(t: &mut Tester) {
    let servers = t.servers();
    t.begin("Test (3A): election after network failure");
    let leader1 = t.check_one_leader();
    t.disconnect(leader1);
    t.check_one_leader();
    // The old leader rejoining must not disturb the new one.
    t.connect(leader1);
    let leader2 = t.check_one_leader();
    // No quorum: no leader.
    t.disconnect(leader2);
    t.disconnect((leader2 + 1) % servers);
    t.sleep(2 * RAFT_ELECTION_TIMEOUT_MS);
    t.check_no_leader();
    // A quorum arises: a leader.
    t.connect((leader2 + 1) % servers);
    t.check_one_leader();
    t.connect(leader2);
    t.check_one_leader();
    t.end();
}

/// TestManyElections3A: 9 rounds of disconnecting 3 random nodes of 7.
pub fn many_elections(t: &mut Tester) {
    let servers = t.servers() as u64;
    t.begin("Test (3A): multiple elections");
    t.check_one_leader();
    for _ in 1..10 {
        let i1 = (t.rand_int() % servers) as usize;
        let i2 = (t.rand_int() % servers) as usize;
        let i3 = (t.rand_int() % servers) as usize;
        t.disconnect(i1);
        t.disconnect(i2);
        t.disconnect(i3);
        // Either the current leader is still alive, or the remaining four elect one.
        t.check_one_leader();
        t.connect(i1);
        t.connect(i2);
        t.connect(i3);
    }
    t.check_one_leader();
    t.end();
}
