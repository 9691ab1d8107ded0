//! The replicated state machine: the key/value map plus client sessions.
//!
//! # Sessions (exactly-once)
//!
//! A session is keyed by [`ClientId`] and remembers the last sequence number it executed
//! and that request's [`Outcome`]. For a request `(client, sequence)`:
//!
//! - `client == ClientId::NONE`: no session; applied every time (at-least-once).
//! - no session and `sequence == 1`: opens a session, applies.
//! - no session and `sequence > 1`: [`KvError::SessionExpired`] (the session expired or
//!   was evicted, so an earlier attempt may have been applied); state unchanged.
//! - `sequence == last`: a retry; the cached outcome is returned, nothing applied.
//! - `sequence < last`: [`KvError::Stale`]; state unchanged.
//! - `sequence > last`: applied; the session now remembers it.
//!
//! A client therefore has at most one request outstanding per session (as the labs'
//! clerks do). Rejections of bad input (`TooLarge`, `Malformed`) are not cached; an
//! increment's `NotAnInteger` / `Overflow` depend on the state, so they are the
//! request's outcome and a retry gets them again even if the value changed since.
//!
//! # Bounds and expiry, by log index only
//!
//! Every replica applies the same commands at the same indexes, so decisions taken from
//! the index alone are identical everywhere. A session last used at index `i` is dropped
//! when a command at an index greater than `i + session_idle_entries` is applied. When a
//! new session would exceed `max_sessions`, the least recently used one (smallest last
//! index) is evicted. Never by wall clock.
//!
//! # Key expiry, by request stamps
//!
//! Keys may have a deadline (absolute ms). The store's clock is the largest
//! `Request::timestamp_ms` applied (see the `expiry` module); a key whose deadline is at
//! or before it is absent to every operation. Before a request runs, its key is purged
//! if expired, and up to [`SWEEP_PER_REQUEST`] other expired keys are purged, so
//! expired keys do not pile up. ReadIndex reads ([`KvStore::get_at`]) also treat a key
//! as absent once the reader's wall clock passes its deadline.

use crate::command::{
    ClientId, DecodeError, KvError, Operation, Outcome, Part, Request, SetCondition, SetExpiry,
};
use crate::expiry::Expiries;
use crate::integer::parse_i64;
use bytes::Bytes;
use prost::Message as _;
use raft::Index;
use std::collections::{BTreeMap, BTreeSet};

/// Most expired keys purged per applied request besides the request's own key: bounds
/// the work of one apply, and still outpaces keys expiring one per write.
pub const SWEEP_PER_REQUEST: usize = 8;

/// Size and session limits. Every replica must use the same limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted key.
    pub max_key_bytes: usize,
    /// Largest accepted value (for Put, Append, and CAS's value and expected value).
    pub max_value_bytes: usize,
    /// Most sessions kept; the least recently used is evicted beyond.
    pub max_sessions: usize,
    /// A session unused for more than this many log entries is dropped.
    pub session_idle_entries: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_key_bytes: 64 * 1024,
            max_value_bytes: 1024 * 1024,
            max_sessions: 100_000,
            session_idle_entries: 1_000_000,
        }
    }
}

/// One client's session.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Session {
    /// Last sequence number executed.
    sequence: u64,
    /// Its encoded outcome.
    outcome: Bytes,
    /// Log index of the last request of this session (retries included).
    last_index: u64,
}

