//! The `sim report` table: the lab's "Passed" columns for every test beside the
//! reference solution's published figures.

use crate::lab::runner::RunOutcome;
use crate::lab::Reference;

/// Header of the report table.
pub fn header() -> String {
    format!(
        "{:<32} {:>6} {:>5} {:>6} {:>9} {:>7}   | {:>6} {:>6} {:>9} {:>7}\n{}",
        "test",
        "secs",
        "peers",
        "RPCs",
        "bytes",
        "commits",
        "secs",
        "RPCs",
        "bytes",
        "commits",
        "-".repeat(106)
    )
}

/// One row: our figures (or the failure) and the reference's.
pub fn row(outcome: &RunOutcome) -> String {
    let ours = match (&outcome.result, outcome.stats.first()) {
        (Ok(()), Some(s)) => format!(
            "{:>6.1} {:>5} {:>6} {:>9} {:>7}",
            s.seconds, s.peers, s.rpcs, s.bytes, s.commits
        ),
        (Err(e), _) => format!("{:<37}", format!("FAILED: {}", truncate(e, 29))),
        (Ok(()), None) => format!("{:<37}", "(no begin/end)"),
    };
    format!(
        "{:<32} {ours}   | {}",
        outcome.test.name,
        reference(outcome.test.reference)
    )
}

fn reference(reference: Option<Reference>) -> String {
    match reference {
        Some(r) => format!(
            "{:>6.1} {:>6} {:>9} {:>7}",
            r.seconds, r.rpcs, r.bytes, r.commits
        ),
        None => format!("{:>6} {:>6} {:>9} {:>7}", "-", "-", "-", "-"),
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let head: String = text.chars().take(max - 1).collect();
        format!("{head}…")
    }
}
