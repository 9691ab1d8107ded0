//! One WAL segment file: its name, its header, and the scan that splits it into records
//! and decides whether a bad tail is a torn write (truncated) or corruption (an error).
//!
//! ```text
//! segment = header (32 bytes) ++ frame*          (the first frame is a checkpoint)
//! header  = magic "RAFTKVWL" | version: u32 LE | flags: u32 LE (0) | seq: u64 LE
//!           | store_id: u64 LE | header_crc: u32 LE (crc32c of bytes 0..32) | 0u32
//!           (store_id: random, chosen when the store is created, the same in every
//!           segment of it, so a segment from another store is never replayed)
//! name    = <seq, 20 decimal digits>.wal           (seq = 1, 2, 3, ... without gaps)
//! ```

use super::record::{read_frame, FrameError};
use crate::storage::file::corrupt;
use raft::StorageError;
use std::path::Path;

/// Identifies a WAL segment file.
pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"RAFTKVWL";
/// The segment format this build writes and reads.
pub(crate) const SEGMENT_VERSION: u32 = 1;
/// Bytes of a segment header.
pub(crate) const SEGMENT_HEADER_LEN: usize = 40;
/// Sector size assumed by the torn-write rule: a power loss leaves whole sectors unwritten.
const SECTOR_BYTES: usize = 512;

/// The file name of segment `seq`.
pub(crate) fn segment_file_name(seq: u64) -> String {
    format!("{seq:020}.wal")
}

/// The sequence number in a segment file name, if `name` is one.
pub(crate) fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".wal")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The header of segment `seq` of store `store_id`.
pub(crate) fn encode_segment_header(seq: u64, store_id: u64) -> [u8; SEGMENT_HEADER_LEN] {
    let mut header = [0u8; SEGMENT_HEADER_LEN];
    header[0..8].copy_from_slice(&SEGMENT_MAGIC);
    header[8..12].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
    header[16..24].copy_from_slice(&seq.to_le_bytes());
    header[24..32].copy_from_slice(&store_id.to_le_bytes());
    let crc = crc32c::crc32c(&header[0..32]);
    header[32..36].copy_from_slice(&crc.to_le_bytes());
    header
}

/// A fresh random store id (std's hasher keys come from the OS's random source).
pub(crate) fn new_store_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// A record found by [`scan_segment`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ScannedRecord {
    /// Offset of its frame in the file.
    pub offset: usize,
    /// Its kind byte.
    pub kind: u8,
    /// Offset of its body.
    pub body_start: usize,
    /// Offset just past it.
    pub end: usize,
}

/// What [`scan_segment`] found in one file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ScannedSegment {
    /// The valid records, in order.
    pub records: Vec<ScannedRecord>,
    /// Bytes of valid data: header plus complete records.
    pub valid_len: usize,
    /// In the last segment only: why the bytes after `valid_len` were judged a torn write.
    pub torn: Option<String>,
    /// In the last segment only: the header itself never fully reached the disk (the
    /// segment was being created); the whole file holds nothing.
    pub torn_header: bool,
    /// The store id in the header (0 if `torn_header`).
    pub store_id: u64,
}

/// Splits `data` (the content of segment `seq` at `path`) into records. `store_id`, if
/// known (from an earlier segment), must match the header's.
///
/// In a segment that is not the last one, anything but a sequence of valid records is an
/// error. In the last segment a bad tail is a torn write (an unacknowledged write cut by a
/// crash) when the frame at its start is incomplete (the file ends inside it), or every
/// byte from it to the end of the file is zero (the file grew but the data never reached
/// the disk), or its body fails its checksum and contains a whole 512-byte sector of
/// zeros (a sector of the write never reached the disk). Any other bad frame is
/// corruption: an error naming the file and offset, never a silent truncation.
pub(crate) fn scan_segment(
    path: &Path,
    data: &[u8],
    seq: u64,
    store_id: Option<u64>,
    is_last: bool,
) -> Result<ScannedSegment, StorageError> {
    if let Some(torn) = check_header(path, data, seq, is_last)? {
        return Ok(ScannedSegment {
            torn: Some(torn),
            torn_header: true,
            ..ScannedSegment::default()
        });
    }
    let found = u64::from_le_bytes(data[24..32].try_into().unwrap());
    if let Some(expected) = store_id.filter(|&expected| expected != found) {
        return Err(corrupt(
            path,
            24,
            format!(
                "segment belongs to another store (store id {found:#018x}, the log's first \
                 segment has {expected:#018x})"
            ),
        ));
    }
    let mut scanned = ScannedSegment {
        valid_len: SEGMENT_HEADER_LEN,
        store_id: found,
        ..ScannedSegment::default()
    };
    let mut at = SEGMENT_HEADER_LEN;
    while at < data.len() {
        match read_frame(data, at) {
            Ok(frame) => {
                scanned.records.push(ScannedRecord {
                    offset: at,
                    kind: frame.kind,
                    body_start: frame.body_start,
                    end: frame.end,
                });
                at = frame.end;
                scanned.valid_len = at;
            }
            Err(error) => {
                if is_last && is_torn_write(data, at, &error) {
                    scanned.torn = Some(error.to_string());
                    return Ok(scanned);
                }
                let hint = if is_last {
                    ""
                } else {
                    " (not the last segment, so not a torn write)"
                };
                return Err(corrupt(path, at as u64, format!("{error}{hint}")));
            }
        }
    }
    Ok(scanned)
}

