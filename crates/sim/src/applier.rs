//! The tester's appliers (the lab's `applier` and `applierSnap`): each server's copy
//! of what it applied, checked against every other server's copy as entries arrive.

use crate::command::Cmd;

/// What a server's applied-log copy holds at one index.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Slot {
    /// Nothing applied at this index (yet).
    #[default]
    Missing,
    /// An empty (leader no-op) entry: applied, but carries no command.
    Empty,
    /// An applied command.
    Command(Cmd),
}

/// Which of the lab's two appliers the servers run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplierKind {
    /// `applier`: checks values and order, never snapshots.
    Plain,
    /// `applierSnap`: strict `lastApplied + 1` order, snapshot every 10 entries.
    Snapshot,
}

/// The lab's `SnapShotInterval`.
pub const SNAPSHOT_INTERVAL: u64 = 10;

/// One server's applied-log copy (the lab's `logs[i]`, `lastApplied[i]`).
#[derive(Clone, Debug, Default)]
pub struct AppliedLog {
    slots: Vec<Slot>,
    /// Last index applied (or ingested from a snapshot) since the server started.
    pub last_applied: u64,
}

impl AppliedLog {
    /// The slot at `index`.
    pub fn get(&self, index: u64) -> &Slot {
        self.slots.get(index as usize).unwrap_or(&Slot::Missing)
    }

    fn set(&mut self, index: u64, slot: Slot) {
        let i = index as usize;
        if self.slots.len() <= i {
            self.slots.resize(i + 1, Slot::Missing);
        }
        self.slots[i] = slot;
    }
}

/// What the applier asks of its Raft after an entry.
#[derive(Debug)]
pub enum AfterApply {
    /// Nothing.
    Continue,
    /// Call `raft.snapshot(index, data)` now (synchronously, as `applierSnap` does).
    Snapshot {
        /// Last index the snapshot covers.
        index: u64,
        /// The encoded `(index, xlog)`.
        data: Vec<u8>,
    },
}

/// Every server's applied-log copy and the lab's cross-server checks.
pub struct Appliers {
    kind: ApplierKind,
    logs: Vec<AppliedLog>,
    /// Highest index any server applied (the lab's `maxIndex`, for the commits column).
    pub max_index: u64,
}

impl Appliers {
    /// Appliers of `kind` for `servers` servers.
    pub fn new(kind: ApplierKind, servers: usize) -> Appliers {
        Appliers {
            kind,
            logs: vec![AppliedLog::default(); servers],
            max_index: 0,
        }
    }

    /// Which applier runs.
    pub fn kind(&self) -> ApplierKind {
        self.kind
    }

    /// Server `i`'s copy.
    pub fn log(&self, i: usize) -> &AppliedLog {
        &self.logs[i]
    }

    /// All copies.
    pub fn logs(&self) -> &[AppliedLog] {
        &self.logs
    }

    /// Server `i` applies the committed entry at `index`.
    pub fn apply_entry(&mut self, i: usize, index: u64, slot: Slot) -> Result<AfterApply, String> {
        if self.kind == ApplierKind::Snapshot && index != self.logs[i].last_applied + 1 {
            return Err(format!(
                "server {i} apply out of order, expected index {}, got {index}",
                self.logs[i].last_applied + 1
            ));
        }
        let prev_ok = self.check_logs(i, index, slot)?;
        if index > 1 && !prev_ok {
            return Err(format!("server {i} apply out of order {index}"));
        }
        self.logs[i].last_applied = index;
        if self.kind == ApplierKind::Snapshot && index % SNAPSHOT_INTERVAL == SNAPSHOT_INTERVAL - 1
        {
            let data = encode_snapshot(index, &self.logs[i].slots);
            return Ok(AfterApply::Snapshot { index, data });
        }
        Ok(AfterApply::Continue)
    }

    /// The lab's `checkLogs`: no server may hold a different value at `index`.
    /// Returns whether `index - 1` was already in this server's copy.
    fn check_logs(&mut self, i: usize, index: u64, slot: Slot) -> Result<bool, String> {
        for (j, other) in self.logs.iter().enumerate() {
            let old = other.get(index);
            if *old != Slot::Missing && *old != slot {
                return Err(format!(
                    "commit index={index} server={i} {slot:?} != server={j} {old:?}"
                ));
            }
        }
        let prev_ok = index > 0 && *self.logs[i].get(index - 1) != Slot::Missing;
        self.logs[i].set(index, slot);
        self.max_index = self.max_index.max(index);
        Ok(prev_ok)
    }

