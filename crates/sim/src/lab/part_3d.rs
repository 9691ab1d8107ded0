//! Lab 3D: log compaction.

use crate::applier::SNAPSHOT_INTERVAL;
use crate::tester::Tester;

/// The lab's `MAXLOGSIZE`: `RaftStateSize()` must stay below it.
pub const MAX_LOG_SIZE: usize = 2000;

/// The lab's `snapcommon(name, disconnect, reliable, crash)`.
fn snapcommon(t: &mut Tester, name: &str, disconnect: bool, crash: bool) {
    let servers = t.servers();
    t.begin(name);
    let cmd = t.rand_int();
    t.one(cmd, servers, true);
    let mut leader1 = t.check_one_leader();
    for i in 0..30 {
        let (mut victim, mut sender) = ((leader1 + 1) % servers, leader1);
        if i % 3 == 1 {
            sender = (leader1 + 1) % servers;
            victim = leader1;
        }
        if disconnect {
            t.disconnect(victim);
            let cmd = t.rand_int();
            t.one(cmd, servers - 1, true);
        }
        if crash {
            t.crash1(victim);
            let cmd = t.rand_int();
            t.one(cmd, servers - 1, true);
        }
        // Perhaps send enough to get a snapshot.
        let nn = SNAPSHOT_INTERVAL / 2 + t.rand_int() % SNAPSHOT_INTERVAL;
        for _ in 0..nn {
            let cmd = t.rand_int();
            t.start(sender, cmd);
        }
        // Let applier threads catch up with the Start()s.
        let cmd = t.rand_int();
        if !disconnect && !crash {
            // All followers caught up: SnapshotBasic must not need InstallSnapshot.
            t.one(cmd, servers, true);
        } else {
            t.one(cmd, servers - 1, true);
        }
        if t.log_size() >= MAX_LOG_SIZE {
            t.fail(format!("Log size too large ({} bytes)", t.log_size()));
        }
        if disconnect {
            // Reconnect a follower, who may be behind and need a snapshot to catch up.
            t.connect(victim);
            let cmd = t.rand_int();
            t.one(cmd, servers, true);
            leader1 = t.check_one_leader();
        }
        if crash {
            t.start1(victim);
            t.connect(victim);
            let cmd = t.rand_int();
            t.one(cmd, servers, true);
            leader1 = t.check_one_leader();
        }
    }
    t.end();
}

/// TestSnapshotBasic3D.
pub fn snapshot_basic(t: &mut Tester) {
    snapcommon(t, "Test (3D): snapshots basic", false, false);
}

/// TestSnapshotInstall3D.
pub fn snapshot_install(t: &mut Tester) {
    snapcommon(t, "Test (3D): install snapshots (disconnect)", true, false);
}

/// TestSnapshotInstallUnreliable3D.
pub fn snapshot_install_unreliable(t: &mut Tester) {
    snapcommon(
        t,
        "Test (3D): install snapshots (disconnect+unreliable)",
        true,
        false,
    );
}

/// TestSnapshotInstallCrash3D.
pub fn snapshot_install_crash(t: &mut Tester) {
    snapcommon(t, "Test (3D): install snapshots (crash)", false, true);
}

/// TestSnapshotInstallUnCrash3D.
pub fn snapshot_install_un_crash(t: &mut Tester) {
    snapcommon(
        t,
        "Test (3D): install snapshots (unreliable+crash)",
        false,
        true,
    );
}

/// TestSnapshotAllCrash3D: crash and restart all servers; the index never decreases.
pub fn snapshot_all_crash(t: &mut Tester) {
    let servers = t.servers();
    t.begin("Test (3D): crash and restart all servers");
    let cmd = t.rand_int();
    t.one(cmd, servers, true);
    for _ in 0..5 {
        // Perhaps enough to get a snapshot.
        let nn = SNAPSHOT_INTERVAL / 2 + t.rand_int() % SNAPSHOT_INTERVAL;
        for _ in 0..nn {
            let cmd = t.rand_int();
            t.one(cmd, servers, true);
        }
        let cmd = t.rand_int();
        let index1 = t.one(cmd, servers, true);
        crash_and_revive_all(t);
        let cmd = t.rand_int();
        let index2 = t.one(cmd, servers, true);
        if index2 < index1 + 1 {
            t.fail(format!("index decreased from {index1} to {index2}"));
        }
    }
    t.end();
}

fn crash_and_revive_all(t: &mut Tester) {
    for i in 0..t.servers() {
        t.crash1(i);
    }
    for i in 0..t.servers() {
        t.start1(i);
        t.connect(i);
    }
}

/// TestSnapshotInit3D: Raft keeps its snapshot across restarts so later saves keep it.
pub fn snapshot_init(t: &mut Tester) {
    let servers = t.servers();
    t.begin("Test (3D): snapshot initialization after crash");
    let cmd = t.rand_int();
    t.one(cmd, servers, true);
    // Enough ops to make a snapshot.
    for _ in 0..SNAPSHOT_INTERVAL + 1 {
        let cmd = t.rand_int();
        t.one(cmd, servers, true);
    }
    crash_and_revive_all(t);
    // A single op, to get something written back to persistent storage.
    let cmd = t.rand_int();
    t.one(cmd, servers, true);
    crash_and_revive_all(t);
    // Another op to trigger the potential bug.
    let cmd = t.rand_int();
    t.one(cmd, servers, true);
    t.end();
}
