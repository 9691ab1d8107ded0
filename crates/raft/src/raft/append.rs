//! A follower receiving AppendEntries (§5.3): the consistency check, overwriting a
//! conflicting suffix (never a committed entry), and learning the commit index.

use super::Raft;
use crate::entry::Entry;
use crate::message::MessageBody;
use crate::types::{EntryId, Index, NodeId};

impl Raft {
    /// Handles AppendEntries from the leader of the current term.
    pub(super) fn handle_append_entries(
        &mut self,
        from: NodeId,
        prev_log: EntryId,
        entries: Vec<Entry>,
        leader_commit: Index,
        read_round: u64,
    ) {
        if self.role == crate::ready::Role::Leader {
            // Two leaders in one term cannot happen (§5.2); a forged message can.
            return;
        }
        self.follow_leader(from);
        let (prev_log, entries) = self.skip_committed(prev_log, entries);
        if !self.log.matches(prev_log) {
            let conflict = Some(self.log.conflict_hint(prev_log.index));
            let body = MessageBody::AppendEntriesResponse {
                success: false,
                match_index: Index::ZERO,
                conflict,
                read_round,
            };
            self.send(from, body);
            return;
        }
        let last_new = Index(prev_log.index.0 + entries.len() as u64);
        self.append_unless_present(entries);
        self.log.commit_to(leader_commit.min(last_new));
        let body = MessageBody::AppendEntriesResponse {
            success: true,
            match_index: last_new,
            conflict: None,
            read_round,
        };
        self.send(from, body);
    }

    /// Drops the entries at or below our commit index: committed entries match the
    /// leader's (Leader Completeness, §5.4), and they may already be compacted away.
    fn skip_committed(&self, prev_log: EntryId, mut entries: Vec<Entry>) -> (EntryId, Vec<Entry>) {
        let commit = self.log.commit;
        if prev_log.index >= commit {
            return (prev_log, entries);
        }
        let skip = ((commit.0 - prev_log.index.0) as usize).min(entries.len());
        let prev_log = match skip {
            0 => prev_log,
            _ => entries[skip - 1].id(),
        };
        entries.drain(..skip);
        if entries.is_empty() && prev_log.index < commit {
            // Everything this message carries is already committed here.
            return (self.log.entry_id_at(commit).unwrap_or(prev_log), entries);
        }
        (prev_log, entries)
    }

    /// Appends the entries we do not hold yet, truncating our log at the first conflict.
    /// Entries we already hold are left alone: a delayed, shorter AppendEntries must not
    /// cut off entries a later one added.
    fn append_unless_present(&mut self, entries: Vec<Entry>) {
        let first_new = entries
            .iter()
            .position(|entry| !self.log.matches(entry.id()));
        let Some(first_new) = first_new else { return };
        let conflict_at = entries[first_new].index;
        if conflict_at <= self.log.last_index() {
            self.log.truncate_from(conflict_at);
        }
        self.log.append(entries.into_iter().skip(first_new));
    }
}