    /// Server `i`'s Raft delivered a snapshot (the lab's `ingestSnap` with an index),
    /// or the tester read one from a restarting server's disk (`index == None`).
    pub fn ingest_snapshot(
        &mut self,
        i: usize,
        data: &[u8],
        index: Option<u64>,
    ) -> Result<(), String> {
        let (last_included, slots) = decode_snapshot(data)?;
        if index.is_some_and(|index| index != last_included) {
            return Err(format!("server {i} snapshot doesn't match m.SnapshotIndex"));
        }
        self.logs[i].slots = slots;
        self.logs[i].last_applied = last_included;
        Ok(())
    }

    /// Server `i` restarted: it has applied nothing yet (its copy is kept, as in the lab).
    pub fn on_restart(&mut self, i: usize) {
        self.logs[i].last_applied = 0;
    }
}

/// Encodes `(index, xlog[0..=index])` as `applierSnap` does with labgob.
pub fn encode_snapshot(index: u64, slots: &[Slot]) -> Vec<u8> {
    let count = index as usize + 1;
    let mut out = Vec::with_capacity(16 + count * 8);
    out.extend_from_slice(&index.to_le_bytes());
    out.extend_from_slice(&(count as u64).to_le_bytes());
    for k in 0..count {
        match slots.get(k).unwrap_or(&Slot::Missing) {
            Slot::Missing => out.push(0),
            Slot::Empty => out.push(1),
            Slot::Command(cmd) => {
                out.push(2);
                out.extend_from_slice(&(cmd.len() as u32).to_le_bytes());
                out.extend_from_slice(cmd.bytes());
            }
        }
    }
    out
}

/// Decodes what [`encode_snapshot`] wrote.
pub fn decode_snapshot(data: &[u8]) -> Result<(u64, Vec<Slot>), String> {
    let mut reader = Reader { data, at: 0 };
    let index = reader.u64()?;
    let count = reader.u64()? as usize;
    let mut slots = Vec::with_capacity(count);
    for _ in 0..count {
        slots.push(match reader.byte()? {
            0 => Slot::Missing,
            1 => Slot::Empty,
            2 => {
                let len = reader.u32()? as usize;
                Slot::Command(Cmd(reader.take(len)?.to_vec()))
            }
            tag => return Err(format!("snapshot decode error: bad tag {tag}")),
        });
    }
    Ok((index, slots))
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(len)
            .filter(|&end| end <= self.data.len());
        let end = end.ok_or_else(|| "snapshot decode error: truncated".to_string())?;
        let bytes = &self.data[self.at..end];
        self.at = end;
        Ok(bytes)
    }

    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        let bytes = self.take(4)?;
        Ok(u32::from_le_bytes(bytes.try_into().expect("4 bytes")))
    }

    fn u64(&mut self) -> Result<u64, String> {
        let bytes = self.take(8)?;
        Ok(u64::from_le_bytes(bytes.try_into().expect("8 bytes")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_round_trips() {
        let slots = vec![
            Slot::Missing,
            Slot::Command(Cmd::from(5u64)),
            Slot::Empty,
            Slot::Command(Cmd::from("abc")),
        ];
        let data = encode_snapshot(3, &slots);
        assert_eq!(decode_snapshot(&data).unwrap(), (3, slots));
    }

    #[test]
    fn detects_conflicting_values_and_gaps() {
        let mut a = Appliers::new(ApplierKind::Plain, 2);
        a.apply_entry(0, 1, Slot::Command(Cmd::from(1u64))).unwrap();
        assert!(a.apply_entry(1, 1, Slot::Command(Cmd::from(2u64))).is_err());
        assert!(a.apply_entry(1, 3, Slot::Command(Cmd::from(3u64))).is_err());
    }

    #[test]
    fn snapshot_applier_requests_snapshots_every_ten() {
        let mut a = Appliers::new(ApplierKind::Snapshot, 1);
        for i in 1..=8 {
            let r = a.apply_entry(0, i, Slot::Command(Cmd::from(i))).unwrap();
            assert!(matches!(r, AfterApply::Continue));
        }
        let r = a.apply_entry(0, 9, Slot::Command(Cmd::from(9u64))).unwrap();
        assert!(matches!(r, AfterApply::Snapshot { index: 9, .. }));
        assert!(a.apply_entry(0, 11, Slot::Empty).is_err());
    }
}
