//! The time budget: an expensive history gives `Unknown`, not a verdict, unless some
//! partition is already known to be illegal.

use std::time::{Duration, Instant};

use linearizability::kv::{KvInput, KvModel, KvOperation, KvOutput};
use linearizability::{CheckResult, Checker, Operation};

/// `n` fully concurrent appends of distinct values to `key`, then a read of a value no
/// order produces: proving that takes all n! orders (every one ends in a new state).
fn expensive(key: &str, n: u64) -> Vec<KvOperation> {
    let mut history: Vec<KvOperation> = (0..n)
        .map(|c| {
            Operation::new(
                c,
                KvInput::append(key, format!("<{c}>")),
                KvOutput::Done,
                0,
                100,
            )
        })
        .collect();
    history.push(Operation::new(
        n,
        KvInput::get(key),
        KvOutput::value("impossible"),
        200,
        300,
    ));
    history
}

#[test]
fn expensive_history_with_tiny_budget_is_unknown() {
    let start = Instant::now();
    let result = Checker::new()
        .timeout(Duration::from_millis(50))
        .check(&KvModel::new(), &expensive("x", 24));
    assert_eq!(result, CheckResult::Unknown);
    // The budget is honoured (generously: the deadline is polled every 1024 steps and
    // the cache is freed after it).
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn the_same_shape_small_enough_is_proven_illegal() {
    let result = Checker::new().check(&KvModel::new(), &expensive("x", 6));
    assert!(result.is_illegal(), "{result:?}");
}

#[test]
fn an_illegal_partition_wins_over_an_unknown_one() {
    let mut history = expensive("a", 24);
    history.push(Operation::new(
        1,
        KvInput::put("b", "1"),
        KvOutput::Done,
        0,
        10,
    ));
    history.push(Operation::new(
        2,
        KvInput::get("b"),
        KvOutput::absent(),
        20,
        30,
    ));
    for threads in [1, 4] {
        let result = Checker::new()
            .threads(threads)
            .timeout(Duration::from_millis(200))
            .check(&KvModel::new(), &history);
        let CheckResult::Illegal(report) = result else {
            panic!("expected illegal with {threads} threads, got {result:?}");
        };
        let keys: Vec<&str> = report.partitions.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, vec!["\"b\""]);
    }
}

#[test]
fn a_tiny_cache_limit_keeps_the_answer_exact() {
    let history = expensive("x", 6);
    let result = Checker::new()
        .max_cache_bytes(0)
        .check(&KvModel::new(), &history);
    assert!(result.is_illegal());
    let mut ok = expensive("x", 6);
    ok.last_mut().unwrap().output = KvOutput::value("<5><4><3><2><1><0>");
    let result = Checker::new()
        .max_cache_bytes(0)
        .check(&KvModel::new(), &ok);
    assert_eq!(result, CheckResult::Ok);
}