/// The key/value map and the session table. Deterministic: the same commands at the
/// same indexes give the same state and the same snapshot bytes on every replica.
#[derive(Clone, Debug)]
pub struct KvStore {
    limits: Limits,
    data: BTreeMap<Bytes, Bytes>,
    sessions: BTreeMap<ClientId, Session>,
    /// `(last_index, client)` of every session: the LRU / expiry order.
    /// Invariant: one element per session, matching its `last_index`.
    by_activity: BTreeSet<(u64, ClientId)>,
    /// Highest index applied (or restored from a snapshot).
    applied: u64,
    /// Deadlines of expiring keys and the clock that expires them.
    /// Invariant: every key with a deadline is in `data`.
    expiries: Expiries,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SnapshotWire {
    #[prost(uint64, tag = "1")]
    applied: u64,
    #[prost(message, repeated, tag = "2")]
    data: Vec<PairWire>,
    #[prost(message, repeated, tag = "3")]
    sessions: Vec<SessionWire>,
    /// The expiry clock (absent in snapshots older than key expiry: 0).
    #[prost(uint64, tag = "4")]
    clock_ms: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PairWire {
    #[prost(bytes = "bytes", tag = "1")]
    key: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    value: Bytes,
    /// The key's deadline, if it has one (absent in older snapshots).
    #[prost(uint64, optional, tag = "3")]
    deadline_ms: Option<u64>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SessionWire {
    #[prost(uint64, tag = "1")]
    client: u64,
    #[prost(uint64, tag = "2")]
    sequence: u64,
    #[prost(bytes = "bytes", tag = "3")]
    outcome: Bytes,
    #[prost(uint64, tag = "4")]
    last_index: u64,
}

impl KvStore {
    /// An empty store.
    pub fn new(limits: Limits) -> KvStore {
        KvStore {
            limits,
            data: BTreeMap::new(),
            sessions: BTreeMap::new(),
            by_activity: BTreeSet::new(),
            applied: 0,
            expiries: Expiries::default(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Applies the committed command at `index` and returns the encoded [`Outcome`].
    /// Never panics on bad input: an undecodable command gives `Rejected(Malformed)`.
    /// An index at or below the applied index (a replay) changes nothing and returns
    /// the session's cached outcome if it has one.
    pub fn apply(&mut self, index: Index, command: &[u8]) -> Bytes {
        let index = index.0;
        let request = match Request::decode(command) {
            Ok(request) => request,
            Err(_) => {
                self.advance(index);
                return Outcome::Rejected(KvError::Malformed).encode();
            }
        };
        if index <= self.applied {
            return match self.sessions.get(&request.client) {
                Some(s) if s.sequence == request.sequence => s.outcome.clone(),
                _ => Outcome::Rejected(KvError::Stale {
                    sequence: request.sequence,
                    last: self.sessions.get(&request.client).map_or(0, |s| s.sequence),
                })
                .encode(),
            };
        }
        self.advance(index);
        self.expiries.advance_clock(request.timestamp_ms);
        self.purge_if_expired(request.operation.key());
        self.sweep_expired();
        self.apply_request(index, request).encode_or_cached()
    }

    /// Removes `key` if its deadline has passed by the store's clock.
    fn purge_if_expired(&mut self, key: &[u8]) {
        if self.expiries.is_expired(key, 0) {
            self.expiries.clear(key);
            self.data.remove(key);
        }
    }

    /// Purges up to [`SWEEP_PER_REQUEST`] expired keys, earliest deadline first.
    fn sweep_expired(&mut self) {
        for key in self.expiries.due(SWEEP_PER_REQUEST) {
            self.expiries.clear(&key);
            self.data.remove(&key);
        }
    }

    /// Applies an entry that carries no command (a leader's no-op): only advances the
    /// applied index and session expiry.
    pub fn apply_empty(&mut self, index: Index) {
        if index.0 > self.applied {
            self.advance(index.0);
        }
    }

    fn advance(&mut self, index: u64) {
        self.applied = self.applied.max(index);
        self.expire(index);
    }

    /// Drops every session idle for more than `session_idle_entries` entries at `index`.
    fn expire(&mut self, index: u64) {
        while let Some(&(last, client)) = self.by_activity.first() {
            if index.saturating_sub(last) <= self.limits.session_idle_entries {
                break;
            }
            self.by_activity.pop_first();
            self.sessions.remove(&client);
        }
    }

    fn apply_request(&mut self, index: u64, request: Request) -> Applied {
        if let Err(error) = self.check_sizes(&request.operation) {
            return Applied::Fresh(Outcome::Rejected(error));
        }
        if request.client == ClientId::NONE {
            return Applied::Fresh(self.execute(request.operation));
        }
        match self.sessions.get(&request.client) {
            None if request.sequence != 1 => {
                return Applied::Fresh(Outcome::Rejected(KvError::SessionExpired))
            }
            None => {}
            Some(session) if request.sequence == session.sequence => {
                let cached = session.outcome.clone();
                self.touch(request.client, index);
                return Applied::Cached(cached);
            }
            Some(session) if request.sequence < session.sequence => {
                return Applied::Fresh(Outcome::Rejected(KvError::Stale {
                    sequence: request.sequence,
                    last: session.sequence,
                }))
            }
            Some(_) => {}
        }
        let (client, sequence) = (request.client, request.sequence);
        let outcome = self.execute(request.operation);
        let encoded = outcome.encode();
        self.remember(client, sequence, encoded.clone(), index);
        Applied::Cached(encoded)
    }

    fn check_sizes(&self, operation: &Operation) -> Result<(), KvError> {
        let too_large = |part, size: usize, max: usize| {
            if size > max {
                Err(KvError::TooLarge {
                    part,
                    size: size as u64,
                    max: max as u64,
                })
            } else {
                Ok(())
            }
        };
        too_large(Part::Key, operation.key().len(), self.limits.max_key_bytes)?;
        let max = self.limits.max_value_bytes;
        match operation {
            // An increment stores at most 20 bytes ("-9223372036854775808").
            Operation::Get { .. } | Operation::Delete { .. } | Operation::Increment { .. } => {
                Ok(())
            }
            Operation::Put { value, .. } | Operation::Set { value, .. } => {
                too_large(Part::Value, value.len(), max)
            }
            Operation::Expire { .. } | Operation::GetExpiry { .. } => Ok(()),
            Operation::Append { key, value } => {
                let existing = self.data.get(key).map_or(0, Bytes::len);
                too_large(Part::Value, existing + value.len(), max)
            }
            Operation::CompareAndSet {
                expected, value, ..
            } => {
                too_large(Part::Value, value.len(), max)?;
                too_large(Part::Value, expected.as_ref().map_or(0, Bytes::len), max)
            }
        }
    }

    /// Runs an operation on the map.
    fn execute(&mut self, operation: Operation) -> Outcome {
        match operation {
            Operation::Get { key } => Outcome::Value(self.data.get(&key).cloned()),
            Operation::Put { key, value } => {
                // Like Redis SET: a new value drops the old deadline.
                self.expiries.clear(&key);
                self.data.insert(key, value);
                Outcome::Written
            }
            Operation::Append { key, value } => {
                let entry = self.data.entry(key).or_default();
                let mut joined = Vec::with_capacity(entry.len() + value.len());
                joined.extend_from_slice(entry);
                joined.extend_from_slice(&value);
                *entry = joined.into();
                Outcome::Appended {
                    length: entry.len() as u64,
                }
            }
            Operation::Delete { key } => {
                self.expiries.clear(&key);
                Outcome::Deleted(self.data.remove(&key).is_some())
            }
            Operation::CompareAndSet {
                key,
                expected,
                value,
            } => {
                let current = self.data.get(&key).cloned();
                let succeeded = current == expected;
                if succeeded {
                    self.expiries.clear(&key);
                    self.data.insert(key, value);
                }
                Outcome::Swapped { succeeded, current }
            }
            Operation::Increment { key, delta } => self.increment(key, delta),
            Operation::Set {
                key,
                value,
                condition,
                expiry,
            } => self.set(key, value, condition, expiry),
            Operation::Expire { key, deadline_ms } => self.expire_key(key, deadline_ms),
            Operation::GetExpiry { key } => Outcome::Number(match self.data.contains_key(&key) {
                false => -2,
                true => self.expiries.deadline(&key).map_or(-1, clamp_to_i64),
            }),
        }
    }

    /// Redis SET with options; 1 if it wrote, 0 if its condition failed.
    fn set(
        &mut self,
        key: Bytes,
        value: Bytes,
        condition: SetCondition,
        expiry: SetExpiry,
    ) -> Outcome {
        let exists = self.data.contains_key(&key);
        let allowed = match condition {
            SetCondition::Always => true,
            SetCondition::IfAbsent => !exists,
            SetCondition::IfPresent => exists,
        };
        if !allowed {
            return Outcome::Number(0);
        }
        match expiry {
            SetExpiry::Clear => {
                self.expiries.clear(&key);
            }
            SetExpiry::AtMs(deadline) => self.expiries.set(key.clone(), deadline),
            SetExpiry::Keep => {}
        }
        self.data.insert(key.clone(), value);
        // A deadline already past (EXAT in the past): gone at once, as in Redis.
        self.purge_if_expired(&key);
        Outcome::Number(1)
    }

    /// Sets or removes the deadline of an existing key; Redis's 1 / 0 answer.
    fn expire_key(&mut self, key: Bytes, deadline_ms: Option<u64>) -> Outcome {
        if !self.data.contains_key(&key) {
            return Outcome::Number(0);
        }
        let changed = match deadline_ms {
            Some(deadline) => {
                self.expiries.set(key.clone(), deadline);
                self.purge_if_expired(&key);
                true
            }
            None => self.expiries.clear(&key).is_some(),
        };
        Outcome::Number(i64::from(changed))
    }

    /// Adds `delta` to the decimal value at `key` (absent: 0); refusals change nothing.
    fn increment(&mut self, key: Bytes, delta: i64) -> Outcome {
        let current = match self.data.get(&key) {
            None => 0,
            Some(value) => match parse_i64(value) {
                Some(number) => number,
                None => return Outcome::Rejected(KvError::NotAnInteger),
            },
        };
        let Some(next) = current.checked_add(delta) else {
            return Outcome::Rejected(KvError::Overflow);
        };
        self.data.insert(key, Bytes::from(next.to_string()));
        Outcome::Number(next)
    }

    fn touch(&mut self, client: ClientId, index: u64) {
        if let Some(session) = self.sessions.get_mut(&client) {
            self.by_activity.remove(&(session.last_index, client));
            session.last_index = index;
            self.by_activity.insert((index, client));
        }
    }

    fn remember(&mut self, client: ClientId, sequence: u64, outcome: Bytes, index: u64) {
        if let Some(old) = self.sessions.get(&client) {
            self.by_activity.remove(&(old.last_index, client));
        } else {
            while self.sessions.len() >= self.limits.max_sessions.max(1) {
                let Some((_, lru)) = self.by_activity.pop_first() else {
                    break;
                };
                self.sessions.remove(&lru);
            }
        }
        self.sessions.insert(
            client,
            Session {
                sequence,
                outcome,
                last_index: index,
            },
        );
        self.by_activity.insert((index, client));
    }

    /// The value of `key` by the store's own clock (deterministic: what a Get through
    /// the log would read now).
    pub fn get(&self, key: &[u8]) -> Option<Bytes> {
        self.get_at(key, 0)
    }

    /// The value of `key` for a ReadIndex read at wall-clock `now_ms`: absent if its
    /// deadline is at or before `max(store clock, now_ms)`. Taking the reader's clock
    /// into account keeps a key from outliving its deadline on a quiet cluster (no
    /// writes, so no stamps); how well it agrees with the log's expiry depends on how
    /// well the nodes' clocks agree.
    pub fn get_at(&self, key: &[u8], now_ms: u64) -> Option<Bytes> {
        if self.expiries.is_expired(key, now_ms) {
            return None;
        }
        self.data.get(key).cloned()
    }

    /// The deadline (absolute ms) of `key`, if it exists, has one and has not expired
    /// at `now_ms` (see [`KvStore::get_at`]).
    pub fn deadline_at(&self, key: &[u8], now_ms: u64) -> Option<u64> {
        if self.expiries.is_expired(key, now_ms) {
            return None;
        }
        self.expiries.deadline(key)
    }

    /// The expiry clock: the largest request stamp applied (ms since the Unix epoch).
    pub fn clock_ms(&self) -> u64 {
        self.expiries.clock_ms()
    }

    /// Number of keys with a deadline (expired ones not purged yet included).
    pub fn expiring_count(&self) -> usize {
        self.expiries.len()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True if there are no keys.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Number of live sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// The last sequence number executed in `client`'s session, if it has one.
    pub fn session_sequence(&self, client: ClientId) -> Option<u64> {
        self.sessions.get(&client).map(|s| s.sequence)
    }

    /// Highest log index applied (or covered by the restored snapshot).
    pub fn applied_index(&self) -> Index {
        Index(self.applied)
    }

    /// The whole state (map, sessions, applied index) as bytes; identical on replicas
    /// that applied the same entries.
    pub fn snapshot(&self) -> Bytes {
        SnapshotWire {
            applied: self.applied,
            data: self
                .data
                .iter()
                .map(|(key, value)| PairWire {
                    key: key.clone(),
                    value: value.clone(),
                    deadline_ms: self.expiries.deadline(key),
                })
                .collect(),
            sessions: self
                .sessions
                .iter()
                .map(|(client, s)| SessionWire {
                    client: client.0,
                    sequence: s.sequence,
                    outcome: s.outcome.clone(),
                    last_index: s.last_index,
                })
                .collect(),
            clock_ms: self.expiries.clock_ms(),
        }
        .encode_to_vec()
        .into()
    }

    /// Replaces the state with a snapshot. On error the state is unchanged. An empty
    /// snapshot restores the empty store.
    pub fn restore(&mut self, snapshot: &[u8]) -> Result<(), DecodeError> {
        let wire = SnapshotWire::decode(snapshot)?;
        let mut restored = KvStore::new(self.limits);
        restored.applied = wire.applied;
        restored.expiries.set_clock(wire.clock_ms);
        for pair in wire.data {
            if let Some(deadline) = pair.deadline_ms {
                restored.expiries.set(pair.key.clone(), deadline);
            }
            restored.data.insert(pair.key, pair.value);
        }
        for s in wire.sessions {
            let client = ClientId(s.client);
            if restored.sessions.contains_key(&client) {
                return Err(DecodeError::new("duplicate session in snapshot"));
            }
            restored.by_activity.insert((s.last_index, client));
            restored.sessions.insert(
                client,
                Session {
                    sequence: s.sequence,
                    outcome: s.outcome,
                    last_index: s.last_index,
                },
            );
        }
        *self = restored;
        Ok(())
    }
}

/// A deadline as Redis's signed integer reply (a deadline past `i64::MAX` ms is
/// ~292 million years away; clamping it changes nothing a client can observe).
fn clamp_to_i64(deadline: u64) -> i64 {
    i64::try_from(deadline).unwrap_or(i64::MAX)
}

/// An outcome either computed now (and not cached) or the encoded cached one.
enum Applied {
    Fresh(Outcome),
    Cached(Bytes),
}

impl Applied {
    fn encode_or_cached(self) -> Bytes {
        match self {
            Applied::Fresh(outcome) => outcome.encode(),
            Applied::Cached(bytes) => bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn req(client: u64, sequence: u64, operation: Operation) -> Bytes {
        Request {
            client: ClientId(client),
            sequence,
            operation,
            timestamp_ms: 0,
        }
        .encode()
    }

    fn put(k: &str, v: &str) -> Operation {
        Operation::Put {
            key: b(k),
            value: b(v),
        }
    }

    fn append(k: &str, v: &str) -> Operation {
        Operation::Append {
            key: b(k),
            value: b(v),
        }
    }

    fn appended(length: u64) -> Outcome {
        Outcome::Appended { length }
    }

    fn get(k: &str) -> Operation {
        Operation::Get { key: b(k) }
    }

    struct Driver {
        store: KvStore,
        index: u64,
    }

    impl Driver {
        fn new(limits: Limits) -> Driver {
            Driver {
                store: KvStore::new(limits),
                index: 0,
            }
        }
        fn run(&mut self, client: u64, sequence: u64, op: Operation) -> Outcome {
            self.index += 1;
            let out = self
                .store
                .apply(Index(self.index), &req(client, sequence, op));
            Outcome::decode(&out).unwrap()
        }
    }

    #[test]
    fn get_put_append_delete_cas() {
        let mut d = Driver::new(Limits::default());
        assert_eq!(d.run(0, 0, get("a")), Outcome::Value(None));
        assert_eq!(d.run(0, 0, append("a", "x")), appended(1));
        assert_eq!(d.run(0, 0, append("a", "yz")), appended(3));
        assert_eq!(d.run(0, 0, get("a")), Outcome::Value(Some(b("xyz"))));
        assert_eq!(d.run(0, 0, put("a", "z")), Outcome::Written);
        assert_eq!(d.store.get(b"a"), Some(b("z")));
        let cas = |expected: Option<&str>, value: &str| Operation::CompareAndSet {
            key: b("a"),
            expected: expected.map(b),
            value: b(value),
        };
        assert_eq!(
            d.run(0, 0, cas(Some("q"), "w")),
            Outcome::Swapped {
                succeeded: false,
                current: Some(b("z"))
            }
        );
        assert_eq!(
            d.run(0, 0, cas(Some("z"), "w")),
            Outcome::Swapped {
                succeeded: true,
                current: Some(b("z"))
            }
        );
        assert_eq!(
            d.run(0, 0, Operation::Delete { key: b("a") }),
            Outcome::Deleted(true)
        );
        assert_eq!(
            d.run(0, 0, Operation::Delete { key: b("a") }),
            Outcome::Deleted(false)
        );
        assert_eq!(
            d.run(0, 0, cas(None, "n")),
            Outcome::Swapped {
                succeeded: true,
                current: None
            }
        );
        assert_eq!(d.store.len(), 1);
        assert_eq!(d.store.applied_index(), Index(d.index));
    }

    fn increment(k: &str, delta: i64) -> Operation {
        Operation::Increment { key: b(k), delta }
    }

    #[test]
    fn increment_counts_in_decimal_ascii() {
        let mut d = Driver::new(Limits::default());
        assert_eq!(d.run(0, 0, increment("n", 5)), Outcome::Number(5));
        assert_eq!(d.run(0, 0, increment("n", -7)), Outcome::Number(-2));
        assert_eq!(d.store.get(b"n"), Some(b("-2")));
        d.run(0, 0, put("n", "41"));
        assert_eq!(d.run(0, 0, increment("n", 1)), Outcome::Number(42));
        assert_eq!(d.run(0, 0, get("n")), Outcome::Value(Some(b("42"))));
    }

    #[test]
    fn increment_refusals_leave_the_value_unchanged() {
        let mut d = Driver::new(Limits::default());
        for bad in ["abc", "", " 1", "01", "1.0", "99999999999999999999"] {
            d.run(0, 0, put("n", bad));
            assert_eq!(
                d.run(0, 0, increment("n", 1)),
                Outcome::Rejected(KvError::NotAnInteger),
                "{bad:?}"
            );
            assert_eq!(d.store.get(b"n"), Some(b(bad)));
        }
        d.run(0, 0, put("n", &i64::MAX.to_string()));
        assert_eq!(
            d.run(0, 0, increment("n", 1)),
            Outcome::Rejected(KvError::Overflow)
        );
        assert_eq!(d.store.get(b"n"), Some(b(&i64::MAX.to_string())));
        assert_eq!(
            d.run(0, 0, increment("m", i64::MIN)),
            Outcome::Number(i64::MIN)
        );
        assert_eq!(
            d.run(0, 0, increment("m", -1)),
            Outcome::Rejected(KvError::Overflow)
        );
    }

    #[test]
    fn a_retried_increment_counts_once() {
        let mut d = Driver::new(Limits::default());
        assert_eq!(d.run(3, 1, increment("n", 10)), Outcome::Number(10));
        assert_eq!(d.run(3, 1, increment("n", 10)), Outcome::Number(10));
        assert_eq!(d.store.get(b"n"), Some(b("10")));
        // A refusal computed from the state is the request's outcome: cached too.
        d.run(4, 1, put("s", "x"));
        let refused = Outcome::Rejected(KvError::NotAnInteger);
        assert_eq!(d.run(3, 2, increment("s", 1)), refused);
        d.run(4, 2, put("s", "1"));
        assert_eq!(d.run(3, 2, increment("s", 1)), refused);
        assert_eq!(d.store.get(b"s"), Some(b("1")));
    }

    #[test]
    fn sessionless_requests_apply_every_time() {
        let mut d = Driver::new(Limits::default());
        d.run(0, 1, append("k", "x"));
        d.run(0, 1, append("k", "x"));
        assert_eq!(d.store.get(b"k"), Some(b("xx")));
        assert_eq!(d.store.session_count(), 0);
    }

    #[test]
    fn retries_return_the_first_outcome_and_apply_once() {
        let mut d = Driver::new(Limits::default());
        assert_eq!(d.run(9, 1, append("k", "x")), appended(1));
        // The retry replays the cached length, not the length a second append would give.
        assert_eq!(d.run(9, 1, append("k", "x")), appended(1));
        assert_eq!(d.store.get(b"k"), Some(b("x")));
        assert_eq!(d.run(9, 2, get("k")), Outcome::Value(Some(b("x"))));
        d.run(8, 1, put("k", "changed"));
        // A retried Get returns the value it first read.
        assert_eq!(d.run(9, 2, get("k")), Outcome::Value(Some(b("x"))));
        assert_eq!(
            d.run(9, 1, append("k", "x")),
            Outcome::Rejected(KvError::Stale {
                sequence: 1,
                last: 2
            })
        );
        assert_eq!(d.store.get(b"k"), Some(b("changed")));
    }

    #[test]
    fn unknown_session_must_start_at_one() {
        let mut d = Driver::new(Limits::default());
        assert_eq!(
            d.run(5, 3, put("k", "v")),
            Outcome::Rejected(KvError::SessionExpired)
        );
        assert_eq!(d.store.get(b"k"), None);
        assert_eq!(d.store.session_count(), 0);
    }

    #[test]
    fn oversized_and_malformed_leave_state_unchanged() {
        let limits = Limits {
            max_key_bytes: 3,
            max_value_bytes: 4,
            ..Limits::default()
        };
        let mut d = Driver::new(limits);
        d.run(1, 1, put("k", "ab"));
        let before = d.store.snapshot();
        assert!(matches!(
            d.run(1, 2, put("long", "v")),
            Outcome::Rejected(KvError::TooLarge {
                part: Part::Key,
                ..
            })
        ));
        assert!(matches!(
            d.run(1, 3, put("k", "12345")),
            Outcome::Rejected(KvError::TooLarge {
                part: Part::Value,
                ..
            })
        ));
        // An append that would grow the value past the limit.
        assert!(matches!(
            d.run(1, 4, append("k", "abc")),
            Outcome::Rejected(KvError::TooLarge { .. })
        ));
        let out = d.store.apply(Index(100), b"\xff\xff\xff garbage");
        assert_eq!(
            Outcome::decode(&out).unwrap(),
            Outcome::Rejected(KvError::Malformed)
        );
        let mut after = d.store.clone();
        after.applied = 1;
        assert_eq!(after.snapshot(), before);
        assert_eq!(d.store.get(b"k"), Some(b("ab")));
    }

    #[test]
    fn snapshot_round_trip_keeps_dedup() {
        let mut d = Driver::new(Limits::default());
        for i in 0..20 {
            d.run(i % 4 + 1, i / 4 + 1, append(&format!("k{}", i % 3), "v"));
        }
        let snap = d.store.snapshot();
        let mut other = KvStore::new(Limits::default());
        other.restore(&snap).unwrap();
        assert_eq!(other.snapshot(), snap);
        assert_eq!(other.applied_index(), d.store.applied_index());
        // A retry of the last request of a session after the restore is deduplicated.
        let mut e = Driver {
            store: other,
            index: d.index,
        };
        let last_seq = e.store.session_sequence(ClientId(1)).unwrap();
        let value_before = e.store.get(b"k0");
        e.run(1, last_seq, append("k0", "v"));
        assert_eq!(e.store.get(b"k0"), value_before);
        // Restoring a bad snapshot fails and leaves the state as it was.
        let kept = e.store.snapshot();
        assert!(e.store.restore(b"\xff\xff").is_err());
        assert_eq!(e.store.snapshot(), kept);
        // Replayed indexes change nothing.
        let out = e
            .store
            .apply(Index(1), &req(1, last_seq, append("k0", "v")));
        assert!(Outcome::decode(&out).is_ok());
        assert_eq!(e.store.get(b"k0"), value_before);
    }

    #[test]
    fn sessions_expire_by_index_identically() {
        let limits = Limits {
            session_idle_entries: 10,
            ..Limits::default()
        };
        let commands: Vec<Bytes> = (0..40u64)
            .map(|i| req(i % 7 + 1, i / 7 + 1, append("k", "x")))
            .collect();
        let mut a = KvStore::new(limits);
        let mut b2 = KvStore::new(limits);
        for (i, c) in commands.iter().enumerate() {
            a.apply(Index(i as u64 + 1), c);
            // b skips nothing but goes through a snapshot half way.
            if i == 20 {
                let snap = b2.snapshot();
                b2 = KvStore::new(limits);
                b2.restore(&snap).unwrap();
            }
            b2.apply(Index(i as u64 + 1), c);
        }
        assert_eq!(a.snapshot(), b2.snapshot());
        // Client 1 last ran at index 36; at index 47 it has been idle 11 > 10 entries.
        let mut d = Driver {
            store: a,
            index: 40,
        };
        assert_eq!(d.store.session_count(), 7);
        for sequence in 1..=6 {
            d.run(100, sequence, get("k"));
        }
        assert!(d.store.session_sequence(ClientId(1)).is_some());
        d.run(100, 7, get("k"));
        assert_eq!(d.store.session_sequence(ClientId(1)), None);
        assert!(d.store.session_sequence(ClientId(2)).is_some());
        assert_eq!(
            d.run(1, 7, append("k", "x")),
            Outcome::Rejected(KvError::SessionExpired)
        );
    }

    #[test]
    fn least_recently_used_session_is_evicted() {
        let limits = Limits {
            max_sessions: 3,
            ..Limits::default()
        };
        let mut d = Driver::new(limits);
        d.run(1, 1, put("a", "1"));
        d.run(2, 1, put("a", "2"));
        d.run(3, 1, put("a", "3"));
        d.run(1, 2, put("a", "4")); // 1 is now the most recent
        d.run(4, 1, put("a", "5")); // evicts 2
        assert_eq!(d.store.session_count(), 3);
        assert_eq!(d.store.session_sequence(ClientId(2)), None);
        assert_eq!(d.store.session_sequence(ClientId(1)), Some(2));
        assert_eq!(d.store.session_sequence(ClientId(3)), Some(1));
    }
}
