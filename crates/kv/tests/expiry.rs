//! Key expiry driven by request stamps: deterministic across replicas, kept by
//! snapshots, and invisible once the deadline passes. Time moves only through the
//! stamps of the applied requests (no sleeping, no clock).

use bytes::Bytes;
use kv::{ClientId, KvStore, Limits, Operation, Outcome, Request, SetCondition, SetExpiry};
use raft::Index;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// A store applying sessionless requests at consecutive indexes with given stamps.
struct Replica {
    store: KvStore,
    index: u64,
}

impl Replica {
    fn new() -> Replica {
        Replica {
            store: KvStore::new(Limits::default()),
            index: 0,
        }
    }

    fn run_at(&mut self, timestamp_ms: u64, operation: Operation) -> Outcome {
        self.index += 1;
        let request = Request {
            client: ClientId::NONE,
            sequence: 0,
            operation,
            timestamp_ms,
        };
        let out = self.store.apply(Index(self.index), &request.encode());
        Outcome::decode(&out).unwrap()
    }

    fn get_at(&mut self, timestamp_ms: u64, key: &str) -> Outcome {
        self.run_at(timestamp_ms, Operation::Get { key: b(key) })
    }
}

fn set(key: &str, value: &str, condition: SetCondition, expiry: SetExpiry) -> Operation {
    Operation::Set {
        key: b(key),
        value: b(value),
        condition,
        expiry,
    }
}

fn set_expiring(key: &str, value: &str, deadline_ms: u64) -> Operation {
    set(
        key,
        value,
        SetCondition::Always,
        SetExpiry::AtMs(deadline_ms),
    )
}

const WROTE: Outcome = Outcome::Number(1);
const NOT_WRITTEN: Outcome = Outcome::Number(0);

fn put(key: &str, value: &str) -> Operation {
    Operation::Put {
        key: b(key),
        value: b(value),
    }
}

fn get_expiry(key: &str) -> Operation {
    Operation::GetExpiry { key: b(key) }
}

#[test]
fn a_key_disappears_once_a_stamp_reaches_its_deadline() {
    let mut r = Replica::new();
    assert_eq!(r.run_at(1_000, set_expiring("k", "v", 1_500)), WROTE);
    assert_eq!(r.get_at(1_499, "k"), Outcome::Value(Some(b("v"))));
    assert_eq!(r.run_at(1_499, get_expiry("k")), Outcome::Number(1_500));
    assert_eq!(r.get_at(1_500, "k"), Outcome::Value(None));
    // An older stamp (a server whose clock lags) does not bring it back.
    assert_eq!(r.get_at(1_000, "k"), Outcome::Value(None));
    assert_eq!(r.run_at(1_000, get_expiry("k")), Outcome::Number(-2));
    assert_eq!(r.store.len(), 0, "purged, not just hidden");
    assert_eq!(r.store.clock_ms(), 1_500);
}

#[test]
fn expired_keys_are_absent_to_every_operation() {
    let mut r = Replica::new();
    r.run_at(0, set_expiring("a", "old", 10));
    r.run_at(0, set_expiring("n", "41", 10));
    r.run_at(0, set_expiring("c", "x", 10));
    r.run_at(0, set_expiring("d", "x", 10));
    // Append starts from empty, increment from 0, CAS sees the key absent, delete finds
    // nothing.
    let append = Operation::Append {
        key: b("a"),
        value: b("new"),
    };
    assert_eq!(r.run_at(10, append), Outcome::Appended { length: 3 });
    let increment = Operation::Increment {
        key: b("n"),
        delta: 1,
    };
    assert_eq!(r.run_at(10, increment), Outcome::Number(1));
    let cas = Operation::CompareAndSet {
        key: b("c"),
        expected: None,
        value: b("y"),
    };
    assert_eq!(
        r.run_at(10, cas),
        Outcome::Swapped {
            succeeded: true,
            current: None
        }
    );
    assert_eq!(
        r.run_at(10, Operation::Delete { key: b("d") }),
        Outcome::Deleted(false)
    );
    // None of the rewritten keys inherited the old deadline.
    assert_eq!(r.run_at(1_000, get_expiry("a")), Outcome::Number(-1));
    assert_eq!(r.run_at(1_000, get_expiry("n")), Outcome::Number(-1));
    assert_eq!(r.run_at(1_000, get_expiry("c")), Outcome::Number(-1));
}

