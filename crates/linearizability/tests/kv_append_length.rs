//! Histories whose Appends report the new length (`KvOutput::Length`), as Redis APPEND
//! does: the length pins each append's place, so heavily overlapping appends stay cheap
//! to check, and a wrong length is caught.

use std::time::{Duration, Instant};

use linearizability::kv::{KvInput, KvModel, KvOperation, KvOutput};
use linearizability::{CheckResult, Checker, Operation};

fn op(client: u64, input: KvInput, output: KvOutput, call: u64, ret: u64) -> KvOperation {
    Operation::new(client, input, output, call, ret)
}

fn check(history: &[KvOperation]) -> CheckResult {
    Checker::new()
        .timeout(Duration::from_secs(30))
        .check(&KvModel::new(), history)
}

#[test]
fn concurrent_appends_ordered_by_their_lengths() {
    // B's length says it went first, although it was called later.
    let history = [
        op(1, KvInput::append("x", "a"), KvOutput::Length(2), 0, 100),
        op(2, KvInput::append("x", "b"), KvOutput::Length(1), 10, 90),
        op(3, KvInput::get("x"), KvOutput::value("ba"), 110, 120),
    ];
    assert_eq!(check(&history), CheckResult::Ok);
}

#[test]
fn a_read_contradicting_the_lengths_is_illegal() {
    let history = [
        op(1, KvInput::append("x", "a"), KvOutput::Length(2), 0, 100),
        op(2, KvInput::append("x", "b"), KvOutput::Length(1), 10, 90),
        op(3, KvInput::get("x"), KvOutput::value("ab"), 110, 120),
    ];
    assert!(check(&history).is_illegal());
}

#[test]
fn two_appends_reporting_the_same_length_are_illegal() {
    let history = [
        op(1, KvInput::append("x", "a"), KvOutput::Length(1), 0, 100),
        op(2, KvInput::append("x", "b"), KvOutput::Length(1), 10, 90),
    ];
    assert!(check(&history).is_illegal());
}

#[test]
fn a_length_that_ignores_an_earlier_append_is_illegal() {
    // The second append starts after the first returned, so it must see its byte.
    let history = [
        op(1, KvInput::append("x", "a"), KvOutput::Length(1), 0, 10),
        op(2, KvInput::append("x", "b"), KvOutput::Length(1), 20, 30),
    ];
    assert!(check(&history).is_illegal());
}

#[test]
fn done_and_length_mix() {
    // An older caller that only knows `Done`, next to one that reports lengths.
    let history = [
        op(1, KvInput::put("x", "p"), KvOutput::Done, 0, 5),
        op(1, KvInput::append("x", "a"), KvOutput::Done, 10, 100),
        op(2, KvInput::append("x", "bb"), KvOutput::Length(3), 10, 100),
        op(3, KvInput::get("x"), KvOutput::value("pbba"), 110, 120),
    ];
    assert_eq!(check(&history), CheckResult::Ok);
}

#[test]
fn a_timed_out_append_may_or_may_not_count() {
    let history = [
        Operation::timed_out(1, KvInput::append("x", "a"), KvOutput::Unknown, 0),
        op(2, KvInput::append("x", "b"), KvOutput::Length(2), 10, 20),
    ];
    assert_eq!(check(&history), CheckResult::Ok);
    let history = [
        Operation::timed_out(1, KvInput::append("x", "a"), KvOutput::Unknown, 0),
        op(2, KvInput::append("x", "b"), KvOutput::Length(3), 10, 20),
    ];
    assert!(check(&history).is_illegal());
}

/// Eight clients each appending 20 times, the calls of a round all overlapping: with
/// `Done` replies the orders explode; with lengths the search is linear.
fn overlapping_appends(corrupt: bool) -> Vec<KvOperation> {
    let clients = 8u64;
    let rounds = 20u64;
    let mut history = Vec::new();
    let mut length = 0u64;
    for round in 0..rounds {
        for client in 0..clients {
            let value = format!("<{client}:{round:02}>");
            length += value.len() as u64;
            history.push((client, value, length, round));
        }
    }
    let mut operations: Vec<KvOperation> = history
        .iter()
        .map(|(client, value, length, round)| {
            // Every call of a round overlaps every other client's call of that round
            // (and each client's own calls stay sequential).
            let call = round * 100;
            let ret = call + 99;
            op(
                *client,
                KvInput::append("k", value.as_bytes()),
                KvOutput::Length(*length),
                call,
                ret,
            )
        })
        .collect();
    if corrupt {
        // The last append claims a length no order can give it.
        let last = operations.len() - 1;
        operations[last].output = KvOutput::Length(1);
    }
    operations
}

#[test]
fn many_overlapping_appends_check_quickly() {
    let started = Instant::now();
    assert_eq!(check(&overlapping_appends(false)), CheckResult::Ok);
    assert!(check(&overlapping_appends(true)).is_illegal());
    // Not a timing test of the machine: a generous bound that only an exponential
    // search would break.
    assert!(started.elapsed() < Duration::from_secs(20));
}
