//! The run directory: node data and logs live there from the start; on a failure it
//! also gets the schedule, the event log, the history, the checker's report and the
//! verdict, and is kept. On success it is deleted (unless `--keep`).

use super::check::Findings;
use super::history::{to_text, Record};
use linearizability::CheckResult;
use std::path::{Path, PathBuf};

pub struct RunDir {
    pub path: PathBuf,
}

impl RunDir {
    /// A fresh directory under `base` (default: the system's temporary directory).
    pub fn create(base: Option<&Path>, seed: u64) -> Result<RunDir, String> {
        let base = base.map_or_else(std::env::temp_dir, Path::to_path_buf);
        let path = base.join(format!("raftkv-chaos-{seed}-{}", std::process::id()));
        std::fs::create_dir_all(&path)
            .map_err(|error| format!("cannot create {}: {error}", path.display()))?;
        Ok(RunDir { path })
    }

    pub fn write(&self, name: &str, contents: &str) -> Result<(), String> {
        let file = self.path.join(name);
        std::fs::write(&file, contents).map_err(|error| format!("{}: {error}", file.display()))
    }

    pub fn remove(self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }

    /// Writes what is known when the harness itself failed (a node would not start, ...).
    pub fn keep_harness_error(
        &self,
        events: &[String],
        records: &[Record],
        error: &str,
        rerun: &str,
    ) -> Result<(), String> {
        self.write("events.txt", &(events.join("\n") + "\n"))?;
        self.write("history.txt", &to_text(records))?;
        self.write(
            "verdict.txt",
            &format!("harness error: {error}\n\nrerun: {rerun}\n"),
        )
    }

    /// Writes what a failure needs to be understood next to the node logs and data.
    pub fn keep_failure(
        &self,
        events: &[String],
        records: &[Record],
        findings: &Findings,
        rerun: &str,
    ) -> Result<(), String> {
        self.write("events.txt", &(events.join("\n") + "\n"))?;
        self.write("history.txt", &to_text(records))?;
        if let CheckResult::Illegal(report) = &findings.linearizability {
            let file = self.path.join("checker-report.txt");
            report
                .write_to_file(&file)
                .map_err(|error| format!("{}: {error}", file.display()))?;
        }
        self.write(
            "verdict.txt",
            &format!("{}\n\nrerun: {rerun}\n", findings.summary()),
        )
    }
}