#[test]
fn set_put_expire_persist_and_keepttl_follow_redis() {
    let mut r = Replica::new();
    r.run_at(0, set_expiring("k", "v1", 100));
    // KEEPTTL keeps the deadline; a plain put drops it.
    r.run_at(0, set("k", "v2", SetCondition::Always, SetExpiry::Keep));
    assert_eq!(r.run_at(0, get_expiry("k")), Outcome::Number(100));
    assert_eq!(r.store.get(b"k"), Some(b("v2")));
    // Append and increment keep it too.
    r.run_at(
        0,
        Operation::Append {
            key: b("k"),
            value: b("!"),
        },
    );
    assert_eq!(r.run_at(0, get_expiry("k")), Outcome::Number(100));
    r.run_at(0, put("k", "v3"));
    assert_eq!(r.run_at(0, get_expiry("k")), Outcome::Number(-1));

    let expire = |key: &str, deadline_ms| Operation::Expire {
        key: b(key),
        deadline_ms,
    };
    assert_eq!(r.run_at(0, expire("k", Some(50))), Outcome::Number(1));
    assert_eq!(r.run_at(0, expire("missing", Some(50))), Outcome::Number(0));
    assert_eq!(r.run_at(0, expire("k", None)), Outcome::Number(1));
    assert_eq!(r.run_at(0, expire("k", None)), Outcome::Number(0));
    assert_eq!(r.get_at(60, "k"), Outcome::Value(Some(b("v3"))));
    // A deadline already past removes the key at once.
    assert_eq!(r.run_at(60, expire("k", Some(60))), Outcome::Number(1));
    assert_eq!(r.store.len(), 0);
    assert_eq!(r.run_at(60, set_expiring("p", "v", 10)), WROTE);
    assert_eq!(r.store.get(b"p"), None);
}

#[test]
fn conditional_sets_write_once_and_see_expired_keys_as_absent() {
    let mut r = Replica::new();
    let nx = |value, expiry| set("lock", value, SetCondition::IfAbsent, expiry);
    assert_eq!(r.run_at(0, nx("a", SetExpiry::AtMs(100))), WROTE);
    assert_eq!(r.run_at(50, nx("b", SetExpiry::AtMs(200))), NOT_WRITTEN);
    assert_eq!(r.store.get(b"lock"), Some(b("a")));
    assert_eq!(r.run_at(50, get_expiry("lock")), Outcome::Number(100));
    // Once the holder's deadline passes, the next NX wins.
    assert_eq!(r.run_at(100, nx("b", SetExpiry::AtMs(200))), WROTE);
    assert_eq!(r.store.get(b"lock"), Some(b("b")));

    let xx = |key, value| set(key, value, SetCondition::IfPresent, SetExpiry::Clear);
    assert_eq!(r.run_at(100, xx("missing", "v")), NOT_WRITTEN);
    assert_eq!(r.store.get(b"missing"), None);
    assert_eq!(r.run_at(150, xx("lock", "c")), WROTE);
    assert_eq!(r.run_at(150, get_expiry("lock")), Outcome::Number(-1));
    r.run_at(150, set_expiring("gone", "v", 160));
    assert_eq!(r.run_at(160, xx("gone", "v")), NOT_WRITTEN);
}

#[test]
fn expiry_is_identical_on_replicas_and_through_snapshots() {
    // The same commands on two replicas, one of which restarts from a snapshot half
    // way: the same state and the same snapshot bytes at every step.
    let commands: Vec<(u64, Operation)> = (0..200u64)
        .map(|i| {
            let key = format!("k{}", i % 13);
            let operation = match i % 5 {
                0 => {
                    let conditions = [
                        SetCondition::Always,
                        SetCondition::IfAbsent,
                        SetCondition::IfPresent,
                    ];
                    let deadline = SetExpiry::AtMs(i * 10 + (i % 7) * 15);
                    set(&key, "v", conditions[(i / 5 % 3) as usize], deadline)
                }
                1 => put(&key, "p"),
                2 => Operation::Expire {
                    key: b(&key),
                    deadline_ms: (i % 3 != 0).then_some(i * 10 + 40),
                },
                3 => Operation::Append {
                    key: b(&key),
                    value: b("a"),
                },
                _ => Operation::Get { key: b(&key) },
            };
            // Stamps mostly rise, sometimes lag (servers' clocks differ).
            (i * 10 - (i % 4) * 12 * u64::from(i > 4), operation)
        })
        .collect();
    let mut a = Replica::new();
    let mut b2 = Replica::new();
    for (step, (stamp, operation)) in commands.into_iter().enumerate() {
        if step == 100 {
            let snapshot = b2.store.snapshot();
            let mut restored = KvStore::new(Limits::default());
            restored.restore(&snapshot).unwrap();
            assert_eq!(restored.snapshot(), snapshot);
            b2.store = restored;
        }
        let out_a = a.run_at(stamp, operation.clone());
        let out_b = b2.run_at(stamp, operation);
        assert_eq!(out_a, out_b, "step {step}");
        assert_eq!(a.store.snapshot(), b2.store.snapshot(), "step {step}");
    }
    assert!(
        a.store.expiring_count() > 0,
        "the workload left deadlines to check"
    );
}

