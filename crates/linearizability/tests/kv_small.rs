//! Small hand-written KV histories with known verdicts, one concern per test.

use std::time::Duration;

use linearizability::kv::{KvInput, KvModel, KvOperation, KvOutput};
use linearizability::{CheckResult, Checker, Operation};

fn op(client: u64, input: KvInput, output: KvOutput, call: u64, ret: u64) -> KvOperation {
    Operation::new(client, input, output, call, ret)
}

fn check(history: &[KvOperation]) -> CheckResult {
    Checker::new()
        .timeout(Duration::from_secs(10))
        .check(&KvModel::new(), history)
}

fn assert_ok(history: &[KvOperation]) {
    let result = check(history);
    assert_eq!(result, CheckResult::Ok, "expected linearizable");
}

fn assert_illegal(history: &[KvOperation]) {
    let result = check(history);
    assert!(result.is_illegal(), "expected illegal, got {result:?}");
}

fn done() -> KvOutput {
    KvOutput::Done
}

fn val(v: &str) -> KvOutput {
    KvOutput::value(v)
}

#[test]
fn empty_history_is_linearizable() {
    assert_ok(&[]);
}

#[test]
fn sequential_put_then_get() {
    assert_ok(&[
        op(1, KvInput::put("x", "1"), done(), 0, 10),
        op(2, KvInput::get("x"), val("1"), 20, 30),
    ]);
}

#[test]
fn get_of_never_written_key_is_absent() {
    assert_ok(&[op(1, KvInput::get("x"), KvOutput::absent(), 0, 10)]);
    assert_illegal(&[op(1, KvInput::get("x"), val(""), 0, 10)]);
}

#[test]
fn stale_read_after_put_returned_is_illegal() {
    assert_illegal(&[
        op(1, KvInput::put("x", "1"), done(), 0, 10),
        op(1, KvInput::put("x", "2"), done(), 20, 30),
        op(2, KvInput::get("x"), val("1"), 40, 50),
    ]);
}

#[test]
fn concurrent_get_may_see_old_or_new_value() {
    let put = op(1, KvInput::put("x", "2"), done(), 10, 30);
    let first = op(1, KvInput::put("x", "1"), done(), 0, 5);
    for seen in ["1", "2"] {
        let get = op(2, KvInput::get("x"), val(seen), 15, 25);
        assert_ok(&[first.clone(), put.clone(), get]);
    }
}

#[test]
fn concurrent_reads_must_agree_on_one_order() {
    // The classic new-old inversion: a read that finished before another began saw the
    // new value, the later read the old one, while the write was still running.
    assert_illegal(&[
        op(1, KvInput::put("x", "0"), done(), 0, 5),
        op(1, KvInput::put("x", "1"), done(), 10, 100),
        op(2, KvInput::get("x"), val("1"), 20, 30),
        op(3, KvInput::get("x"), val("0"), 40, 50),
    ]);
    assert_ok(&[
        op(1, KvInput::put("x", "0"), done(), 0, 5),
        op(1, KvInput::put("x", "1"), done(), 10, 100),
        op(2, KvInput::get("x"), val("0"), 20, 30),
        op(3, KvInput::get("x"), val("1"), 40, 50),
    ]);
}

#[test]
fn operations_touching_at_one_instant_are_concurrent() {
    // The get is called exactly when the put returns: calls order before returns at equal
    // times, so the get may be linearized before the put.
    assert_ok(&[
        op(1, KvInput::put("x", "1"), done(), 0, 10),
        op(2, KvInput::get("x"), KvOutput::absent(), 10, 20),
    ]);
    assert_illegal(&[
        op(1, KvInput::put("x", "1"), done(), 0, 10),
        op(2, KvInput::get("x"), KvOutput::absent(), 11, 20),
    ]);
}

#[test]
fn appends_concatenate_in_some_real_time_order() {
    let a = op(1, KvInput::append("x", "a"), done(), 0, 20);
    let b = op(2, KvInput::append("x", "b"), done(), 5, 25);
    for seen in ["ab", "ba"] {
        assert_ok(&[
            a.clone(),
            b.clone(),
            op(3, KvInput::get("x"), val(seen), 30, 40),
        ]);
    }
    // Sequential appends have one order only.
    let b_later = op(2, KvInput::append("x", "b"), done(), 21, 25);
    assert_illegal(&[a, b_later, op(3, KvInput::get("x"), val("ba"), 30, 40)]);
}

