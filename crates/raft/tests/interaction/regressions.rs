//! Regression tests for core bugs the interaction tests found, reproduced with the script
//! driver. Each asserts the correct outcome rather than exact messages.

use crate::driver::Driver;
use crate::script::Executor;

/// A driver that records the script it runs, to print it when an assertion fails.
struct Traced {
    driver: Driver,
    trace: String,
}

impl Traced {
    fn new() -> Traced {
        Traced {
            driver: Driver::default(),
            trace: String::new(),
        }
    }

    fn run(&mut self, command: &str) -> String {
        let output = self
            .driver
            .execute(command)
            .unwrap_or_else(|err| panic!("`{command}`: {err}"));
        self.trace
            .push_str(&format!("{command}\n----\n{}\n\n", output.trim_end()));
        output
    }

    fn check(&self, ok: bool, what: &str) {
        assert!(ok, "{what}\n\nscenario:\n{}", self.trace);
    }
}

/// After winning a pre-vote round, `on_election_won` calls `campaign(true)`, the entry
/// point of leadership transfer, so every ordinary RequestVote carries `transfer: true`
/// and voters skip the "heard from a leader recently" check (thesis §4.2.3) that
/// check-quorum relies on. Here node 3 hears from the live leader 1 and then still
/// grants node 2's vote, adopting term 2.
#[test]
fn vote_after_pre_vote_is_not_a_transfer() {
    let mut t = Traced::new();
    t.run("add-nodes 3 pre-vote=true check-quorum=true");
    t.run("campaign 1");
    let election = t.run("stabilize");
    t.check(
        !election.contains(" transfer"),
        "an ordinary election's RequestVote carries the transfer flag",
    );
    // Node 1 is cut off long enough for 2 and 3 to leave their leases, and node 2
    // wins a pre-vote round with node 3's grant.
    t.run("isolate 1");
    t.run("tick-election 3");
    t.run("campaign 2");
    t.run("process-ready 2");
    t.run("deliver-msgs to=3");
    t.run("process-ready 3");
    t.run("deliver-msgs to=2");
    t.run("process-ready 2");
    // The partition heals and node 3 hears from leader 1 again before node 2's
    // RequestVote (held until node 2's vote was durable) arrives.
    t.run("heal");
    t.run("tick-heartbeat 1");
    t.run("process-ready 1");
    t.run("deliver-msgs from=1 to=3");
    t.run("process-ready 2");
    t.run("deliver-msgs from=2 to=3");
    let state = t.run("status 3");
    t.check(
        state.starts_with("3: Follower t1 vote=1 leader=1"),
        "node 3, within its leader lease, must ignore node 2's RequestVote",
    );
}

/// An AppendEntriesResponse whose conflict hint lies beyond the leader's log (here
/// `hint=0/50` in a log of 1 entry) makes `next_index_after_conflict` return 50
/// unchecked; `become_probe(50)` sets next=50 > last+1, `maybe_send_append` finds no term
/// at 49 and calls `start_snapshot` although the leader has no snapshot: it sends
/// `InstallSnapshot snap=0/0`, which every follower drops as malformed, and resends it
/// each heartbeat. Replication to that follower is wedged until leadership changes.
/// Out-of-range indexes should be ignored (or clamped to last_index + 1).
#[test]
fn out_of_range_conflict_hint_is_ignored() {
    let mut t = Traced::new();
    t.run("add-nodes 3");
    t.run("campaign 1");
    t.run("stabilize");
    t.run("inject-msg 2->1 AppendEntriesResponse t1 reject rejected=1 hint=0/50");
    let mut traffic = t.run("stabilize");
    t.run("propose 1 b");
    for _ in 0..3 {
        traffic += &t.run("stabilize");
        t.run("tick-heartbeat 1");
    }
    traffic += &t.run("stabilize");
    t.check(
        !traffic.contains("snap=0/0"),
        "the leader sent an empty snapshot (it has none)",
    );
    let status = t.run("status 2");
    t.check(
        status.contains("commit=2") && status.contains("last=2"),
        "node 2 never received 1/2",
    );
}
