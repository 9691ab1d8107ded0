//! All 28 lab tests again with labrpc-style reordering on reliable links (each message
//! may overtake earlier ones on its link by its latency jitter), which exercises the
//! core's handling of stale, reordered AppendEntries and their rejections.

use sim::lab::runner::{describe_failure, run_many, seeds_from_env};
use sim::lab::TESTS;
use sim::SimOptions;

#[test]
fn lab_tests_with_reordered_links() {
    let jobs: Vec<_> = TESTS
        .iter()
        .flat_map(|test| {
            seeds_from_env().into_iter().map(move |seed| {
                let mut opts = SimOptions::new(seed);
                opts.fifo_links = false;
                (test, opts)
            })
        })
        .collect();
    let failures: Vec<String> = run_many(&jobs)
        .iter()
        .filter(|o| !o.passed())
        .map(|o| format!("{} (add --reorder to the sim command)", describe_failure(o)))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
