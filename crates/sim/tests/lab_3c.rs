//! MIT 6.824 Lab 3C (persistence), on the deterministic simulator.
//!
//! Each test runs over `RAFTKV_SEEDS` seeds (default 20), or exactly `RAFTKV_SEED`;
//! a failure prints the seed and the command that replays it.

use sim::lab::runner::run_lab_test;

#[test]
fn persist1_3c() {
    run_lab_test("persist1_3c");
}

#[test]
fn persist2_3c() {
    run_lab_test("persist2_3c");
}

#[test]
fn persist3_3c() {
    run_lab_test("persist3_3c");
}

#[test]
fn figure8_3c() {
    run_lab_test("figure8_3c");
}

#[test]
fn unreliable_agree_3c() {
    run_lab_test("unreliable_agree_3c");
}

#[test]
fn figure8_unreliable_3c() {
    run_lab_test("figure8_unreliable_3c");
}

#[test]
fn reliable_churn_3c() {
    run_lab_test("reliable_churn_3c");
}

#[test]
fn unreliable_churn_3c() {
    run_lab_test("unreliable_churn_3c");
}
