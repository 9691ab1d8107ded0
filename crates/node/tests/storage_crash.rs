//! A child process (`src/bin/wal-crash-child.rs`) appends with group commit and prints
//! each index once it is durable; it is killed with SIGKILL at a random moment, 50 times,
//! and after each kill every acknowledged entry must be recovered intact.
//!
//! The kill moment is random (a random number of acknowledgements, then a random few
//! hundred microseconds), so it lands inside writes, fsyncs, segment rollovers, snapshot
//! writes and recovery itself. Replay with `STORAGE_CRASH_SEED=<seed>`.

use bytes::Bytes;
use node::storage::{DiskStorage, StorageOptions};
use raft::Term;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Same as `payload` in `src/bin/wal-crash-child.rs`.
fn payload(index: u64) -> Bytes {
    Bytes::from(format!(
        "entry {index:>12} {}",
        "x".repeat((index % 97) as usize)
    ))
}

const SEGMENT_SIZE_BYTES: &str = "4096";

#[test]
fn acknowledged_entries_survive_sigkill() {
    let seed = std::env::var("STORAGE_CRASH_SEED")
        .map(|s| s.parse().expect("STORAGE_CRASH_SEED is a u64"))
        .unwrap_or_else(|_| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("STORAGE_CRASH_SEED={seed}");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut acknowledged = 0;
    let mut snapshots_seen = 0;
    let mut torn_tails = 0;
    for round in 0..50 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wal-crash-child"))
            .arg(dir.path())
            .arg(SEGMENT_SIZE_BYTES)
            .arg(rng.gen::<u64>().max(1).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn wal-crash-child");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let wanted = rng.gen_range(0..12);
        let mut seen = 0;
        while seen < wanted {
            match lines.next() {
                Some(Ok(line)) => {
                    acknowledged = acknowledged.max(line.parse::<u64>().unwrap());
                    seen += 1;
                }
                _ => break, // the child ended on its own: reported below
            }
        }
        std::thread::sleep(Duration::from_micros(rng.gen_range(0..800)));
        // SAFETY: kill(2) on the pid of a child we spawned and have not yet reaped.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
        let status = child.wait().unwrap();
        // Acknowledgements printed before the kill are still in the pipe.
        for line in lines.map_while(Result::ok) {
            if let Ok(index) = line.parse::<u64>() {
                acknowledged = acknowledged.max(index);
            }
        }
        if status.code().is_some() {
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            panic!("seed {seed} round {round}: the child exited by itself ({status}): {stderr}");
        }

        let options = StorageOptions {
            segment_size_bytes: SEGMENT_SIZE_BYTES.parse().unwrap(),
            ..StorageOptions::default()
        };
        let (storage, recovered) = DiskStorage::open(dir.path(), options)
            .unwrap_or_else(|error| panic!("seed {seed} round {round}: reopen: {error}"));
        // A kill inside a write(2) leaves a record cut short: recovery cuts it.
        torn_tails += u32::from(storage.recovery_report().torn_tail.is_some());
        let snapshot = recovered.snapshot.meta.last_included;
        let last = snapshot.index.0 + recovered.entries.len() as u64;
        assert!(
            last >= acknowledged,
            "seed {seed} round {round}: acknowledged {acknowledged}, recovered up to {last}"
        );
        if snapshot.index.0 > 0 {
            snapshots_seen += 1;
            assert_eq!(
                recovered.snapshot.data,
                payload(snapshot.index.0),
                "seed {seed}"
            );
        }
        for (offset, entry) in recovered.entries.iter().enumerate() {
            let index = snapshot.index.0 + 1 + offset as u64;
            assert_eq!(entry.index.0, index, "seed {seed} round {round}");
            assert_eq!(entry.term, Term(1));
            assert_eq!(
                entry.payload,
                raft::EntryPayload::Command(payload(index)),
                "seed {seed} round {round}: entry {index}"
            );
        }
        drop(storage);
    }
    println!(
        "50 kills: {acknowledged} entries acknowledged in all, a snapshot recovered in \
         {snapshots_seen} rounds, a torn tail cut in {torn_tails} rounds"
    );
    assert!(acknowledged > 50, "seed {seed}: the child made progress");
}
