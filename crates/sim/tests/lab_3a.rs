//! MIT 6.824 Lab 3A (leader election), on the deterministic simulator.
//!
//! Each test runs over `RAFTKV_SEEDS` seeds (default 20), or exactly `RAFTKV_SEED`;
//! a failure prints the seed and the command that replays it.

use sim::lab::runner::run_lab_test;

#[test]
fn initial_election_3a() {
    run_lab_test("initial_election_3a");
}

#[test]
fn re_election_3a() {
    run_lab_test("re_election_3a");
}

#[test]
fn many_elections_3a() {
    run_lab_test("many_elections_3a");
}
