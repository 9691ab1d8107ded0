//! Plain-text reports of non-linearizable partitions.

use std::fmt::{self, Debug, Display};
use std::path::Path;

use crate::history::Operation;
use crate::model::Model;

/// Why a history is not linearizable: one entry per failing partition (key), in key order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The partitions found not linearizable.
    pub partitions: Vec<PartitionReport>,
}

/// One non-linearizable partition: its operations and where the search got stuck.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionReport {
    /// The partition's key, as [`Model::describe_key`] renders it.
    pub key: String,
    /// The partition's operations ordered by call time; `index` numbers them in that order.
    pub operations: Vec<ReportOperation>,
    /// The model's initial state.
    pub initial_state: String,
    /// The longest prefix of operations the search could linearize, in order.
    pub longest_prefix: Vec<LinearizedStep>,
    /// The operations that could come next after the longest prefix (called before the
    /// earliest remaining return), none of which leads to a full linearization.
    pub stuck: Vec<StuckCandidate>,
}

/// An operation as shown in a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportOperation {
    /// Position in the partition's call order.
    pub index: usize,
    /// The issuing client.
    pub client_id: u64,
    /// The call time.
    pub call: String,
    /// The return time; `None` if the operation never returned.
    pub return_time: Option<String>,
    /// [`Model::describe_operation`] of input and output.
    pub description: String,
}

/// One operation of the longest linearizable prefix and the state after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinearizedStep {
    /// Index of the operation (see [`ReportOperation::index`]).
    pub op: usize,
    /// The model's state after applying it.
    pub state_after: String,
}

/// A candidate for the next linearized operation after the longest prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StuckCandidate {
    /// Index of the operation (see [`ReportOperation::index`]).
    pub op: usize,
    /// Why it does not fit: the model rejects its output, or what follows cannot be ordered.
    pub reason: String,
}

impl Report {
    /// The report as plain text (the same as its `Display`).
    pub fn to_text(&self) -> String {
        self.to_string()
    }

    /// Writes the plain-text report to `path`.
    pub fn write_to_file(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        std::fs::write(path, self.to_text())
    }
}

impl Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "history is not linearizable: {} key(s) fail",
            self.partitions.len()
        )?;
        for partition in &self.partitions {
            writeln!(f)?;
            write!(f, "{partition}")?;
        }
        Ok(())
    }
}

impl Display for PartitionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "== key {} ({} operations)",
            self.key,
            self.operations.len()
        )?;
        writeln!(
            f,
            "operations by call time (#index client [call, return] operation):"
        )?;
        for op in &self.operations {
            let ret = op.return_time.as_deref().unwrap_or("never");
            let (index, client, call) = (op.index, op.client_id, &op.call);
            writeln!(
                f,
                "  #{index} client {client} [{call}, {ret}] {}",
                op.description
            )?;
        }
        writeln!(
            f,
            "longest linearizable prefix ({} of {} operations), from state {}:",
            self.longest_prefix.len(),
            self.operations.len(),
            self.initial_state
        )?;
        for step in &self.longest_prefix {
            let description = &self.operations[step.op].description;
            writeln!(f, "  #{} {} => {}", step.op, description, step.state_after)?;
        }
        writeln!(
            f,
            "no order fits after that prefix; the candidates for the next step:"
        )?;
        for candidate in &self.stuck {
            let description = &self.operations[candidate.op].description;
            writeln!(
                f,
                "  #{} {}: {}",
                candidate.op, description, candidate.reason
            )?;
        }
        Ok(())
    }
}

/// Builds the report of a non-linearizable partition. `ops` are in call order and
/// `longest` is the longest linearizable prefix the search found.
pub(crate) fn partition_report<M: Model, T: Ord + Copy + Debug>(
    model: &M,
    key: &M::Key,
    ops: &[&Operation<M::Input, M::Output, T>],
    longest: &[usize],
) -> PartitionReport {
    let operations = ops
        .iter()
        .enumerate()
        .map(|(index, op)| ReportOperation {
            index,
            client_id: op.client_id,
            call: format!("{:?}", op.call),
            return_time: op.return_time.map(|t| format!("{t:?}")),
            description: model.describe_operation(&op.input, &op.output),
        })
        .collect();
    let mut state = model.init();
    let initial_state = model.describe_state(&state);
    let mut longest_prefix = Vec::with_capacity(longest.len());
    for &i in longest {
        state = model
            .step(&state, &ops[i].input, &ops[i].output)
            .expect("the search accepted this step");
        let state_after = model.describe_state(&state);
        longest_prefix.push(LinearizedStep { op: i, state_after });
    }
    let stuck = stuck_candidates(model, ops, longest, &state);
    PartitionReport {
        key: model.describe_key(key),
        operations,
        initial_state,
        longest_prefix,
        stuck,
    }
}

/// The operations not in `longest` that were called no later than the earliest return
/// among them, with why each cannot come next from `state`.
fn stuck_candidates<M: Model, T: Ord + Copy + Debug>(
    model: &M,
    ops: &[&Operation<M::Input, M::Output, T>],
    longest: &[usize],
    state: &M::State,
) -> Vec<StuckCandidate> {
    let mut done = vec![false; ops.len()];
    longest.iter().for_each(|&i| done[i] = true);
    let remaining: Vec<usize> = (0..ops.len()).filter(|&i| !done[i]).collect();
    let earliest_return = remaining.iter().filter_map(|&i| ops[i].return_time).min();
    let callable = |i: &usize| earliest_return.is_none_or(|r| ops[*i].call <= r);
    remaining
        .into_iter()
        .filter(callable)
        .map(|op| {
            let reason = match model.step(state, &ops[op].input, &ops[op].output) {
                None => format!("the model rejects it in state {}", model.describe_state(state)),
                Some(next) => format!(
                    "accepted (state would be {}), but the remaining operations cannot be ordered after it",
                    model.describe_state(&next)
                ),
            };
            StuckCandidate { op, reason }
        })
        .collect()
}
