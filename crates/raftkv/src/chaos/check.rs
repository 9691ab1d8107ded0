//! The verdict of a run: the history is linearizable, every acknowledged append is in
//! its key's final value, the cluster served again within [`RECOVERY_BOUND`] of the last
//! heal, and no node died unasked.

use super::history::{to_operations, Completion, Record};
use linearizability::kv::{KvInput, KvModel};
use linearizability::{CheckResult, Checker};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// After the last fault heals, a write and a read must complete within this.
pub const RECOVERY_BOUND: Duration = Duration::from_secs(5);

/// The final value of every key, read after the healed phase (`None`: absent).
pub type FinalValues = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

pub struct Findings {
    pub linearizability: CheckResult,
    /// Acknowledged appends missing from the final values.
    pub lost_writes: Vec<String>,
    /// How long after the last heal a write and a read completed, or why they did not.
    pub recovery: Result<Duration, String>,
    /// Nodes that exited without being killed, and final reads that failed.
    pub other_failures: Vec<String>,
}

impl Findings {
    pub fn passed(&self) -> bool {
        self.linearizability.is_ok()
            && self.lost_writes.is_empty()
            && matches!(self.recovery, Ok(took) if took <= RECOVERY_BOUND)
            && self.other_failures.is_empty()
    }

    /// One line per check.
    pub fn summary(&self) -> String {
        let linearizability = match &self.linearizability {
            CheckResult::Ok => "linearizable".to_string(),
            CheckResult::Illegal(report) => format!(
                "NOT LINEARIZABLE ({} key(s); see the checker report)",
                report.partitions.len()
            ),
            CheckResult::Unknown => {
                "UNKNOWN: the checker's time budget ran out (not a pass)".to_string()
            }
        };
        let writes = if self.lost_writes.is_empty() {
            "every acknowledged append is present".to_string()
        } else {
            format!(
                "LOST {} acknowledged append(s): {}",
                self.lost_writes.len(),
                self.lost_writes.join(", ")
            )
        };
        let recovery = match &self.recovery {
            Ok(took) if *took <= RECOVERY_BOUND => {
                format!(
                    "served again {:.2}s after the last heal",
                    took.as_secs_f64()
                )
            }
            Ok(took) => format!(
                "SLOW RECOVERY: served again only {:.2}s after the last heal (bound {}s)",
                took.as_secs_f64(),
                RECOVERY_BOUND.as_secs()
            ),
            Err(why) => format!("NO RECOVERY: {why}"),
        };
        let mut lines = vec![linearizability, writes, recovery];
        lines.extend(
            self.other_failures
                .iter()
                .map(|failure| format!("FAILED: {failure}")),
        );
        lines.join("\n")
    }
}

/// Checks the history against the KV model within `budget`.
pub fn check_history(records: &[Record], budget: Duration) -> CheckResult {
    Checker::new()
        .timeout(budget)
        .check(&KvModel::new(), &to_operations(records))
}

/// Every acknowledged append's token must be in its key's final value. Values are
/// `;`-terminated unique tokens, so the final value splits into the tokens it holds.
pub fn lost_appends(records: &[Record], finals: &FinalValues) -> Vec<String> {
    let mut lost = Vec::new();
    for record in records {
        let (KvInput::Append { key, value }, Completion::Returned { .. }) =
            (&record.input, &record.completion)
        else {
            continue;
        };
        let name = String::from_utf8_lossy(key);
        let token = String::from_utf8_lossy(value);
        let Some(last) = finals.get(key) else {
            lost.push(format!("{name}: no final read of the key"));
            continue;
        };
        let held = last.as_deref().unwrap_or_default();
        let tokens: BTreeSet<&[u8]> = held.split_inclusive(|&b| b == b';').collect();
        if !tokens.contains(value.as_slice()) {
            lost.push(format!("{token} of {name}"));
        }
    }
    lost
}

/// Append-only keys whose final value holds a token more than once: a write applied
/// twice (every token is appended by one request, never retried by a RESP client, and
/// deduplicated by the session of a native one).
pub fn duplicated_appends(finals: &FinalValues) -> Vec<String> {
    let mut duplicated = Vec::new();
    for (key, value) in finals {
        if !super::workload::is_append_key(key) {
            continue;
        }
        let mut seen = BTreeSet::new();
        for token in value
            .as_deref()
            .unwrap_or_default()
            .split_inclusive(|&b| b == b';')
        {
            if !seen.insert(token) {
                duplicated.push(format!(
                    "{} holds {} twice (a write applied twice)",
                    String::from_utf8_lossy(key),
                    String::from_utf8_lossy(token)
                ));
            }
        }
    }
    duplicated
}

