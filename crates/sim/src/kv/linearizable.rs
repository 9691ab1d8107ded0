//! The linearizability check of a KV history with the project's Porcupine-style checker
//! (`crates/linearizability`), as the lab's `porcupine.CheckOperationsVerbose(KvModel,
//! history, timeout)`: `Illegal` fails the test with the checker's report (also written
//! to a file); `Unknown` (the time budget ran out) passes with a note, as in the lab.

use super::history::{History, OpKind};
use linearizability::kv::{KvInput, KvModel, KvOutput};
use linearizability::{CheckResult, Checker, Operation};
use std::time::Duration;

/// The checker's time budget per history. The lab allows 1 s of a fast machine; the
/// simulated histories are checked while other seeds run on the same cores.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// The history in the checker's terms.
pub fn to_operations(history: &History) -> Vec<Operation<KvInput, KvOutput, u64>> {
    history
        .ops
        .iter()
        .map(|op| {
            let (input, output) = match op.kind {
                OpKind::Get => (
                    KvInput::get(op.key.as_bytes()),
                    KvOutput::Value(op.output.as_ref().map(|v| v.as_bytes().to_vec())),
                ),
                OpKind::Put => (
                    KvInput::put(op.key.as_bytes(), op.value.as_bytes()),
                    KvOutput::Done,
                ),
                OpKind::Append => (
                    KvInput::append(op.key.as_bytes(), op.value.as_bytes()),
                    op.length.map_or(KvOutput::Done, KvOutput::Length),
                ),
            };
            Operation::new(op.client, input, output, op.call, op.ret)
        })
        .collect()
}

/// Checks `history` against the KV model: `Err(report)` if it is not linearizable.
pub fn check(history: &History) -> Result<(), String> {
    let operations = to_operations(history);
    let result = Checker::new()
        .threads(2)
        .timeout(CHECK_TIMEOUT)
        .check(&KvModel::new(), &operations);
    match result {
        CheckResult::Ok => Ok(()),
        CheckResult::Unknown => {
            println!("info: linearizability check timed out, assuming history is ok");
            Ok(())
        }
        CheckResult::Illegal(report) => {
            let path = std::env::temp_dir().join(format!(
                "raftkv-kv-history-{}-{}.txt",
                std::process::id(),
                history.len()
            ));
            let written = match report.write_to_file(&path) {
                Ok(()) => format!("report written to {}", path.display()),
                Err(e) => format!("report could not be written: {e}"),
            };
            Err(format!("{written}\n{}", report.to_text()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::history::HistoryOp;

    fn op(
        client: u64,
        kind: OpKind,
        key: &str,
        value: &str,
        output: Option<&str>,
        call: u64,
        ret: u64,
    ) -> HistoryOp {
        HistoryOp {
            client,
            kind,
            key: key.into(),
            value: value.into(),
            output: output.map(String::from),
            length: None,
            call,
            ret,
        }
    }

    #[test]
    fn a_stale_read_is_caught_and_a_fine_history_passes() {
        let mut good = History::default();
        good.push(op(1, OpKind::Put, "k", "a", None, 0, 10));
        good.push(op(2, OpKind::Get, "k", "", Some("a"), 11, 20));
        good.push(op(1, OpKind::Append, "k", "b", None, 21, 30));
        good.push(op(2, OpKind::Get, "k", "", Some("ab"), 25, 40));
        good.push(op(3, OpKind::Get, "other", "", None, 0, 5));
        assert_eq!(check(&good), Ok(()));
        let mut stale = good.clone();
        stale.push(op(2, OpKind::Get, "k", "", Some("a"), 41, 50));
        assert!(check(&stale).is_err());
    }

    #[test]
    fn append_lengths_are_checked() {
        let appended = |client, value: &str, length, call, ret| HistoryOp {
            length: Some(length),
            ..op(client, OpKind::Append, "k", value, None, call, ret)
        };
        let mut good = History::default();
        good.push(appended(1, "ab", 2, 0, 10));
        good.push(appended(2, "c", 3, 5, 15));
        assert_eq!(check(&good), Ok(()));
        let mut bad = History::default();
        bad.push(appended(1, "ab", 2, 0, 10));
        bad.push(appended(2, "c", 1, 11, 15));
        assert!(check(&bad).is_err());
    }
}
