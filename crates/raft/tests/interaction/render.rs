//! Compact, deterministic one-line renderings of the core's types, and the parser of
//! the message format (so scripts can inject hand-made messages).
//!
//! Message format: `FROM->TO Kind tTERM fields...`, e.g.
//! `1->2 AppendEntries t2 prev=1/5 entries=[2/6 2/7:x] commit=5`. An entry is
//! `term/index` (the leader's empty entry) or `term/index:data` (a command).

use raft::{
    ConflictHint, Entry, EntryId, EntryPayload, Index, Message, MessageBody, NodeId, Role,
    SnapshotMeta, Term,
};
use std::fmt::Write as _;

pub fn entry(entry: &Entry) -> String {
    match &entry.payload {
        EntryPayload::Empty => format!("{}", entry.id()),
        EntryPayload::Command(data) => format!("{}:{}", entry.id(), String::from_utf8_lossy(data)),
    }
}

pub fn entries(entries: &[Entry]) -> String {
    let parts: Vec<String> = entries.iter().map(entry).collect();
    format!("[{}]", parts.join(" "))
}

pub fn node(id: NodeId) -> String {
    if id == NodeId::NONE {
        "none".to_string()
    } else {
        id.0.to_string()
    }
}

pub fn role(role: Role) -> &'static str {
    match role {
        Role::Follower => "Follower",
        Role::PreCandidate => "PreCandidate",
        Role::Candidate => "Candidate",
        Role::Leader => "Leader",
    }
}

pub fn message(m: &Message) -> String {
    let mut s = format!("{}->{} {} t{}", m.from.0, m.to.0, m.kind_name(), m.term.0);
    match &m.body {
        MessageBody::RequestVote {
            last_log, transfer, ..
        } => {
            let _ = write!(s, " last={last_log}");
            if *transfer {
                s.push_str(" transfer");
            }
        }
        MessageBody::RequestVoteResponse { granted, .. } => {
            s.push_str(if *granted { " granted" } else { " rejected" });
        }
        MessageBody::AppendEntries {
            prev_log,
            entries: list,
            leader_commit,
            read_round,
        } => {
            let _ = write!(
                s,
                " prev={prev_log} entries={} commit={}",
                entries(list),
                leader_commit.0
            );
            if *read_round > 0 {
                let _ = write!(s, " read={read_round}");
            }
        }
        MessageBody::AppendEntriesResponse {
            success,
            match_index,
            conflict,
            read_round,
        } => {
            if *success {
                let _ = write!(s, " ok match={}", match_index.0);
            } else {
                s.push_str(" reject");
                if *match_index != Index::ZERO {
                    let _ = write!(s, " match={}", match_index.0);
                }
                if let Some(hint) = conflict {
                    let _ = write!(
                        s,
                        " rejected={} hint={}/{}",
                        hint.rejected.0, hint.term.0, hint.index.0
                    );
                }
            }
            if *read_round > 0 {
                let _ = write!(s, " read={read_round}");
            }
        }
        MessageBody::InstallSnapshot {
            meta,
            offset,
            data,
            done,
        } => {
            let _ = write!(
                s,
                " snap={} offset={offset} len={}",
                meta.last_included,
                data.len()
            );
            if *done {
                s.push_str(" done");
            }
        }
        MessageBody::InstallSnapshotResponse {
            last_included,
            next_offset,
            done,
            accepted,
        } => {
            let _ = write!(s, " snap={last_included} next={next_offset}");
            s.push_str(if *accepted { " accepted" } else { " rejected" });
            if *done {
                s.push_str(" done");
            }
        }
        MessageBody::TimeoutNow => {}
    }
    s
}

/// Parses `T/I`.
pub fn parse_entry_id(text: &str) -> Result<EntryId, String> {
    let (term, index) = text
        .split_once('/')
        .ok_or_else(|| format!("expected TERM/INDEX, got `{text}`"))?;
    Ok(EntryId::new(parse_u64(term)?, parse_u64(index)?))
}

pub fn parse_u64(text: &str) -> Result<u64, String> {
    text.parse()
        .map_err(|_| format!("expected a number, got `{text}`"))
}

