//! A user-defined model (an integer register, as in Porcupine's own tests) and the
//! classic register histories.

use std::time::Duration;

use linearizability::{check_operations, CheckResult, Model, Operation};

/// A read/write register holding an integer, initially 0.
struct Register;

#[derive(Debug, Clone, Copy)]
enum Op {
    Read,
    Write(i64),
}

impl Model for Register {
    type Input = Op;
    type Output = i64;
    type State = i64;
    type Key = ();

    fn init(&self) -> i64 {
        0
    }

    fn step(&self, state: &i64, input: &Op, output: &i64) -> Option<i64> {
        match input {
            Op::Read => (output == state).then_some(*state),
            Op::Write(v) => Some(*v),
        }
    }

    fn partition_key(&self, _: &Op) {}
}

fn op(client: u64, input: Op, output: i64, call: u64, ret: u64) -> Operation<Op, i64> {
    Operation::new(client, input, output, call, ret)
}

fn check(history: &[Operation<Op, i64>]) -> CheckResult {
    check_operations(&Register, history, Duration::from_secs(5))
}

#[test]
fn porcupine_register_ok() {
    // Porcupine's TestRegisterModel: a read of 0 overlapping the write may precede it.
    let history = [
        op(0, Op::Write(100), 0, 0, 100),
        op(1, Op::Read, 100, 25, 75),
        op(2, Op::Read, 0, 30, 60),
    ];
    assert_eq!(check(&history), CheckResult::Ok);
}

#[test]
fn porcupine_register_bad() {
    // Porcupine's TestRegisterModel (bad): 0 is read after 200 was read.
    let history = [
        op(0, Op::Write(200), 0, 0, 100),
        op(1, Op::Read, 200, 10, 30),
        op(2, Op::Read, 0, 40, 90),
    ];
    assert!(check(&history).is_illegal());
}

#[test]
fn two_overlapping_writes_then_reads_in_both_orders() {
    let writes = [op(0, Op::Write(1), 0, 0, 10), op(1, Op::Write(2), 0, 5, 15)];
    let read = |v, t| op(2, Op::Read, v, t, t + 5);
    // Reads after both writes returned must agree on one final value.
    let mut bad = writes.to_vec();
    bad.extend([read(2, 20), read(1, 30)]);
    assert!(check(&bad).is_illegal());
    let mut good = writes.to_vec();
    good.extend([read(1, 20), read(1, 30)]);
    assert_eq!(check(&good), CheckResult::Ok);
}

#[test]
fn read_of_a_value_never_written_is_illegal() {
    let history = [op(0, Op::Write(1), 0, 0, 10), op(1, Op::Read, 7, 0, 10)];
    assert!(check(&history).is_illegal());
}

#[test]
fn generic_times_any_ord_type() {
    // Times need only be Ord + Copy: here (seconds, sequence) pairs.
    let history = [
        Operation::new(0, Op::Write(3), 0, (1u32, 0u8), (1, 2)),
        Operation::new(1, Op::Read, 3, (1, 2), (2, 0)),
    ];
    assert_eq!(
        check_operations(&Register, &history, Duration::from_secs(1)),
        CheckResult::Ok
    );
}
