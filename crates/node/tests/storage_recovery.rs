//! Recovery on open: torn tails are cut, everything else damaged is an error naming the
//! file and byte offset.

mod storage_common;

use node::storage::{DiskStorage, StorageOptions};
use raft::{HardState, Index, NodeId, Storage, Term};
use std::path::Path;
use storage_common::*;

/// Writes requests 1..=count, each appending one entry (and the last one also a hard
/// state), syncing each. Returns the byte range of every record in the single segment.
fn write_records(dir: &Path, count: u64) -> Vec<(u64, u64)> {
    let (mut storage, _) = open(dir, fast_options(1 << 30));
    let mut ranges = Vec::new();
    for i in 1..=count {
        let before = storage.wal_size_bytes();
        let mut request = append(i, i, 1, 1);
        if i == count {
            request.hard_state = Some(HardState {
                term: Term(2),
                vote: NodeId(3),
                commit: Index(i),
            });
        }
        storage.persist(&request).unwrap();
        ranges.push((before, storage.wal_size_bytes()));
    }
    assert_eq!(segment_files(dir).len(), 1);
    ranges
}

fn set_len(path: &Path, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

#[test]
fn torn_last_record_is_cut_at_every_offset() {
    let dir = tempfile::tempdir().unwrap();
    let ranges = write_records(dir.path(), 8);
    let segment = &segment_files(dir.path())[0];
    let full = std::fs::read(segment).unwrap();
    let (start, end) = *ranges.last().unwrap();
    assert_eq!(end, full.len() as u64);
    for cut in start..=end {
        std::fs::write(segment, &full[..cut as usize]).unwrap();
        let (mut storage, recovered) = open(dir.path(), fast_options(1 << 30));
        let report = storage.recovery_report().clone();
        if cut == end {
            assert_eq!(indexes(&recovered.entries), (1..=8).collect::<Vec<_>>());
            assert_eq!(recovered.hard_state.term, Term(2));
            assert_eq!(report.torn_tail, None);
            continue;
        }
        // Exactly the complete records remain; the torn request's hard state is not half-applied.
        assert_eq!(
            indexes(&recovered.entries),
            (1..=7).collect::<Vec<_>>(),
            "cut at {cut}"
        );
        assert_eq!(recovered.entries[6], entry(1, 7));
        assert_eq!(recovered.hard_state, HardState::default(), "cut at {cut}");
        match report.torn_tail {
            None => assert_eq!(cut, start, "a cut inside the record must be reported"),
            Some(torn) => {
                assert_eq!((torn.offset, torn.dropped_bytes), (start, cut - start));
                assert_eq!(&torn.file, segment);
            }
        }
        assert_eq!(std::fs::metadata(segment).unwrap().len(), start);
        // The log continues cleanly after the cut.
        storage.persist(&append(100, 8, 1, 1)).unwrap();
        drop(storage);
        let (_, recovered) = open(dir.path(), fast_options(1 << 30));
        assert_eq!(indexes(&recovered.entries), (1..=8).collect::<Vec<_>>());
    }
}

#[test]
fn torn_last_record_is_cut_in_a_multi_segment_log() {
    let dir = tempfile::tempdir().unwrap();
    let (mut storage, _) = open(dir.path(), fast_options(300));
    for i in 1..=20 {
        storage.persist(&append(i, i, 1, 1)).unwrap();
    }
    let files = segment_files(dir.path());
    assert!(files.len() >= 4, "{} segments", files.len());
    drop(storage);
    let last = files.last().unwrap();
    let len = std::fs::metadata(last).unwrap().len();
    set_len(last, len - 3);
    let (storage, recovered) = open(dir.path(), fast_options(300));
    assert_eq!(indexes(&recovered.entries), (1..=19).collect::<Vec<_>>());
    assert!(storage.recovery_report().torn_tail.is_some());
}

#[test]
fn a_zero_filled_tail_is_a_torn_write_but_garbage_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    write_records(dir.path(), 3);
    let segment = &segment_files(dir.path())[0];
    let full = std::fs::read(segment).unwrap();

    let mut zeros = full.clone();
    zeros.extend_from_slice(&[0u8; 700]);
    std::fs::write(segment, &zeros).unwrap();
    let (storage, recovered) = open(dir.path(), fast_options(1 << 30));
    assert_eq!(recovered.entries.len(), 3);
    assert_eq!(
        storage
            .recovery_report()
            .torn_tail
            .as_ref()
            .unwrap()
            .dropped_bytes,
        700
    );
    drop(storage);

    let mut garbage = full.clone();
    garbage.extend_from_slice(&[0xA5u8; 64]);
    std::fs::write(segment, &garbage).unwrap();
    let error = DiskStorage::open(dir.path(), fast_options(1 << 30))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(&segment.display().to_string())
            && error.contains(&format!("at byte {}", full.len())),
        "{error}"
    );
}

