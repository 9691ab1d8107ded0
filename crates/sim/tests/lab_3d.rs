//! MIT 6.824 Lab 3D (log compaction), on the deterministic simulator.
//!
//! Each test runs over `RAFTKV_SEEDS` seeds (default 20), or exactly `RAFTKV_SEED`;
//! a failure prints the seed and the command that replays it.

use sim::lab::runner::run_lab_test;

#[test]
fn snapshot_basic_3d() {
    run_lab_test("snapshot_basic_3d");
}

#[test]
fn snapshot_install_3d() {
    run_lab_test("snapshot_install_3d");
}

#[test]
fn snapshot_install_unreliable_3d() {
    run_lab_test("snapshot_install_unreliable_3d");
}

#[test]
fn snapshot_install_crash_3d() {
    run_lab_test("snapshot_install_crash_3d");
}

#[test]
fn snapshot_install_un_crash_3d() {
    run_lab_test("snapshot_install_un_crash_3d");
}

#[test]
fn snapshot_all_crash_3d() {
    run_lab_test("snapshot_all_crash_3d");
}

#[test]
fn snapshot_init_3d() {
    run_lab_test("snapshot_init_3d");
}