#[test]
fn a_snapshot_keeps_deadlines_and_the_clock() {
    let mut r = Replica::new();
    r.run_at(500, set_expiring("k", "v", 1_000));
    r.run_at(500, put("plain", "v"));
    let mut restored = KvStore::new(Limits::default());
    restored.restore(&r.store.snapshot()).unwrap();
    assert_eq!(restored.clock_ms(), 500);
    assert_eq!(restored.deadline_at(b"k", 0), Some(1_000));
    assert_eq!(restored.deadline_at(b"plain", 0), None);
    let mut r2 = Replica {
        store: restored,
        index: r.index,
    };
    assert_eq!(r2.get_at(999, "k"), Outcome::Value(Some(b("v"))));
    assert_eq!(r2.get_at(1_000, "k"), Outcome::Value(None));
}

#[test]
fn a_snapshot_from_before_key_expiry_still_loads() {
    // The snapshot layout before deadlines and the clock existed (fields 1 to 3).
    #[derive(Clone, PartialEq, prost::Message)]
    struct OldSnapshot {
        #[prost(uint64, tag = "1")]
        applied: u64,
        #[prost(message, repeated, tag = "2")]
        data: Vec<OldPair>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct OldPair {
        #[prost(bytes = "bytes", tag = "1")]
        key: Bytes,
        #[prost(bytes = "bytes", tag = "2")]
        value: Bytes,
    }
    use prost::Message as _;
    let old = OldSnapshot {
        applied: 7,
        data: vec![OldPair {
            key: b("k"),
            value: b("v"),
        }],
    }
    .encode_to_vec();
    let mut store = KvStore::new(Limits::default());
    store.restore(&old).unwrap();
    assert_eq!(store.applied_index(), Index(7));
    assert_eq!(store.get(b"k"), Some(b("v")));
    assert_eq!(store.clock_ms(), 0);
    assert_eq!(store.expiring_count(), 0);
    // And a store without deadlines writes that same layout.
    assert_eq!(store.snapshot(), Bytes::from(old));
}

#[test]
fn readers_with_a_later_wall_clock_see_the_key_expired() {
    let mut r = Replica::new();
    r.run_at(100, set_expiring("k", "v", 200));
    assert_eq!(r.store.get_at(b"k", 199), Some(b("v")));
    assert_eq!(r.store.get_at(b"k", 200), None);
    assert_eq!(r.store.deadline_at(b"k", 150), Some(200));
    assert_eq!(r.store.deadline_at(b"k", 250), None);
    // The store itself has not moved: a reader with a lagging clock still sees it.
    assert_eq!(r.store.get(b"k"), Some(b("v")));
}

#[test]
fn the_sweep_purges_expired_keys_nobody_touches() {
    let mut r = Replica::new();
    for i in 0..20 {
        r.run_at(0, set_expiring(&format!("k{i}"), "v", 10));
    }
    r.run_at(0, put("live", "v"));
    assert_eq!(r.store.len(), 21);
    // Each request past the deadline purges a bounded batch.
    r.get_at(10, "live");
    assert_eq!(r.store.len(), 21 - kv::store::SWEEP_PER_REQUEST);
    for _ in 0..3 {
        r.get_at(10, "live");
    }
    assert_eq!(r.store.len(), 1);
    assert_eq!(r.store.expiring_count(), 0);
}
