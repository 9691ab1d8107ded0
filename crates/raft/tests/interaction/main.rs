//! Interaction tests of the consensus core, in the style of etcd-io/raft's datadriven
//! tests: scripts in `crates/raft/testdata/*.txt` drive a few nodes step by step and
//! hold the expected output of every command.
//!
//! Regenerate the expectations after an intended change with
//! `RAFTKV_REWRITE=1 cargo test -p raft --test interaction`, then review the diff of
//! `testdata/` like code. Core bugs found this way are kept as regression tests in
//! `regressions.rs`.
//!
//! Commands (ids are node ids; `IDS` is `1 2` or `1,2`):
//!
//! | command | effect |
//! |---|---|
//! | `add-nodes N [election=10] [heartbeat=2] [pre-vote=true] [check-quorum=true] [empty-entry=true] [max-msg-bytes=] [max-inflight=] [max-inflight-bytes=] [max-uncommitted-bytes=] [max-apply-bytes=] [snapshot-chunk-bytes=] [seed=0] [canary=off\|commit-previous-term]` | creates nodes 1..=N |
//! | `campaign ID` | ticks ID until it starts a (pre-)election |
//! | `tick ID[,ID...] [N]`, `tick-heartbeat IDS`, `tick-election IDS` | advances logical time (N ticks, default 1) |
//! | `propose ID DATA [count=N] [size=BYTES]` | proposes DATA (or DATA1..DATAN), padded with `.` |
//! | `process-ready IDS [ack=false]` | takes, prints and handles a Ready; acknowledges its write unless `ack=false` |
//! | `ack-persist IDS` | makes the unacknowledged writes durable and acknowledges them |
//! | `deliver-msgs [from=IDS] [to=IDS] [drop=IDS]` | steps queued messages into their recipients (drops those to `drop`) |
//! | `stabilize [IDS]` | process-ready + deliver-msgs until nothing moves |
//! | `partition IDS IDS...`, `isolate ID`, `cut A B`, `cut A->B`, `heal` | cuts links (messages over them are dropped on delivery) |
//! | `crash IDS`, `restart IDS` | loses the state machine and unacknowledged writes; recovers from storage |
//! | `set-storage ID [term=] [vote=] [commit=] [snap=T/I] [log=1,1,2]` | replaces a crashed node's durable state |
//! | `status IDS`, `log ID`, `storage ID`, `raft-state` | prints state |
//! | `snapshot ID INDEX\|applied DATA` | the application compacts the log |
//! | `read-index ID REQ`, `transfer-leadership FROM TO`, `report-unreachable FROM TO` | the API calls |
//! | `inject-msg [into=ID] MESSAGE` | steps a hand-made message (printed format) into a node |

mod commands;
mod driver;
mod regressions;
mod render;
mod script;

use driver::Driver;

fn run(name: &str) {
    let path = script::testdata_dir().join(name);
    script::run_file(&path, Driver::default());
}

macro_rules! scripts {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run(concat!(stringify!($name), ".txt"));
            }
        )*

        /// Every script in testdata/ has a test above (a new file is not silently skipped).
        #[test]
        fn every_script_is_run() {
            let known = [$(concat!(stringify!($name), ".txt")),*];
            let mut missing = Vec::new();
            for entry in std::fs::read_dir(script::testdata_dir()).unwrap() {
                let name = entry.unwrap().file_name().into_string().unwrap();
                if name.ends_with(".txt") && !known.contains(&name.as_str()) {
                    missing.push(name);
                }
            }
            assert!(missing.is_empty(), "add these scripts to main.rs: {missing:?}");
        }
    };
}

scripts! {
    check_quorum_not_enough,
    check_quorum_step_down,
    crash_restart,
    disruptive_rejoin_without_prevote,
    election,
    invalid_messages,
    leadership_transfer,
    log_conflict_fast_backup,
    persistence_ordering,
    prevote_partition_rejoin,
    proposal_limits,
    read_index,
    snapshot_install,
}
