//! MIT 6.824 Lab 4B (the KV service with snapshots), on the deterministic simulator.
//!
//! Each test runs over `RAFTKV_SEEDS` seeds (default `sim::kv::generic::DEFAULT_KV_SEEDS`),
//! or exactly `RAFTKV_SEED`; a failure prints the seed and the command that replays it.
//! Every history is checked for linearizability.

use sim::kv::generic::run_kv_test_over_seeds;

#[test]
fn snapshot_rpc_4b() {
    run_kv_test_over_seeds("snapshot_rpc_4b");
}

#[test]
fn snapshot_size_4b() {
    run_kv_test_over_seeds("snapshot_size_4b");
}

#[test]
fn speed_4b() {
    run_kv_test_over_seeds("speed_4b");
}

#[test]
fn snapshot_recover_4b() {
    run_kv_test_over_seeds("snapshot_recover_4b");
}

#[test]
fn snapshot_recover_many_clients_4b() {
    run_kv_test_over_seeds("snapshot_recover_many_clients_4b");
}

#[test]
fn snapshot_unreliable_4b() {
    run_kv_test_over_seeds("snapshot_unreliable_4b");
}

#[test]
fn snapshot_unreliable_recover_4b() {
    run_kv_test_over_seeds("snapshot_unreliable_recover_4b");
}

#[test]
fn snapshot_unreliable_recover_concurrent_partition_4b() {
    run_kv_test_over_seeds("snapshot_unreliable_recover_concurrent_partition_4b");
}

#[test]
fn snapshot_unreliable_recover_concurrent_partition_linearizable_4b() {
    run_kv_test_over_seeds("snapshot_unreliable_recover_concurrent_partition_linearizable_4b");
}
