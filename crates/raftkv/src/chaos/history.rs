//! Recording: every invocation and completion with monotonic timestamps, converted to
//! the linearizability checker's KV operations, and written out as text.

use kv::{KvError, Outcome};
use linearizability::kv::{KvInput, KvOutput};
use linearizability::Operation;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// How an operation ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completion {
    /// A reply arrived at this time (nanoseconds since the run's start).
    Returned { output: KvOutput, at: u64 },
    /// No reply (timeout, broken connection, an error that does not rule the write
    /// out): it may have been applied, at any time after the call, or never.
    Unknown,
}

/// One operation of the history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The logical client: a fresh one after each unknown completion, because a client
    /// whose request may still be in flight is no longer sequential.
    pub client: u64,
    pub input: KvInput,
    /// Nanoseconds since the run's start.
    pub call: u64,
    pub completion: Completion,
}

/// The shared history of a run.
#[derive(Clone)]
pub struct Recorder {
    start: Instant,
    records: Arc<Mutex<Vec<Record>>>,
    next_client: Arc<AtomicU64>,
}

impl Recorder {
    pub fn new(start: Instant) -> Recorder {
        Recorder {
            start,
            records: Arc::default(),
            next_client: Arc::new(AtomicU64::new(1)),
        }
    }

    /// A new logical client id.
    pub fn new_client(&self) -> u64 {
        self.next_client.fetch_add(1, Ordering::Relaxed)
    }

    /// Nanoseconds since the run's start (monotonic).
    pub fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    pub fn record(&self, record: Record) {
        self.records.lock().expect("recorder lock").push(record);
    }

    pub fn records(&self) -> Vec<Record> {
        self.records.lock().expect("recorder lock").clone()
    }
}

/// The one place a native outcome becomes the checker's output. `None`: the request was
/// refused, so it had no effect and is left out of the history.
pub fn native_output(outcome: Outcome) -> Option<KvOutput> {
    match outcome {
        Outcome::Value(value) => Some(KvOutput::Value(value.map(|v| v.to_vec()))),
        Outcome::Written => Some(KvOutput::Done),
        Outcome::Appended { length } => Some(KvOutput::Length(length)),
        Outcome::Deleted(existed) => Some(KvOutput::Deleted(existed)),
        Outcome::Swapped { succeeded, .. } => Some(KvOutput::Cas(succeeded)),
        Outcome::Number(number) => Some(KvOutput::Number(number)),
        // Refusals the model knows: the state was read and left unchanged.
        Outcome::Rejected(KvError::NotAnInteger) => Some(KvOutput::NotAnInteger),
        Outcome::Rejected(KvError::Overflow) => Some(KvOutput::Overflow),
        // Refused outright (too large, malformed): no effect. The caller turns refusals
        // that leave the outcome open into unknown completions before this point.
        Outcome::Rejected(_) => None,
    }
}

/// The checker's view of the history.
pub fn to_operations(records: &[Record]) -> Vec<Operation<KvInput, KvOutput, u64>> {
    records
        .iter()
        .map(|record| match &record.completion {
            Completion::Returned { output, at } => Operation::new(
                record.client,
                record.input.clone(),
                output.clone(),
                record.call,
                *at,
            ),
            Completion::Unknown => Operation::timed_out(
                record.client,
                record.input.clone(),
                KvOutput::Unknown,
                record.call,
            ),
        })
        .collect()
}

/// One line per operation, in call order: `call return client input -> output`.
pub fn to_text(records: &[Record]) -> String {
    let mut sorted: Vec<&Record> = records.iter().collect();
    sorted.sort_by_key(|record| (record.call, record.client));
    let mut text = String::from("# call_ns return_ns client input -> output\n");
    for record in sorted {
        let (returned, output) = match &record.completion {
            Completion::Returned { output, at } => (at.to_string(), describe_output(output)),
            Completion::Unknown => ("never".to_string(), "unknown".to_string()),
        };
        text.push_str(&format!(
            "{} {} c{} {} -> {}\n",
            record.call,
            returned,
            record.client,
            describe_input(&record.input),
            output
        ));
    }
    text
}

fn show(bytes: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(bytes))
}

pub fn describe_input(input: &KvInput) -> String {
    match input {
        KvInput::Get { key } => format!("get {}", show(key)),
        KvInput::Put { key, value } => format!("put {} {}", show(key), show(value)),
        KvInput::Append { key, value } => format!("append {} {}", show(key), show(value)),
        KvInput::Delete { key } => format!("delete {}", show(key)),
        KvInput::Increment { key, delta } => format!("increment {} {delta}", show(key)),
        KvInput::Cas { key, expected, new } => format!(
            "cas {} {} {}",
            show(key),
            expected.as_deref().map_or("absent".into(), show),
            show(new)
        ),
    }
}

fn describe_output(output: &KvOutput) -> String {
    match output {
        KvOutput::Value(Some(value)) => show(value),
        KvOutput::Value(None) => "absent".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn returned(client: u64, input: KvInput, output: KvOutput, call: u64, at: u64) -> Record {
        Record {
            client,
            input,
            call,
            completion: Completion::Returned { output, at },
        }
    }

    #[test]
    fn unknown_completions_become_timed_out_operations() {
        let records = vec![
            returned(1, KvInput::put("k", "a"), KvOutput::Done, 0, 10),
            Record {
                client: 2,
                input: KvInput::append("k", "b"),
                call: 5,
                completion: Completion::Unknown,
            },
        ];
        let operations = to_operations(&records);
        assert_eq!(operations[0].return_time, Some(10));
        assert_eq!(operations[1].return_time, None);
        assert_eq!(operations[1].output, KvOutput::Unknown);
    }

    #[test]
    fn native_outcomes_map_to_checker_outputs_and_refusals_drop_out() {
        let value = Outcome::Value(Some(Bytes::from_static(b"v")));
        assert_eq!(native_output(value), Some(KvOutput::value("v")));
        let swapped = Outcome::Swapped {
            succeeded: false,
            current: None,
        };
        assert_eq!(native_output(swapped), Some(KvOutput::Cas(false)));
        let refused = Outcome::Rejected(kv::KvError::Malformed);
        assert_eq!(native_output(refused), None);
    }

    #[test]
    fn the_text_lists_operations_in_call_order() {
        let records = vec![
            returned(2, KvInput::get("k"), KvOutput::absent(), 7, 9),
            returned(1, KvInput::put("k", "a"), KvOutput::Done, 3, 4),
        ];
        let text = to_text(&records);
        let lines: Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(lines[0], "3 4 c1 put \"k\" \"a\" -> done");
        assert_eq!(lines[1], "7 9 c2 get \"k\" -> absent");
    }
}