#[test]
fn lost_append_is_illegal() {
    assert_illegal(&[
        op(1, KvInput::append("x", "a"), done(), 0, 10),
        op(2, KvInput::append("x", "b"), done(), 5, 15),
        op(3, KvInput::get("x"), val("a"), 20, 30),
    ]);
}

#[test]
fn lost_put_is_illegal() {
    assert_illegal(&[
        op(1, KvInput::put("x", "1"), done(), 0, 10),
        op(2, KvInput::put("x", "2"), done(), 20, 30),
        op(3, KvInput::get("x"), val("1"), 40, 50),
        op(3, KvInput::get("x"), val("1"), 60, 70),
    ]);
}

#[test]
fn cas_succeeding_twice_from_the_same_value_is_illegal() {
    let init = op(1, KvInput::put("x", "0"), done(), 0, 5);
    assert_illegal(&[
        init.clone(),
        op(2, KvInput::cas("x", "0", "1"), KvOutput::Cas(true), 10, 30),
        op(3, KvInput::cas("x", "0", "2"), KvOutput::Cas(true), 15, 35),
    ]);
    assert_ok(&[
        init,
        op(2, KvInput::cas("x", "0", "1"), KvOutput::Cas(true), 10, 30),
        op(3, KvInput::cas("x", "0", "2"), KvOutput::Cas(false), 15, 35),
        op(3, KvInput::get("x"), val("1"), 40, 50),
    ]);
}

#[test]
fn cas_on_absent_key() {
    assert_ok(&[
        op(1, KvInput::cas_absent("x", "1"), KvOutput::Cas(true), 0, 10),
        op(
            1,
            KvInput::cas_absent("x", "2"),
            KvOutput::Cas(false),
            20,
            30,
        ),
        op(2, KvInput::get("x"), val("1"), 40, 50),
    ]);
    assert_illegal(&[
        op(1, KvInput::put("x", ""), done(), 0, 10),
        op(
            1,
            KvInput::cas_absent("x", "2"),
            KvOutput::Cas(true),
            20,
            30,
        ),
    ]);
}

#[test]
fn failed_cas_must_have_seen_a_different_value() {
    assert_illegal(&[
        op(1, KvInput::put("x", "0"), done(), 0, 5),
        op(2, KvInput::cas("x", "0", "1"), KvOutput::Cas(false), 10, 20),
    ]);
}

#[test]
fn delete_makes_the_key_absent() {
    let put = op(1, KvInput::put("x", "1"), done(), 0, 10);
    let del = op(1, KvInput::delete("x"), KvOutput::Deleted(true), 20, 30);
    assert_ok(&[
        put.clone(),
        del.clone(),
        op(2, KvInput::get("x"), KvOutput::absent(), 40, 50),
    ]);
    assert_illegal(&[put.clone(), del, op(2, KvInput::get("x"), val("1"), 40, 50)]);
    // A get concurrent with the delete may see either.
    for seen in [KvOutput::absent(), val("1")] {
        let del = op(1, KvInput::delete("x"), done(), 20, 30);
        assert_ok(&[put.clone(), del, op(2, KvInput::get("x"), seen, 25, 35)]);
    }
    // Delete reports whether the key existed.
    assert_illegal(&[op(1, KvInput::delete("x"), KvOutput::Deleted(true), 0, 10)]);
}

#[test]
fn timed_out_put_may_take_effect_or_not() {
    let lost = Operation::timed_out(1, KvInput::put("x", "1"), KvOutput::Unknown, 0);
    for seen in [KvOutput::absent(), val("1")] {
        assert_ok(&[lost.clone(), op(2, KvInput::get("x"), seen, 100, 110)]);
    }
    // Once seen, its effect cannot disappear.
    assert_illegal(&[
        lost.clone(),
        op(2, KvInput::get("x"), val("1"), 100, 110),
        op(2, KvInput::get("x"), KvOutput::absent(), 120, 130),
    ]);
    // It may take effect long after its call, even after later operations of others.
    assert_ok(&[
        lost,
        op(2, KvInput::put("x", "2"), done(), 50, 60),
        op(2, KvInput::get("x"), val("2"), 70, 80),
        op(3, KvInput::get("x"), val("1"), 90, 95),
    ]);
}

