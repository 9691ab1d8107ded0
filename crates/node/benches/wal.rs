//! Raw WAL throughput with group commit, against the cost of one fdatasync on the same disk.
//!
//! `cargo bench -p node --bench wal` (a plain harness: it prints figures, asserts nothing).
//! `RAFTKV_BENCH_DIR` chooses the disk (default: cargo's target tmp dir), and
//! `RAFTKV_BENCH_SECS` the length of each measurement (default 3).
//!
//! Group commit is measured the way the runtime uses the storage: writers hand requests
//! to one syncing thread, which takes every request queued, writes each, syncs once, and
//! then answers them all.

use bytes::Bytes;
use hdrhistogram::Histogram;
use node::storage::{DiskStorage, StorageOptions};
use raft::{Entry, Index, PersistId, PersistRequest, Term};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const RECORD_BYTES: usize = 128;

fn bench_dir() -> PathBuf {
    std::env::var_os("RAFTKV_BENCH_DIR")
        .map(PathBuf::from)
        .or_else(|| option_env!("CARGO_TARGET_TMPDIR").map(PathBuf::from))
        .unwrap_or_else(std::env::temp_dir)
}

fn duration() -> Duration {
    let secs = std::env::var("RAFTKV_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    Duration::from_secs_f64(secs)
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).unwrap()
}

fn micros(histogram: &Histogram<u64>, quantile: f64) -> f64 {
    histogram.value_at_quantile(quantile) as f64 / 1000.0
}

fn report(name: &str, count: u64, elapsed: Duration, latency: &Histogram<u64>, extra: &str) {
    println!(
        "{name:<44} {:>10.0} ops/s   latency p50 {:>8.1} µs  p99 {:>8.1} µs{extra}",
        count as f64 / elapsed.as_secs_f64(),
        micros(latency, 0.5),
        micros(latency, 0.99),
    );
}

/// A 128-byte append and an fdatasync on a plain file, back to back.
fn raw_fdatasync(dir: &Path) {
    let path = dir.join("raw-fdatasync");
    let mut file = File::create(&path).unwrap();
    let record = [0x5Au8; RECORD_BYTES];
    let mut latency = histogram();
    let start = Instant::now();
    let mut count = 0;
    while start.elapsed() < duration() {
        let t = Instant::now();
        file.write_all(&record).unwrap();
        file.sync_data().unwrap();
        latency.record(t.elapsed().as_nanos() as u64).unwrap();
        count += 1;
    }
    report(
        "raw file: 128 B write + fdatasync",
        count,
        start.elapsed(),
        &latency,
        "",
    );
    drop(file);
    std::fs::remove_file(path).unwrap();
}

fn request(index: u64, payload: &Bytes) -> PersistRequest {
    PersistRequest {
        id: PersistId(index),
        entries: vec![Entry::command(Term(1), Index(index), payload.clone())],
        ..PersistRequest::default()
    }
}

fn open(dir: &Path, name: &str) -> (tempfile::TempDir, DiskStorage) {
    let data = tempfile::Builder::new()
        .prefix(name)
        .tempdir_in(dir)
        .unwrap();
    let (storage, _) = DiskStorage::open(data.path(), StorageOptions::default()).unwrap();
    (data, storage)
}

/// One thread: write + sync per append (no batching possible).
fn sync_each(dir: &Path) {
    let (_data, mut storage) = open(dir, "sync-each");
    let payload = Bytes::from(vec![0x5Au8; RECORD_BYTES]);
    let mut latency = histogram();
    let start = Instant::now();
    let mut index = 0;
    while start.elapsed() < duration() {
        index += 1;
        let t = Instant::now();
        storage.write(&request(index, &payload)).unwrap();
        storage.sync().unwrap();
        latency.record(t.elapsed().as_nanos() as u64).unwrap();
    }
    report(
        "DiskStorage: write + sync per append",
        index,
        start.elapsed(),
        &latency,
        "",
    );
}

/// `writers` threads each append in a loop, handing 128-byte records to one syncing thread.
fn group_commit(dir: &Path, writers: usize) {
    let (_data, mut storage) = open(dir, "group-commit");
    let (submit, queue) = mpsc::channel::<(Bytes, mpsc::SyncSender<()>)>();
    let syncer = std::thread::spawn(move || {
        let (mut index, mut syncs) = (0u64, 0u64);
        let mut waiting = Vec::new();
        while let Ok(first) = queue.recv() {
            waiting.push(first);
            waiting.extend(queue.try_iter());
            for (payload, _) in &waiting {
                index += 1;
                storage.write(&request(index, payload)).unwrap();
            }
            // One fdatasync for the whole batch, then every writer is answered.
            storage.sync().unwrap();
            syncs += 1;
            for (_, reply) in waiting.drain(..) {
                let _ = reply.send(());
            }
        }
        (index, syncs)
    });
    let deadline = Instant::now() + duration();
    let start = Instant::now();
    let threads: Vec<_> = (0..writers)
        .map(|_| {
            let submit = submit.clone();
            std::thread::spawn(move || {
                let payload = Bytes::from(vec![0x5Au8; RECORD_BYTES]);
                let mut latency = histogram();
                let (reply, answer) = mpsc::sync_channel(1);
                while Instant::now() < deadline {
                    let t = Instant::now();
                    submit.send((payload.clone(), reply.clone())).unwrap();
                    answer.recv().unwrap();
                    latency.record(t.elapsed().as_nanos() as u64).unwrap();
                }
                latency
            })
        })
        .collect();
    drop(submit);
    let mut latency = histogram();
    for thread in threads {
        latency.add(thread.join().unwrap()).unwrap();
    }
    let elapsed = start.elapsed();
    let (appends, syncs) = syncer.join().unwrap();
    report(
        &format!("group commit: {writers} writer(s) -> 1 sync thread"),
        appends,
        elapsed,
        &latency,
        &format!(
            "   ({syncs} fdatasyncs, {:.1} appends each)",
            appends as f64 / syncs as f64
        ),
    );
}

fn main() {
    let dir = bench_dir();
    std::fs::create_dir_all(&dir).unwrap();
    println!(
        "WAL benchmark in {} ({} s per measurement, {RECORD_BYTES}-byte records)",
        dir.display(),
        duration().as_secs_f64()
    );
    raw_fdatasync(&dir);
    sync_each(&dir);
    group_commit(&dir, 1);
    group_commit(&dir, 64);
    raw_fdatasync(&dir);
}
