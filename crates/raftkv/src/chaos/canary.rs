//! A planted bug for the harness's own test: `--canary-lose-append` makes the run
//! "lose" the last acknowledged append, as a store that dropped a durable write would,
//! by removing its token from the key's final read (in the history and in the final
//! values). Both the linearizability check and the acknowledged-writes check must then
//! fail, and the failure directory must be kept: proof that a real loss would be caught.

use super::check::FinalValues;
use super::history::{Completion, Record};
use linearizability::kv::{KvInput, KvOutput};

/// Removes the last acknowledged append's token from its key's final value. Returns a
/// description of what was doctored, or `None` if no append was acknowledged.
pub fn lose_last_append(records: &mut [Record], finals: &mut FinalValues) -> Option<String> {
    let (key, token) = records.iter().rev().find_map(|record| match record {
        Record {
            input: KvInput::Append { key, value },
            completion: Completion::Returned { .. },
            ..
        } => Some((key.clone(), value.clone())),
        _ => None,
    })?;
    let forget = |value: &mut Vec<u8>| {
        if let Some(at) = value
            .windows(token.len())
            .position(|w| w == token.as_slice())
        {
            value.drain(at..at + token.len());
        }
    };
    if let Some(Some(value)) = finals.get_mut(&key) {
        forget(value);
    }
    // The final read is the last Get of the key: it happened after every append returned.
    let final_read = records.iter_mut().rev().find(|record| {
        matches!(&record.input, KvInput::Get { key: read } if *read == key)
            && matches!(record.completion, Completion::Returned { .. })
    })?;
    if let Completion::Returned {
        output: KvOutput::Value(Some(value)),
        ..
    } = &mut final_read.completion
    {
        forget(value);
    }
    Some(format!(
        "canary: lost {} of {}",
        String::from_utf8_lossy(&token),
        String::from_utf8_lossy(&key)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::check::{check_history, lost_appends};
    use std::time::Duration;

    #[test]
    fn the_doctored_run_fails_both_checks() {
        let mut records = vec![
            Record {
                client: 1,
                input: KvInput::append("a0.0", "n0.1;"),
                call: 0,
                completion: Completion::Returned {
                    output: KvOutput::Length(5),
                    at: 5,
                },
            },
            Record {
                client: 1,
                input: KvInput::append("a0.0", "n0.2;"),
                call: 10,
                completion: Completion::Returned {
                    output: KvOutput::Length(10),
                    at: 15,
                },
            },
            Record {
                client: 2,
                input: KvInput::get("a0.0"),
                call: 20,
                completion: Completion::Returned {
                    output: KvOutput::value("n0.1;n0.2;"),
                    at: 25,
                },
            },
        ];
        let mut finals: FinalValues = [(b"a0.0".to_vec(), Some(b"n0.1;n0.2;".to_vec()))].into();
        let budget = Duration::from_secs(10);
        assert!(check_history(&records, budget).is_ok());
        assert!(lost_appends(&records, &finals).is_empty());
        let doctored = lose_last_append(&mut records, &mut finals);
        assert_eq!(doctored.as_deref(), Some("canary: lost n0.2; of a0.0"));
        assert!(check_history(&records, budget).is_illegal());
        assert_eq!(lost_appends(&records, &finals), vec!["n0.2; of a0.0"]);
    }
}
