//! The plain-text report of a violation.

use linearizability::kv::{KvInput, KvModel, KvOutput};
use linearizability::{CheckResult, Checker, Operation, Report};

fn stale_read_report() -> Report {
    let history = vec![
        Operation::new(1, KvInput::put("x", "1"), KvOutput::Done, 0, 10),
        Operation::new(2, KvInput::put("y", "a"), KvOutput::Done, 0, 10),
        Operation::new(1, KvInput::put("x", "2"), KvOutput::Done, 20, 30),
        Operation::new(3, KvInput::get("x"), KvOutput::value("2"), 25, 35),
        Operation::new(2, KvInput::get("x"), KvOutput::value("1"), 40, 50),
        Operation::timed_out(3, KvInput::append("x", "3"), KvOutput::Unknown, 45),
    ];
    match Checker::new().check(&KvModel::new(), &history) {
        CheckResult::Illegal(report) => report,
        other => panic!("expected illegal, got {other:?}"),
    }
}

const EXPECTED: &str = r#"history is not linearizable: 1 key(s) fail

== key "x" (5 operations)
operations by call time (#index client [call, return] operation):
  #0 client 1 [0, 10] put("x", "1") -> ok
  #1 client 1 [20, 30] put("x", "2") -> ok
  #2 client 3 [25, 35] get("x") -> "2"
  #3 client 2 [40, 50] get("x") -> "1"
  #4 client 3 [45, never] append("x", "3") -> unknown (timed out)
longest linearizable prefix (4 of 5 operations), from state absent:
  #0 put("x", "1") -> ok => "1"
  #1 put("x", "2") -> ok => "2"
  #2 get("x") -> "2" => "2"
  #4 append("x", "3") -> unknown (timed out) => "23"
no order fits after that prefix; the candidates for the next step:
  #3 get("x") -> "1": the model rejects it in state "23"
"#;

#[test]
fn report_names_the_key_operations_prefix_and_stuck_point() {
    let report = stale_read_report();
    assert_eq!(report.to_text(), EXPECTED);
    let partition = &report.partitions[0];
    let prefix: Vec<usize> = partition.longest_prefix.iter().map(|s| s.op).collect();
    assert_eq!(prefix, vec![0, 1, 2, 4]);
    let stuck: Vec<usize> = partition.stuck.iter().map(|s| s.op).collect();
    assert_eq!(stuck, vec![3]);
}

#[test]
fn report_is_written_to_a_file() {
    let report = stale_read_report();
    let path =
        std::env::temp_dir().join(format!("linearizability-report-{}.txt", std::process::id()));
    report.write_to_file(&path).unwrap();
    let written = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(written, EXPECTED);
}

#[test]
fn stuck_candidates_explain_accepted_but_dead_end_steps() {
    // Two concurrent CAS from "0" both claim success: after either one, the other is
    // rejected; the prefix is [put, one CAS].
    let history = vec![
        Operation::new(1, KvInput::put("k", "0"), KvOutput::Done, 0, 5),
        Operation::new(2, KvInput::cas("k", "0", "1"), KvOutput::Cas(true), 10, 30),
        Operation::new(3, KvInput::cas("k", "0", "2"), KvOutput::Cas(true), 15, 35),
    ];
    let CheckResult::Illegal(report) = Checker::new().check(&KvModel::new(), &history) else {
        panic!("expected illegal");
    };
    let partition = &report.partitions[0];
    let prefix: Vec<usize> = partition.longest_prefix.iter().map(|s| s.op).collect();
    assert_eq!(prefix, vec![0, 1]);
    assert_eq!(partition.stuck.len(), 1);
    assert_eq!(partition.stuck[0].op, 2);
    assert_eq!(
        partition.stuck[0].reason,
        "the model rejects it in state \"1\""
    );
}
