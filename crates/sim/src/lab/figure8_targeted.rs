//! A deterministic Figure 8 schedule (Raft paper §5.4.2), used to prove the checkers
//! catch the `CommitPreviousTermByCounting` canary.
//!
//! 1. A leads term T; it is cut off with one follower B and appends `e2` (T, i) that
//!    only B receives.
//! 2. The other three elect L3 (term T+1); L3 is cut off right away and appends `e3`
//!    (T+1, i) that nobody else receives.
//! 3. A, B and the two remaining servers reunite: A or B leads (their logs are longer)
//!    and replicates `e2`. Correct Raft cannot commit it (no entry of the new term);
//!    the canary commits it by counting replicas, and the servers apply it.
//! 4. A and B leave; L3 returns and wins (its last term T+1 beats T) and overwrites
//!    index i. With the canary this elects a leader lacking a committed entry, which
//!    the leader-completeness checker must report.
//! 5. Everyone reconnects and agrees on a final command.

use crate::tester::Tester;

/// Runs the schedule on a 5-server tester.
pub fn figure8_targeted(t: &mut Tester) {
    let servers = t.servers();
    assert_eq!(servers, 5, "the schedule needs five servers");
    t.begin("figure 8, targeted schedule");
    let base = t.one(1u64, servers, false);
    let a = t.check_one_leader();
    let b = (a + 1) % servers;
    for k in 2..5 {
        t.disconnect((a + k) % servers);
    }
    if t.start(a, 2u64).is_none() {
        t.fail("leader rejected Start()");
    }
    t.sleep(200);
    // Step 2: the other three elect a leader, which is isolated at once.
    t.disconnect(a);
    t.disconnect(b);
    let others: Vec<usize> = (2..5).map(|k| (a + k) % servers).collect();
    for &i in &others {
        t.connect(i);
    }
    let l3 = t.check_one_leader();
    t.disconnect(l3);
    if t.start(l3, 3u64).is_none() {
        t.fail("isolated leader rejected Start()");
    }
    // Step 3: A and B rejoin the two remaining servers.
    t.connect(a);
    t.connect(b);
    let leader = t.check_one_leader();
    if leader != a && leader != b {
        t.fail(format!("server {leader} led without the longest log"));
    }
    // Give a (buggy) commit of e2 time to happen and be applied.
    for _ in 0..20 {
        if t.n_committed(base + 1).0 > 0 {
            break;
        }
        t.sleep(100);
    }
    // Step 4: A and B leave, L3 returns.
    t.disconnect(a);
    t.disconnect(b);
    t.connect(l3);
    t.check_one_leader();
    // Step 5: heal and agree.
    t.connect(a);
    t.connect(b);
    t.one(4u64, servers, true);
    t.end();
}
