//! The KV suite's checks must be able to fail: with servers that answer Gets from
//! their own state (no ReadIndex, followers included), the linearizability check (and,
//! with per-client keys, the clients' own value checks) must catch stale reads.

use sim::kv::generic::{find, run_kv_test_with};
use sim::kv::KvCanary;

fn failures(name: &str, seeds: std::ops::Range<u64>) -> Vec<String> {
    let test = find(name).expect("registered");
    seeds
        .filter_map(|seed| {
            run_kv_test_with(test, seed, KvCanary::LocalReads)
                .result
                .err()
        })
        .collect()
}

#[test]
fn local_reads_fail_the_linearizability_check() {
    let failed = failures("persist_partition_unreliable_linearizable_4a", 0..4);
    assert!(
        failed.iter().any(|m| m.contains("not linearizable")),
        "no seed caught the stale reads: {failed:?}"
    );
}

#[test]
fn local_reads_fail_the_clients_value_checks() {
    let failed = failures("persist_partition_unreliable_4a", 0..4);
    assert!(
        failed.iter().any(|m| m.contains("get wrong value")),
        "no seed caught the stale reads: {failed:?}"
    );
}