/// Parses `[1/2 1/3:data]`.
pub fn parse_entries(text: &str) -> Result<Vec<Entry>, String> {
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or_else(|| format!("expected [entries], got `{text}`"))?;
    inner
        .split_whitespace()
        .map(|word| {
            let (id, data) = match word.split_once(':') {
                Some((id, data)) => (id, Some(data)),
                None => (word, None),
            };
            let id = parse_entry_id(id)?;
            Ok(match data {
                Some(data) => Entry::command(id.term, id.index, data.as_bytes().to_vec()),
                None => Entry::empty(id.term, id.index),
            })
        })
        .collect()
}

/// Parses the format `message` prints, from already tokenized words.
pub fn parse_message(words: &[String]) -> Result<Message, String> {
    let usage = || {
        format!(
            "expected `FROM->TO Kind tTERM fields`, got `{}`",
            words.join(" ")
        )
    };
    let [route, kind, term, fields @ ..] = words else {
        return Err(usage());
    };
    let (from, to) = route.split_once("->").ok_or_else(usage)?;
    let term = Term(parse_u64(term.strip_prefix('t').ok_or_else(usage)?)?);
    let mut flags = Vec::new();
    let mut values = std::collections::BTreeMap::new();
    for field in fields {
        match field.split_once('=') {
            Some((key, value)) => {
                values.insert(key, value);
            }
            None => flags.push(field.as_str()),
        }
    }
    let flag = |name: &str| flags.contains(&name);
    let value = |key: &str| values.get(key).copied();
    let number = |key: &str| value(key).map_or(Ok(0), parse_u64);
    let id = |key: &str| value(key).map_or(Ok(EntryId::default()), parse_entry_id);
    let body = match kind.as_str() {
        "RequestVote" | "PreVote" => MessageBody::RequestVote {
            pre_vote: kind == "PreVote",
            last_log: id("last")?,
            transfer: flag("transfer"),
        },
        "RequestVoteResponse" | "PreVoteResponse" => MessageBody::RequestVoteResponse {
            pre_vote: kind == "PreVoteResponse",
            granted: flag("granted"),
        },
        "AppendEntries" => MessageBody::AppendEntries {
            prev_log: id("prev")?,
            entries: value("entries").map_or(Ok(Vec::new()), parse_entries)?,
            leader_commit: Index(number("commit")?),
            read_round: number("read")?,
        },
        "AppendEntriesResponse" => {
            let rejected = Index(number("rejected")?);
            MessageBody::AppendEntriesResponse {
                success: flag("ok"),
                match_index: Index(number("match")?),
                conflict: value("hint")
                    .map(parse_entry_id)
                    .transpose()?
                    .map(|hint| ConflictHint {
                        rejected,
                        term: hint.term,
                        index: hint.index,
                    }),
                read_round: number("read")?,
            }
        }
        "InstallSnapshot" => MessageBody::InstallSnapshot {
            meta: SnapshotMeta {
                last_included: id("snap")?,
            },
            offset: number("offset")?,
            data: vec![b'x'; number("len")? as usize].into(),
            done: flag("done"),
        },
        "InstallSnapshotResponse" => MessageBody::InstallSnapshotResponse {
            last_included: id("snap")?,
            next_offset: number("next")?,
            done: flag("done"),
            accepted: flag("accepted"),
        },
        "TimeoutNow" => MessageBody::TimeoutNow,
        other => return Err(format!("unknown message kind `{other}`")),
    };
    Ok(Message {
        from: NodeId(parse_u64(from)?),
        to: NodeId(parse_u64(to)?),
        term,
        body,
    })
}

#[test]
fn message_format_round_trips() {
    let samples = [
        "1->2 PreVote t3 last=2/7",
        "1->2 RequestVote t3 last=2/7 transfer",
        "2->1 RequestVoteResponse t3 granted",
        "2->1 PreVoteResponse t2 rejected",
        "1->2 AppendEntries t2 prev=1/5 entries=[2/6 2/7:x] commit=5 read=3",
        "1->2 AppendEntries t2 prev=0/0 entries=[] commit=0",
        "2->1 AppendEntriesResponse t2 ok match=7",
        "2->1 AppendEntriesResponse t2 reject rejected=4 hint=1/3 read=2",
        "1->3 InstallSnapshot t2 snap=1/20 offset=7 len=7 done",
        "3->1 InstallSnapshotResponse t2 snap=1/20 next=14 accepted",
        "1->3 TimeoutNow t2",
    ];
    for sample in samples {
        let words = super::script::tokenize(sample).unwrap();
        assert_eq!(message(&parse_message(&words).unwrap()), sample);
    }
}