/// Validates the header; `Ok(Some(reason))` when it is a torn write in the last segment.
fn check_header(
    path: &Path,
    data: &[u8],
    seq: u64,
    is_last: bool,
) -> Result<Option<String>, StorageError> {
    let all_zero = data.iter().all(|&b| b == 0);
    if data.len() < SEGMENT_HEADER_LEN || all_zero {
        let reason = format!(
            "segment header incomplete ({} bytes{})",
            data.len(),
            if all_zero { ", all zero" } else { "" }
        );
        if is_last && (all_zero || SEGMENT_MAGIC.starts_with(&data[..data.len().min(8)])) {
            return Ok(Some(reason));
        }
        return Err(corrupt(path, 0, reason));
    }
    if data[0..8] != SEGMENT_MAGIC {
        return Err(corrupt(
            path,
            0,
            format!(
                "not a raftkv WAL segment (magic {:?}, expected {:?})",
                String::from_utf8_lossy(&data[0..8]),
                String::from_utf8_lossy(&SEGMENT_MAGIC)
            ),
        ));
    }
    let version = u32::from_le_bytes(data[8..12].try_into().unwrap());
    if version != SEGMENT_VERSION {
        return Err(corrupt(
            path,
            8,
            format!("WAL format version {version}; this build reads version {SEGMENT_VERSION}"),
        ));
    }
    let stored = u32::from_le_bytes(data[32..36].try_into().unwrap());
    let computed = crc32c::crc32c(&data[0..32]);
    if stored != computed {
        return Err(corrupt(
            path,
            32,
            format!(
                "segment header checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
            ),
        ));
    }
    if data[36..40] != [0; 4] {
        return Err(corrupt(
            path,
            36,
            "segment header reserved bytes are not zero",
        ));
    }
    let stored_seq = u64::from_le_bytes(data[16..24].try_into().unwrap());
    if stored_seq != seq {
        return Err(corrupt(
            path,
            16,
            format!("segment header says sequence {stored_seq}, file name says {seq}"),
        ));
    }
    Ok(None)
}

/// The torn-write rule of [`scan_segment`] for a bad frame at `at` in the last segment.
fn is_torn_write(data: &[u8], at: usize, error: &FrameError) -> bool {
    match error {
        FrameError::IncompleteHeader { .. } | FrameError::IncompleteBody { .. } => true,
        FrameError::HeaderChecksum { .. } => data[at..].iter().all(|&b| b == 0),
        FrameError::BodyChecksum { .. } => {
            if data[at..].iter().all(|&b| b == 0) {
                return true;
            }
            let body_len = u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
            let end = at + super::record::FRAME_HEADER_LEN + body_len;
            let mut sector = at.div_ceil(SECTOR_BYTES) * SECTOR_BYTES;
            while sector + SECTOR_BYTES <= end {
                if data[sector..sector + SECTOR_BYTES].iter().all(|&b| b == 0) {
                    return true;
                }
                sector += SECTOR_BYTES;
            }
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::{encode_frame, CheckpointRecord, RecordKind};
    use super::*;

    fn segment(records: usize) -> Vec<u8> {
        let mut data = encode_segment_header(3, 77).to_vec();
        for i in 0..records {
            let record = CheckpointRecord {
                hard_state: None,
                snapshot: None,
                last_index: i as u64,
            };
            encode_frame(RecordKind::Checkpoint, &record, &mut data);
        }
        data
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(segment_file_name(42), "00000000000000000042.wal");
        assert_eq!(parse_segment_file_name(&segment_file_name(42)), Some(42));
        assert_eq!(parse_segment_file_name("42.wal"), None);
        assert_eq!(parse_segment_file_name("0000000000000000004x.wal"), None);
    }

    #[test]
    fn clean_segment_scans_whole() {
        let data = segment(3);
        let scanned = scan_segment(Path::new("s"), &data, 3, None, false).unwrap();
        assert_eq!(scanned.records.len(), 3);
        assert_eq!(scanned.valid_len, data.len());
        assert_eq!(scanned.torn, None);
    }

    #[test]
    fn zero_tail_is_torn_only_in_last_segment() {
        let mut data = segment(2);
        let valid = data.len();
        data.extend_from_slice(&[0u8; 100]);
        let scanned = scan_segment(Path::new("s"), &data, 3, None, true).unwrap();
        assert_eq!((scanned.valid_len, scanned.records.len()), (valid, 2));
        assert!(scanned.torn.is_some());
        let error = scan_segment(Path::new("s"), &data, 3, None, false).unwrap_err();
        assert!(
            error.to_string().contains(&format!("at byte {valid}")),
            "{error}"
        );
    }

    #[test]
    fn other_version_and_wrong_seq_are_errors() {
        let mut data = segment(1);
        data[8] = 2;
        let error = scan_segment(Path::new("seg"), &data, 3, None, true).unwrap_err();
        assert!(error.to_string().contains("version 2"), "{error}");
        let data = segment(1);
        assert!(scan_segment(Path::new("seg"), &data, 4, None, true).is_err());
    }

    #[test]
    fn a_segment_of_another_store_is_an_error() {
        let data = segment(1);
        assert!(scan_segment(Path::new("s"), &data, 3, Some(77), true).is_ok());
        let error = scan_segment(Path::new("s"), &data, 3, Some(78), true).unwrap_err();
        assert!(error.to_string().contains("another store"), "{error}");
    }

    #[test]
    fn header_cut_short_in_last_segment_is_torn() {
        let data = segment(0);
        for cut in 0..SEGMENT_HEADER_LEN {
            let scanned = scan_segment(Path::new("s"), &data[..cut], 3, None, true).unwrap();
            assert!(scanned.torn_header, "cut {cut}");
        }
    }
}
