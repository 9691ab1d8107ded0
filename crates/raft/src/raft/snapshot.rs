//! InstallSnapshot (§7) in byte-bounded chunks: the leader streams its latest snapshot
//! to a follower that needs compacted entries, one chunk in flight at a time; the
//! follower assembles it, installs it, and hands it to the application.

use super::Raft;
use crate::entry::{Snapshot, SnapshotMeta};
use crate::message::MessageBody;
use crate::tracker::progress::ReplicationState;
use crate::types::{EntryId, NodeId};
use bytes::Bytes;

/// A snapshot being received.
///
/// Invariant: `data` holds the first `data.len()` bytes of the snapshot `meta` names.
#[derive(Debug)]
pub struct IncomingSnapshot {
    /// Which snapshot.
    meta: SnapshotMeta,
    /// The bytes received so far, in order.
    data: Vec<u8>,
}

impl Raft {
    /// Switches `to` to snapshot mode and sends the first chunk.
    pub(super) fn start_snapshot(&mut self, to: NodeId) {
        let last_included = self.log.snapshot().meta.last_included;
        let Some(progress) = self.tracker.progress.get_mut(&to) else {
            return;
        };
        progress.become_snapshot(last_included);
        self.send_snapshot_chunk(to);
    }

    /// Sends the next chunk to `to` if none is in flight.
    pub(super) fn send_snapshot_chunk(&mut self, to: NodeId) {
        let snapshot = self.log.snapshot().clone();
        let Some(progress) = self.tracker.progress.get_mut(&to) else {
            return;
        };
        let ReplicationState::Snapshot {
            last_included,
            acked_offset,
            chunk_in_flight,
        } = &mut progress.state
        else {
            return;
        };
        if *chunk_in_flight {
            return;
        }
        if *last_included != snapshot.meta.last_included {
            // The log was compacted again meanwhile: send the newer snapshot.
            *last_included = snapshot.meta.last_included;
            *acked_offset = 0;
        }
        let start = (*acked_offset as usize).min(snapshot.data.len());
        let end = (start + self.config.snapshot_chunk_bytes).min(snapshot.data.len());
        *chunk_in_flight = true;
        let body = MessageBody::InstallSnapshot {
            meta: snapshot.meta,
            offset: start as u64,
            data: snapshot.data.slice(start..end),
            done: end == snapshot.data.len(),
        };
        self.send(to, body);
    }

    /// The leader's side of InstallSnapshot.
    pub(super) fn handle_snapshot_response(
        &mut self,
        from: NodeId,
        last_included: EntryId,
        next_offset: u64,
        done: bool,
        accepted: bool,
    ) {
        let Some(progress) = self.tracker.progress.get_mut(&from) else {
            return;
        };
        progress.recently_active = true;
        let ReplicationState::Snapshot {
            last_included: sending,
            acked_offset,
            chunk_in_flight,
        } = &mut progress.state
        else {
            return;
        };
        if *sending != last_included {
            return;
        }
        if done && accepted {
            progress.maybe_update(last_included.index);
            progress.become_replicate();
            self.maybe_commit();
            self.send_appends(from);
            return;
        }
        *acked_offset = next_offset;
        *chunk_in_flight = false;
        self.send_snapshot_chunk(from);
    }

    /// A follower receiving one chunk.
    pub(super) fn handle_install_snapshot(
        &mut self,
        from: NodeId,
        meta: SnapshotMeta,
        offset: u64,
        data: Bytes,
        done: bool,
    ) {
        self.follow_leader(from);
        let last_included = meta.last_included;
        if self.log.commit >= last_included.index || self.log.matches(last_included) {
            // We already hold this prefix: keep our log (§7) and just learn the commit.
            if self.log.matches(last_included) {
                self.log.commit_to(last_included.index);
            }
            self.incoming_snapshot = None;
            self.reply_snapshot(from, last_included, offset + data.len() as u64, true, true);
            return;
        }
        let Some(received) = self.receive_chunk(meta, offset, data) else {
            let expected = self
                .incoming_snapshot
                .as_ref()
                .map_or(0, |incoming| incoming.data.len() as u64);
            self.reply_snapshot(from, last_included, expected, false, false);
            return;
        };
        if !done {
            self.reply_snapshot(from, last_included, received, false, true);
            return;
        }
        let incoming = self
            .incoming_snapshot
            .take()
            .expect("a chunk was just received");
        self.log.install_snapshot(Snapshot {
            meta: incoming.meta,
            data: Bytes::from(incoming.data),
        });
        self.reply_snapshot(from, last_included, received, true, true);
    }

    /// Adds a chunk to the snapshot being assembled; returns the bytes received so far,
    /// or None if the chunk does not continue it.
    fn receive_chunk(&mut self, meta: SnapshotMeta, offset: u64, data: Bytes) -> Option<u64> {
        if offset == 0 {
            self.incoming_snapshot = Some(IncomingSnapshot {
                meta,
                data: Vec::new(),
            });
        }
        let incoming = self.incoming_snapshot.as_mut()?;
        if incoming.meta != meta || incoming.data.len() as u64 != offset {
            return None;
        }
        incoming.data.extend_from_slice(&data);
        Some(incoming.data.len() as u64)
    }

    fn reply_snapshot(
        &mut self,
        to: NodeId,
        last_included: EntryId,
        next_offset: u64,
        done: bool,
        accepted: bool,
    ) {
        self.send(
            to,
            MessageBody::InstallSnapshotResponse {
                last_included,
                next_offset,
                done,
                accepted,
            },
        );
    }
}
