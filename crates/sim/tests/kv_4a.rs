//! MIT 6.824 Lab 4A (the replicated KV service without snapshots), on the deterministic simulator.
//!
//! Each test runs over `RAFTKV_SEEDS` seeds (default `sim::kv::generic::DEFAULT_KV_SEEDS`),
//! or exactly `RAFTKV_SEED`; a failure prints the seed and the command that replays it.
//! Every history is checked for linearizability.

use sim::kv::generic::run_kv_test_over_seeds;

#[test]
fn basic_4a() {
    run_kv_test_over_seeds("basic_4a");
}

#[test]
fn speed_4a() {
    run_kv_test_over_seeds("speed_4a");
}

#[test]
fn concurrent_4a() {
    run_kv_test_over_seeds("concurrent_4a");
}

#[test]
fn unreliable_4a() {
    run_kv_test_over_seeds("unreliable_4a");
}

#[test]
fn unreliable_one_key_4a() {
    run_kv_test_over_seeds("unreliable_one_key_4a");
}

#[test]
fn one_partition_4a() {
    run_kv_test_over_seeds("one_partition_4a");
}

#[test]
fn many_partitions_one_client_4a() {
    run_kv_test_over_seeds("many_partitions_one_client_4a");
}

#[test]
fn many_partitions_many_clients_4a() {
    run_kv_test_over_seeds("many_partitions_many_clients_4a");
}

#[test]
fn persist_one_client_4a() {
    run_kv_test_over_seeds("persist_one_client_4a");
}

#[test]
fn persist_concurrent_4a() {
    run_kv_test_over_seeds("persist_concurrent_4a");
}

#[test]
fn persist_concurrent_unreliable_4a() {
    run_kv_test_over_seeds("persist_concurrent_unreliable_4a");
}

#[test]
fn persist_partition_4a() {
    run_kv_test_over_seeds("persist_partition_4a");
}

#[test]
fn persist_partition_unreliable_4a() {
    run_kv_test_over_seeds("persist_partition_unreliable_4a");
}

#[test]
fn persist_partition_unreliable_linearizable_4a() {
    run_kv_test_over_seeds("persist_partition_unreliable_linearizable_4a");
}