#[test]
fn a_flipped_bit_in_a_middle_record_is_an_error_naming_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let ranges = write_records(dir.path(), 10);
    let segment = &segment_files(dir.path())[0];
    let good = std::fs::read(segment).unwrap();
    let (start, end) = ranges[4];
    for byte in start..end {
        let mut bad = good.clone();
        bad[byte as usize] ^= 1 << (byte % 8);
        std::fs::write(segment, &bad).unwrap();
        let error = DiskStorage::open(dir.path(), fast_options(1 << 30))
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(&segment.display().to_string())
                && error.contains(&format!("at byte {start}")),
            "flip in byte {byte}: {error}"
        );
        assert!(error.contains("checksum mismatch"), "{error}");
    }
    // Restored, it opens with everything.
    std::fs::write(segment, &good).unwrap();
    assert_eq!(open(dir.path(), fast_options(1 << 30)).1.entries.len(), 10);
}

#[test]
fn damage_in_a_closed_segment_is_never_taken_for_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (mut storage, _) = open(dir.path(), fast_options(400));
    for i in 1..=30 {
        storage.persist(&append(i, i, 1, 1)).unwrap();
    }
    drop(storage);
    let files = segment_files(dir.path());
    let first = &files[0];
    let len = std::fs::metadata(first).unwrap().len();
    // Cutting a closed segment's last record is corruption, not a torn write.
    set_len(first, len - 5);
    let error = DiskStorage::open(dir.path(), fast_options(400))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(&first.display().to_string()) && error.contains("not the last segment"),
        "{error}"
    );
}

#[test]
fn a_missing_segment_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (mut storage, _) = open(dir.path(), fast_options(300));
    for i in 1..=30 {
        storage.persist(&append(i, i, 1, 1)).unwrap();
    }
    drop(storage);
    let files = segment_files(dir.path());
    assert!(files.len() >= 4);

    let saved = std::fs::read(&files[1]).unwrap();
    std::fs::remove_file(&files[1]).unwrap();
    let error = DiskStorage::open(dir.path(), fast_options(300))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("missing") && error.contains(&files[0].display().to_string()),
        "{error}"
    );
    std::fs::write(&files[1], saved).unwrap();

    // The oldest segment gone (no snapshot covers it): its entries are missing.
    std::fs::remove_file(&files[0]).unwrap();
    let error = DiskStorage::open(dir.path(), fast_options(300))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("missing") && error.contains(&files[1].display().to_string()),
        "{error}"
    );
}

#[test]
fn a_segment_replaced_by_another_stores_is_an_error() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for (dir, term) in [(a.path(), 1), (b.path(), 2)] {
        let (mut storage, _) = open(dir, fast_options(300));
        for i in 1..=30 {
            storage.persist(&append(i, i, 1, term)).unwrap();
        }
    }
    let (files_a, files_b) = (segment_files(a.path()), segment_files(b.path()));
    std::fs::copy(&files_b[2], &files_a[2]).unwrap();
    let error = DiskStorage::open(a.path(), fast_options(300))
        .unwrap_err()
        .to_string();
    assert!(error.contains(&files_a[2].display().to_string()), "{error}");
}

#[test]
fn files_of_another_format_version_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (mut storage, _) = open(dir.path(), fast_options(1 << 20));
    storage.persist(&append(1, 1, 5, 1)).unwrap();
    storage.persist(&snapshot(2, 3, 1)).unwrap();
    drop(storage);

    let segment = &segment_files(dir.path())[0];
    let good = std::fs::read(segment).unwrap();
    let mut other = good.clone();
    other[8] = 2; // version field
    std::fs::write(segment, &other).unwrap();
    let error = DiskStorage::open(dir.path(), fast_options(1 << 20))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(&segment.display().to_string())
            && error.contains("at byte 8")
            && error.contains("version 2"),
        "{error}"
    );
    std::fs::write(segment, &good).unwrap();

    let snapshot_file = &snapshot_files(dir.path())[0];
    let mut other = std::fs::read(snapshot_file).unwrap();
    other[8] = 9;
    std::fs::write(snapshot_file, &other).unwrap();
    let error = DiskStorage::open(dir.path(), fast_options(1 << 20))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(&snapshot_file.display().to_string()) && error.contains("version 9"),
        "{error}"
    );
}

#[test]
fn a_missing_snapshot_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (mut storage, _) = open(dir.path(), StorageOptions::default());
    storage.persist(&append(1, 1, 5, 1)).unwrap();
    storage.persist(&snapshot(2, 3, 1)).unwrap();
    drop(storage);
    std::fs::remove_file(&snapshot_files(dir.path())[0]).unwrap();
    let error = DiskStorage::open(dir.path(), StorageOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("snapshot") && error.contains("missing"),
        "{error}"
    );
}

#[test]
fn a_segment_being_created_when_the_node_stopped_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (mut storage, _) = open(dir.path(), fast_options(300));
    for i in 1..=10 {
        storage.persist(&append(i, i, 1, 1)).unwrap();
    }
    drop(storage);
    let files = segment_files(dir.path());
    let last = files.last().unwrap();
    // A new segment whose header never fully reached the disk.
    let next_name = format!("{:020}.wal", files.len() + 1);
    let next = last.with_file_name(next_name);
    std::fs::write(&next, &std::fs::read(last).unwrap()[..10]).unwrap();
    let (mut storage, recovered) = open(dir.path(), fast_options(300));
    assert_eq!(recovered.entries.len(), 10);
    assert_eq!(storage.recovery_report().removed_files, vec![next.clone()]);
    storage.persist(&append(11, 11, 1, 1)).unwrap();
    drop(storage);
    assert_eq!(open(dir.path(), fast_options(300)).1.entries.len(), 11);
}