#[cfg(test)]
mod tests {
    use super::*;
    use linearizability::kv::KvOutput;

    fn appended(key: &str, token: &str, call: u64) -> Record {
        Record {
            client: 1,
            input: KvInput::append(key, token),
            call,
            completion: Completion::Returned {
                output: KvOutput::Done,
                at: call + 1,
            },
        }
    }

    fn finals(entries: &[(&str, Option<&str>)]) -> FinalValues {
        entries
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec())))
            .collect()
    }

    #[test]
    fn present_appends_pass_and_missing_ones_are_named() {
        let records = vec![appended("a0.0", "n1.1;", 0), appended("a0.0", "n1.2;", 5)];
        assert!(lost_appends(&records, &finals(&[("a0.0", Some("n1.1;n1.2;"))])).is_empty());
        let lost = lost_appends(&records, &finals(&[("a0.0", Some("n1.2;"))]));
        assert_eq!(lost, vec!["n1.1; of a0.0"]);
        let absent = lost_appends(&records, &finals(&[("a0.0", None)]));
        assert_eq!(absent.len(), 2);
    }

    #[test]
    fn a_token_that_is_only_a_suffix_of_another_does_not_count() {
        let records = vec![appended("a0.0", "1.1;", 0)];
        let lost = lost_appends(&records, &finals(&[("a0.0", Some("n1.1;"))]));
        assert_eq!(lost.len(), 1);
    }

    #[test]
    fn a_token_applied_twice_is_reported() {
        let twice = finals(&[("a0.0", Some("n1.1;n1.2;n1.1;")), ("r4.0", Some("x;x;"))]);
        assert_eq!(
            duplicated_appends(&twice),
            vec!["a0.0 holds n1.1; twice (a write applied twice)"]
        );
        assert!(duplicated_appends(&finals(&[("a0.0", Some("n1.1;n1.2;"))])).is_empty());
    }

    #[test]
    fn unacknowledged_appends_may_be_missing() {
        let mut record = appended("a0.0", "n1.1;", 0);
        record.completion = Completion::Unknown;
        assert!(lost_appends(&[record], &finals(&[("a0.0", None)])).is_empty());
    }

    #[test]
    fn the_checker_rejects_a_doctored_history() {
        // A read that saw a value nobody wrote, after a put returned.
        let history = vec![
            Record {
                client: 1,
                input: KvInput::put("r4.0", "n1.1;"),
                call: 0,
                completion: Completion::Returned {
                    output: KvOutput::Done,
                    at: 10,
                },
            },
            Record {
                client: 2,
                input: KvInput::get("r4.0"),
                call: 20,
                completion: Completion::Returned {
                    output: KvOutput::value("n9.9;"),
                    at: 30,
                },
            },
        ];
        assert!(check_history(&history, Duration::from_secs(10)).is_illegal());
        let mut honest = history;
        honest[1].completion = Completion::Returned {
            output: KvOutput::value("n1.1;"),
            at: 30,
        };
        assert!(check_history(&honest, Duration::from_secs(10)).is_ok());
    }

    #[test]
    fn a_stale_read_after_an_acknowledged_write_is_illegal() {
        // The lost-write shape: the write was acknowledged, a later read misses it.
        let history = vec![
            appended("a0.0", "n1.1;", 0),
            Record {
                client: 2,
                input: KvInput::get("a0.0"),
                call: 10,
                completion: Completion::Returned {
                    output: KvOutput::absent(),
                    at: 11,
                },
            },
        ];
        assert!(check_history(&history, Duration::from_secs(10)).is_illegal());
    }

    #[test]
    fn findings_fail_on_each_check_and_unknown_is_not_a_pass() {
        let good = || Findings {
            linearizability: CheckResult::Ok,
            lost_writes: vec![],
            recovery: Ok(Duration::from_secs(1)),
            other_failures: vec![],
        };
        assert!(good().passed());
        let mut unknown = good();
        unknown.linearizability = CheckResult::Unknown;
        assert!(!unknown.passed());
        assert!(unknown.summary().contains("UNKNOWN"));
        let mut slow = good();
        slow.recovery = Ok(Duration::from_secs(6));
        assert!(!slow.passed());
        let mut lost = good();
        lost.lost_writes.push("n1.1; of a0.0".into());
        assert!(!lost.passed());
    }
}
