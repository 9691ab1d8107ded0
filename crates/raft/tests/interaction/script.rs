//! The script format and its runner.
//!
//! A script is a sequence of cases. Each case is a command line, a `----` line, and the
//! expected output up to the next blank line (or the end of the file). Lines starting
//! with `#` and blank lines between cases are comments, kept verbatim on rewrite.
//!
//! ```text
//! # Node 1 wins the election.
//! campaign 1
//! ----
//! 1: Follower t0 vote=none leader=none -> PreCandidate t0 vote=none leader=none
//! ```
//!
//! Running a script executes every command and compares the rendered output with the
//! expected text. With `RAFTKV_REWRITE=1` in the environment the file is rewritten
//! with the actual output instead (review the diff like code).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One piece of a script file.
#[derive(Debug)]
enum Block {
    /// A comment or a blank line, kept as is.
    Text(String),
    /// A command and the output it is expected to produce.
    Case {
        /// 1-based line number of the command.
        line: usize,
        command: String,
        expected: String,
    },
}

/// Splits a script into blocks; Err names the line that does not fit the format.
fn parse(text: &str) -> Result<Vec<Block>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.trim().is_empty() || line.starts_with('#') {
            blocks.push(Block::Text(line.to_string()));
            i += 1;
            continue;
        }
        let command_line = i + 1;
        if lines.get(i + 1).map(|l| l.trim_end()) != Some("----") {
            return Err(format!(
                "line {}: expected `----` after command `{line}`",
                command_line + 1
            ));
        }
        i += 2;
        let mut expected = Vec::new();
        while i < lines.len() && !lines[i].trim().is_empty() {
            expected.push(lines[i]);
            i += 1;
        }
        blocks.push(Block::Case {
            line: command_line,
            command: line.trim_end().to_string(),
            expected: expected.join("\n"),
        });
    }
    Ok(blocks)
}

/// Splits a command line into words. Square brackets and double quotes group words
/// that contain spaces: `entries=[1/2 1/3]` and `data="a b"` are one word each.
pub fn tokenize(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut depth = 0usize;
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                word.push(c);
            }
            '[' if !quoted => {
                depth += 1;
                word.push(c);
            }
            ']' if !quoted => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("unbalanced `]` in `{line}`"))?;
                word.push(c);
            }
            c if c.is_whitespace() && depth == 0 && !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if depth != 0 || quoted {
        return Err(format!("unbalanced brackets or quotes in `{line}`"));
    }
    if !word.is_empty() {
        words.push(word);
    }
    Ok(words)
}

/// Something that executes commands; `Err` is a harness error (a typo in the script),
/// which fails the test at once. Errors of the code under test are output.
pub trait Executor {
    fn execute(&mut self, command: &str) -> Result<String, String>;
}

/// The directory holding the scripts.
pub fn testdata_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

/// True if expectations should be rewritten instead of checked.
fn rewrite_requested() -> bool {
    std::env::var("RAFTKV_REWRITE").is_ok_and(|value| !value.is_empty() && value != "0")
}

/// Makes the output fit the format: no trailing spaces, no blank lines (they would end
/// the case), never empty.
fn normalize_output(output: &str) -> String {
    let lines: Vec<&str> = output
        .lines()
        .map(str::trim_end)
        .filter(|line| !line.is_empty())
        .collect();
    if lines.is_empty() {
        "ok".to_string()
    } else {
        lines.join("\n")
    }
}

/// Runs the script at `path` with a fresh executor. Panics with a diff on the first
/// mismatch (and counts the others). `allow_rewrite` is false for scripts whose
/// expectations are hand-written (known bugs).
pub fn run_file<E: Executor>(path: &Path, mut executor: E) {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    let blocks = parse(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    let rewrite = rewrite_requested();
    let mut rewritten = String::new();
    let mut first_failure: Option<String> = None;
    let mut failures = 0;
    for block in &blocks {
        match block {
            Block::Text(line) => {
                rewritten.push_str(line);
                rewritten.push('\n');
            }
            Block::Case {
                line,
                command,
                expected,
            } => {
                let actual = match executor.execute(command) {
                    Ok(output) => normalize_output(&output),
                    Err(err) => panic!("{}:{line}: `{command}`: {err}", path.display()),
                };
                let _ = writeln!(rewritten, "{command}\n----\n{actual}");
                if actual != *expected {
                    failures += 1;
                    if first_failure.is_none() {
                        first_failure = Some(format!(
                            "{}:{line}: output of `{command}` differs (- expected, + actual):\n{}",
                            path.display(),
                            diff(expected, &actual)
                        ));
                    }
                }
            }
        }
    }
    if rewrite {
        if rewritten != text {
            std::fs::write(path, rewritten)
                .unwrap_or_else(|err| panic!("cannot rewrite {}: {err}", path.display()));
        }
        return;
    }
    if let Some(first) = first_failure {
        panic!(
            "{first}\n{failures} case(s) differ in {}. If the new output is right, regenerate \
             with `RAFTKV_REWRITE=1 cargo test -p raft --test interaction` and review the diff.",
            path.display()
        );
    }
}

/// A line diff (longest common subsequence), unified style without hunks: every line,
/// prefixed with ' ', '-' or '+'.
fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = String::new();
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            let _ = writeln!(out, "  {}", a[i]);
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            let _ = writeln!(out, "- {}", a[i]);
            i += 1;
        } else {
            let _ = writeln!(out, "+ {}", b[j]);
            j += 1;
        }
    }
    out
}

#[test]
fn parser_keeps_comments_and_reads_cases() {
    let text = "# c\n\ncmd 1\n----\nout a\nout b\n\ncmd 2\n----\nx\n";
    let blocks = parse(text).unwrap();
    assert_eq!(blocks.len(), 5);
    match &blocks[2] {
        Block::Case {
            line,
            command,
            expected,
        } => {
            assert_eq!((*line, command.as_str()), (3, "cmd 1"));
            assert_eq!(expected, "out a\nout b");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(parse("cmd\nno separator\n").is_err());
}

#[test]
fn tokenizer_groups_brackets_and_quotes() {
    assert_eq!(
        tokenize(r#"a entries=[1/2 1/3:x] data="p q"  b"#).unwrap(),
        vec!["a", "entries=[1/2 1/3:x]", r#"data="p q""#, "b"]
    );
    assert!(tokenize("a [b").is_err());
}

#[test]
fn diff_marks_changed_lines() {
    assert_eq!(diff("a\nb\nc", "a\nx\nc"), "  a\n- b\n+ x\n  c\n");
}