#[test]
fn timed_out_cas_and_append() {
    assert_ok(&[
        op(1, KvInput::put("x", "0"), done(), 0, 5),
        Operation::timed_out(2, KvInput::cas("x", "0", "1"), KvOutput::Unknown, 10),
        Operation::timed_out(3, KvInput::append("x", "a"), KvOutput::Unknown, 10),
        op(4, KvInput::get("x"), val("1a"), 50, 60),
    ]);
    assert_illegal(&[
        op(1, KvInput::put("x", "0"), done(), 0, 5),
        Operation::timed_out(3, KvInput::append("x", "a"), KvOutput::Unknown, 10),
        op(4, KvInput::get("x"), val("0aa"), 50, 60),
    ]);
}

#[test]
fn keys_are_checked_independently_and_only_failing_keys_are_reported() {
    let history = [
        op(1, KvInput::put("a", "1"), done(), 0, 10),
        op(2, KvInput::put("b", "1"), done(), 0, 10),
        op(1, KvInput::get("a"), val("1"), 20, 30),
        op(2, KvInput::get("b"), val("stale"), 20, 30),
    ];
    let CheckResult::Illegal(report) = check(&history) else {
        panic!("expected illegal");
    };
    let keys: Vec<&str> = report.partitions.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, vec!["\"b\""]);
}

#[test]
fn absent_is_empty_model_accepts_lab_style_empty_reads() {
    let history = [op(1, KvInput::get("x"), val(""), 0, 10)];
    let lab = Checker::new().check(&KvModel::absent_is_empty(), &history);
    assert_eq!(lab, CheckResult::Ok);
}

#[test]
#[should_panic(expected = "returned (5) before its call (10)")]
fn return_before_call_is_rejected() {
    check(&[op(1, KvInput::get("x"), KvOutput::absent(), 10, 5)]);
}

#[test]
fn concurrent_increments_each_see_a_distinct_total() {
    let inc = |delta| KvInput::increment("n", delta);
    assert_ok(&[
        op(1, inc(1), KvOutput::Number(1), 0, 100),
        op(2, inc(2), KvOutput::Number(3), 10, 90),
        op(3, KvInput::get("n"), val("3"), 110, 120),
    ]);
    // Both claim to have been first.
    assert_illegal(&[
        op(1, inc(1), KvOutput::Number(1), 0, 100),
        op(2, inc(2), KvOutput::Number(2), 10, 90),
    ]);
    // A later increment that missed an earlier one.
    assert_illegal(&[
        op(1, inc(1), KvOutput::Number(1), 0, 10),
        op(2, inc(1), KvOutput::Number(1), 20, 30),
    ]);
}

#[test]
fn increment_of_a_non_integer_is_refused_without_effect() {
    assert_ok(&[
        op(1, KvInput::put("n", "x"), done(), 0, 10),
        op(
            2,
            KvInput::increment("n", 1),
            KvOutput::NotAnInteger,
            20,
            30,
        ),
        op(3, KvInput::get("n"), val("x"), 40, 50),
    ]);
    assert_illegal(&[
        op(1, KvInput::put("n", "7"), done(), 0, 10),
        op(
            2,
            KvInput::increment("n", 1),
            KvOutput::NotAnInteger,
            20,
            30,
        ),
    ]);
    // The refusal is legal only if it ran while the value was not a number.
    assert_ok(&[
        op(1, KvInput::put("n", "x"), done(), 0, 10),
        op(
            2,
            KvInput::increment("n", 1),
            KvOutput::NotAnInteger,
            20,
            60,
        ),
        op(1, KvInput::put("n", "7"), done(), 30, 40),
        op(3, KvInput::get("n"), val("7"), 70, 80),
    ]);
}
