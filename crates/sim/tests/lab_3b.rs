//! MIT 6.824 Lab 3B (log replication), on the deterministic simulator.
//!
//! Each test runs over `RAFTKV_SEEDS` seeds (default 20), or exactly `RAFTKV_SEED`;
//! a failure prints the seed and the command that replays it.

use sim::lab::runner::run_lab_test;

#[test]
fn basic_agree_3b() {
    run_lab_test("basic_agree_3b");
}

#[test]
fn rpc_bytes_3b() {
    run_lab_test("rpc_bytes_3b");
}

#[test]
fn follower_failure_3b() {
    run_lab_test("follower_failure_3b");
}

#[test]
fn leader_failure_3b() {
    run_lab_test("leader_failure_3b");
}

#[test]
fn fail_agree_3b() {
    run_lab_test("fail_agree_3b");
}

#[test]
fn fail_no_agree_3b() {
    run_lab_test("fail_no_agree_3b");
}

#[test]
fn concurrent_starts_3b() {
    run_lab_test("concurrent_starts_3b");
}

#[test]
fn rejoin_3b() {
    run_lab_test("rejoin_3b");
}

#[test]
fn backup_3b() {
    run_lab_test("backup_3b");
}

#[test]
fn count_3b() {
    run_lab_test("count_3b");
}
