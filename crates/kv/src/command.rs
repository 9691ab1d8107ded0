//! Requests, operations and outcomes, and their wire encoding (prost derive, no .proto).
//!
//! The encoded [`Request`] is what a leader proposes; the encoded [`Outcome`] is what
//! [`crate::KvStore::apply`] returns and what a session caches for retries.

use bytes::Bytes;
pub use prost::DecodeError;
use prost::Message as _;

/// A client session id. `ClientId(0)` means "no session": the request is applied every
/// time it is committed (at-least-once), without deduplication.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub u64);

impl ClientId {
    /// The id of requests that do not use a session.
    pub const NONE: ClientId = ClientId(0);
}

/// One operation on the key/value map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Reads a key: [`Outcome::Value`].
    Get {
        /// The key.
        key: Bytes,
    },
    /// Sets a key: [`Outcome::Written`].
    Put {
        /// The key.
        key: Bytes,
        /// Its new value.
        value: Bytes,
    },
    /// Appends to a key's value (a missing key counts as empty):
    /// [`Outcome::Appended`] with the value's new length, like Redis APPEND.
    Append {
        /// The key.
        key: Bytes,
        /// The bytes to append.
        value: Bytes,
    },
    /// Removes a key: [`Outcome::Deleted`] says whether it existed.
    Delete {
        /// The key.
        key: Bytes,
    },
    /// Sets `key` to `value` if its current value is `expected` (`None`: absent):
    /// [`Outcome::Swapped`].
    CompareAndSet {
        /// The key.
        key: Bytes,
        /// The value the key must hold (`None`: the key must be absent).
        expected: Option<Bytes>,
        /// The value to store on success.
        value: Bytes,
    },
    /// Adds `delta` to the key's value read as a decimal `i64` (a missing key counts as
    /// 0) and stores the sum as decimal ASCII: [`Outcome::Number`] with the sum. A value
    /// that is not a decimal `i64` is [`KvError::NotAnInteger`], a sum out of range
    /// [`KvError::Overflow`]; both leave the value unchanged.
    Increment {
        /// The key.
        key: Bytes,
        /// What to add (negative to decrement).
        delta: i64,
    },
    /// Redis SET with options: sets a key if `condition` holds (NX / XX), and its
    /// deadline as `expiry` says (EX / PX / EXAT / PXAT / KEEPTTL, or none): one log
    /// entry, where NX / XX would otherwise be compare-and-set loops.
    /// [`Outcome::Number`] 1 if it wrote, 0 if the condition failed (nothing changed).
    Set {
        /// The key.
        key: Bytes,
        /// Its new value.
        value: Bytes,
        /// When to write.
        condition: SetCondition,
        /// What happens to the key's deadline.
        expiry: SetExpiry,
    },
    /// Sets (`Some`, absolute ms since the Unix epoch) or removes (`None`) the deadline
    /// of an existing key (Redis PEXPIREAT / PERSIST): [`Outcome::Number`] 1 if it did,
    /// 0 if the key is absent (or, to remove, has no deadline), as Redis answers.
    Expire {
        /// The key.
        key: Bytes,
        /// The new deadline; `None` makes the key persistent.
        deadline_ms: Option<u64>,
    },
    /// Reads a key's deadline through the log: [`Outcome::Number`] with the deadline
    /// (absolute ms), -1 if the key has none, -2 if it is absent (Redis's TTL codes).
    GetExpiry {
        /// The key.
        key: Bytes,
    },
}

/// When a [`Operation::Set`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetCondition {
    /// Always (plain SET).
    Always,
    /// Only if the key is absent (NX).
    IfAbsent,
    /// Only if the key exists (XX).
    IfPresent,
}

/// The deadline a [`Operation::Set`] gives its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetExpiry {
    /// No deadline: the key persists (a plain SET drops an old deadline, as in Redis).
    Clear,
    /// Expire at this absolute time (ms since the Unix epoch). The proposing server turns
    /// relative times (EX, PX) into absolute ones, so replays cannot stretch them.
    AtMs(u64),
    /// Keep the key's current deadline, if any (KEEPTTL).
    Keep,
}

impl Operation {
    /// The key the operation touches.
    pub fn key(&self) -> &Bytes {
        match self {
            Operation::Get { key }
            | Operation::Put { key, .. }
            | Operation::Append { key, .. }
            | Operation::Delete { key }
            | Operation::CompareAndSet { key, .. }
            | Operation::Increment { key, .. }
            | Operation::Set { key, .. }
            | Operation::Expire { key, .. }
            | Operation::GetExpiry { key } => key,
        }
    }

    /// True for operations that never change state.
    pub fn is_read_only(&self) -> bool {
        matches!(self, Operation::Get { .. })
    }
}

/// A client request: an operation within a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The session (`ClientId::NONE`: none).
    pub client: ClientId,
    /// The request's number within the session, starting at 1 and increasing by one per
    /// new request; a retry reuses the number.
    pub sequence: u64,
    /// What to do.
    pub operation: Operation,
    /// Wall-clock time (ms since the Unix epoch) of the server that proposed the
    /// request; 0: unstamped. Applying it moves the store's expiry clock forward, so
    /// every replica expires keys at the same log position. A retry keeps its stamp.
    pub timestamp_ms: u64,
}

/// Why a request was refused. A refused request leaves the state unchanged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    /// A key or value exceeds the configured maximum.
    #[error("{part} of {size} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// Which part was too large.
        part: Part,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The command could not be decoded.
    #[error("malformed command")]
    Malformed,
    /// The session already executed a newer request; the outcome of this one was
    /// discarded (a client retrying an old request after moving on).
    #[error("request {sequence} is older than the session's last request {last}")]
    Stale {
        /// The request's sequence number.
        sequence: u64,
        /// The session's last sequence number.
        last: u64,
    },
    /// No session exists for the client and the request does not open one (its
    /// sequence is not 1): the session expired or was evicted, so whether an earlier
    /// attempt of this request was applied can no longer be told. The client must open
    /// a new session (a new client id).
    #[error("session expired or unknown")]
    SessionExpired,
    /// An `Increment` found a value that is not a decimal `i64` (the message is Redis's).
    #[error("value is not an integer or out of range")]
    NotAnInteger,
    /// An `Increment` would leave the `i64` range (the message is Redis's).
    #[error("increment or decrement would overflow")]
    Overflow,
}

/// The parts of a request that have size limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The key.
    Key,
    /// The value.
    Value,
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Part::Key => "key",
            Part::Value => "value",
        })
    }
}

/// The result of applying a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The value of a `Get` (`None`: no such key).
    Value(Option<Bytes>),
    /// A `Put` took effect.
    Written,
    /// An `Append` took effect; the value is now `length` bytes long. The length pins
    /// where the append landed among concurrent appends to the key (what lets a
    /// linearizability checker order them without trying every interleaving).
    Appended {
        /// The value's length in bytes after the append.
        length: u64,
    },
    /// A `Delete` took effect; `true` if the key existed.
    Deleted(bool),
    /// A `CompareAndSet`: whether it swapped, and the value the key held before.
    Swapped {
        /// True if the value was replaced.
        succeeded: bool,
        /// The key's value before the operation.
        current: Option<Bytes>,
    },
    /// The value after an `Increment`.
    Number(i64),
    /// The request was refused; state unchanged.
    Rejected(KvError),
}

// ---- wire structs ---------------------------------------------------------------------

#[derive(Clone, PartialEq, prost::Message)]
struct RequestWire {
    #[prost(uint64, tag = "1")]
    client: u64,
    #[prost(uint64, tag = "2")]
    sequence: u64,
    #[prost(oneof = "OperationWire", tags = "3, 4, 5, 6, 7, 8, 9, 10, 11")]
    operation: Option<OperationWire>,
    #[prost(uint64, tag = "20")]
    timestamp_ms: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SetWire {
    #[prost(bytes = "bytes", tag = "1")]
    key: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    value: Bytes,
    /// Present: expire then; absent: see `keep_deadline`.
    #[prost(uint64, optional, tag = "3")]
    deadline_ms: Option<u64>,
    /// Without `deadline_ms`: keep the current deadline (true) or drop it (false).
    #[prost(bool, tag = "4")]
    keep_deadline: bool,
    /// 0 always, 1 if absent, 2 if present.
    #[prost(uint32, tag = "5")]
    condition: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ExpireWire {
    #[prost(bytes = "bytes", tag = "1")]
    key: Bytes,
    /// Absent: remove the deadline.
    #[prost(uint64, optional, tag = "2")]
    deadline_ms: Option<u64>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct KeyWire {
    #[prost(bytes = "bytes", tag = "1")]
    key: Bytes,
}

#[derive(Clone, PartialEq, prost::Message)]
struct KeyValueWire {
    #[prost(bytes = "bytes", tag = "1")]
    key: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    value: Bytes,
}

#[derive(Clone, PartialEq, prost::Message)]
struct CasWire {
    #[prost(bytes = "bytes", tag = "1")]
    key: Bytes,
    #[prost(bytes = "bytes", optional, tag = "2")]
    expected: Option<Bytes>,
    #[prost(bytes = "bytes", tag = "3")]
    value: Bytes,
}

#[derive(Clone, PartialEq, prost::Message)]
struct IncrementWire {
    #[prost(bytes = "bytes", tag = "1")]
    key: Bytes,
    #[prost(sint64, tag = "2")]
    delta: i64,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum OperationWire {
    #[prost(message, tag = "3")]
    Get(KeyWire),
    #[prost(message, tag = "4")]
    Put(KeyValueWire),
    #[prost(message, tag = "5")]
    Append(KeyValueWire),
    #[prost(message, tag = "6")]
    Delete(KeyWire),
    #[prost(message, tag = "7")]
    CompareAndSet(CasWire),
    #[prost(message, tag = "8")]
    Increment(IncrementWire),
    #[prost(message, tag = "9")]
    Set(SetWire),
    #[prost(message, tag = "10")]
    Expire(ExpireWire),
    #[prost(message, tag = "11")]
    GetExpiry(KeyWire),
}

#[derive(Clone, PartialEq, prost::Message)]
struct OutcomeWire {
    #[prost(oneof = "OutcomeKind", tags = "1, 2, 3, 4, 5, 6, 7")]
    kind: Option<OutcomeKind>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ValueWire {
    #[prost(bytes = "bytes", optional, tag = "1")]
    value: Option<Bytes>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct EmptyWire {}

#[derive(Clone, PartialEq, prost::Message)]
struct DeletedWire {
    #[prost(bool, tag = "1")]
    existed: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SwappedWire {
    #[prost(bool, tag = "1")]
    succeeded: bool,
    #[prost(bytes = "bytes", optional, tag = "2")]
    current: Option<Bytes>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct AppendedWire {
    #[prost(uint64, tag = "1")]
    length: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct NumberWire {
    #[prost(sint64, tag = "1")]
    value: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct RejectedWire {
    /// 1 too large, 2 malformed, 3 stale, 4 session expired, 5 not an integer,
    /// 6 overflow.
    #[prost(uint32, tag = "1")]
    code: u32,
    /// For too large: 0 key, 1 value.
    #[prost(uint32, tag = "2")]
    part: u32,
    #[prost(uint64, tag = "3")]
    a: u64,
    #[prost(uint64, tag = "4")]
    b: u64,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum OutcomeKind {
    #[prost(message, tag = "1")]
    Value(ValueWire),
    #[prost(message, tag = "2")]
    Written(EmptyWire),
    #[prost(message, tag = "3")]
    Deleted(DeletedWire),
    #[prost(message, tag = "4")]
    Swapped(SwappedWire),
    #[prost(message, tag = "5")]
    Rejected(RejectedWire),
    #[prost(message, tag = "6")]
    Appended(AppendedWire),
    #[prost(message, tag = "7")]
    Number(NumberWire),
}

fn missing(what: &'static str) -> DecodeError {
    DecodeError::new(what)
}

impl Request {
    /// The wire form.
    pub fn encode(&self) -> Bytes {
        let operation = match &self.operation {
            Operation::Get { key } => OperationWire::Get(KeyWire { key: key.clone() }),
            Operation::Put { key, value } => OperationWire::Put(KeyValueWire {
                key: key.clone(),
                value: value.clone(),
            }),
            Operation::Append { key, value } => OperationWire::Append(KeyValueWire {
                key: key.clone(),
                value: value.clone(),
            }),
            Operation::Delete { key } => OperationWire::Delete(KeyWire { key: key.clone() }),
            Operation::CompareAndSet {
                key,
                expected,
                value,
            } => OperationWire::CompareAndSet(CasWire {
                key: key.clone(),
                expected: expected.clone(),
                value: value.clone(),
            }),
            Operation::Increment { key, delta } => OperationWire::Increment(IncrementWire {
                key: key.clone(),
                delta: *delta,
            }),
            Operation::Set {
                key,
                value,
                condition,
                expiry,
            } => OperationWire::Set(SetWire {
                key: key.clone(),
                value: value.clone(),
                deadline_ms: match expiry {
                    SetExpiry::AtMs(deadline) => Some(*deadline),
                    SetExpiry::Clear | SetExpiry::Keep => None,
                },
                keep_deadline: *expiry == SetExpiry::Keep,
                condition: match condition {
                    SetCondition::Always => 0,
                    SetCondition::IfAbsent => 1,
                    SetCondition::IfPresent => 2,
                },
            }),
            Operation::Expire { key, deadline_ms } => OperationWire::Expire(ExpireWire {
                key: key.clone(),
                deadline_ms: *deadline_ms,
            }),
            Operation::GetExpiry { key } => OperationWire::GetExpiry(KeyWire { key: key.clone() }),
        };
        RequestWire {
            client: self.client.0,
            sequence: self.sequence,
            operation: Some(operation),
            timestamp_ms: self.timestamp_ms,
        }
        .encode_to_vec()
        .into()
    }

    /// Parses the wire form; never panics on bad input.
    pub fn decode(bytes: &[u8]) -> Result<Request, DecodeError> {
        let wire = RequestWire::decode(bytes)?;
        let operation = match wire.operation.ok_or_else(|| missing("no operation"))? {
            OperationWire::Get(k) => Operation::Get { key: k.key },
            OperationWire::Put(kv) => Operation::Put {
                key: kv.key,
                value: kv.value,
            },
            OperationWire::Append(kv) => Operation::Append {
                key: kv.key,
                value: kv.value,
            },
            OperationWire::Delete(k) => Operation::Delete { key: k.key },
            OperationWire::CompareAndSet(c) => Operation::CompareAndSet {
                key: c.key,
                expected: c.expected,
                value: c.value,
            },
            OperationWire::Increment(i) => Operation::Increment {
                key: i.key,
                delta: i.delta,
            },
            OperationWire::Set(w) => Operation::Set {
                condition: match w.condition {
                    0 => SetCondition::Always,
                    1 => SetCondition::IfAbsent,
                    2 => SetCondition::IfPresent,
                    _ => return Err(missing("unknown set condition")),
                },
                expiry: match (w.deadline_ms, w.keep_deadline) {
                    (Some(deadline), _) => SetExpiry::AtMs(deadline),
                    (None, true) => SetExpiry::Keep,
                    (None, false) => SetExpiry::Clear,
                },
                key: w.key,
                value: w.value,
            },
            OperationWire::Expire(w) => Operation::Expire {
                key: w.key,
                deadline_ms: w.deadline_ms,
            },
            OperationWire::GetExpiry(k) => Operation::GetExpiry { key: k.key },
        };
        Ok(Request {
            client: ClientId(wire.client),
            sequence: wire.sequence,
            operation,
            timestamp_ms: wire.timestamp_ms,
        })
    }
}

impl Outcome {
    /// The wire form.
    pub fn encode(&self) -> Bytes {
        let kind = match self {
            Outcome::Value(value) => OutcomeKind::Value(ValueWire {
                value: value.clone(),
            }),
            Outcome::Written => OutcomeKind::Written(EmptyWire {}),
            Outcome::Appended { length } => OutcomeKind::Appended(AppendedWire { length: *length }),
            Outcome::Deleted(existed) => OutcomeKind::Deleted(DeletedWire { existed: *existed }),
            Outcome::Swapped { succeeded, current } => OutcomeKind::Swapped(SwappedWire {
                succeeded: *succeeded,
                current: current.clone(),
            }),
            Outcome::Number(value) => OutcomeKind::Number(NumberWire { value: *value }),
            Outcome::Rejected(error) => OutcomeKind::Rejected(match error {
                KvError::TooLarge { part, size, max } => RejectedWire {
                    code: 1,
                    part: (*part == Part::Value) as u32,
                    a: *size,
                    b: *max,
                },
                KvError::Malformed => RejectedWire {
                    code: 2,
                    ..RejectedWire::default()
                },
                KvError::Stale { sequence, last } => RejectedWire {
                    code: 3,
                    part: 0,
                    a: *sequence,
                    b: *last,
                },
                KvError::SessionExpired => RejectedWire {
                    code: 4,
                    ..RejectedWire::default()
                },
                KvError::NotAnInteger => RejectedWire {
                    code: 5,
                    ..RejectedWire::default()
                },
                KvError::Overflow => RejectedWire {
                    code: 6,
                    ..RejectedWire::default()
                },
            }),
        };
        OutcomeWire { kind: Some(kind) }.encode_to_vec().into()
    }

    /// Parses the wire form; never panics on bad input.
    pub fn decode(bytes: &[u8]) -> Result<Outcome, DecodeError> {
        let wire = OutcomeWire::decode(bytes)?;
        Ok(match wire.kind.ok_or_else(|| missing("no outcome"))? {
            OutcomeKind::Value(v) => Outcome::Value(v.value),
            OutcomeKind::Written(_) => Outcome::Written,
            OutcomeKind::Appended(a) => Outcome::Appended { length: a.length },
            OutcomeKind::Number(n) => Outcome::Number(n.value),
            OutcomeKind::Deleted(d) => Outcome::Deleted(d.existed),
            OutcomeKind::Swapped(s) => Outcome::Swapped {
                succeeded: s.succeeded,
                current: s.current,
            },
            OutcomeKind::Rejected(r) => Outcome::Rejected(match r.code {
                1 => KvError::TooLarge {
                    part: if r.part == 0 { Part::Key } else { Part::Value },
                    size: r.a,
                    max: r.b,
                },
                2 => KvError::Malformed,
                3 => KvError::Stale {
                    sequence: r.a,
                    last: r.b,
                },
                4 => KvError::SessionExpired,
                5 => KvError::NotAnInteger,
                6 => KvError::Overflow,
                _ => return Err(missing("unknown rejection code")),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn requests_round_trip() {
        let ops = [
            Operation::Get { key: b("k") },
            Operation::Put {
                key: b("k"),
                value: b("v"),
            },
            Operation::Append {
                key: b(""),
                value: b(""),
            },
            Operation::Delete { key: b("k") },
            Operation::CompareAndSet {
                key: b("k"),
                expected: None,
                value: b("v"),
            },
            Operation::CompareAndSet {
                key: b("k"),
                expected: Some(b("")),
                value: b("v"),
            },
            Operation::Increment {
                key: b("n"),
                delta: i64::MIN,
            },
            Operation::Increment {
                key: b("n"),
                delta: 1,
            },
            Operation::Set {
                key: b("k"),
                value: b("v"),
                condition: SetCondition::Always,
                expiry: SetExpiry::AtMs(1_700_000_000_000),
            },
            Operation::Set {
                key: b("k"),
                value: b(""),
                condition: SetCondition::IfAbsent,
                expiry: SetExpiry::Keep,
            },
            Operation::Set {
                key: b("k"),
                value: b("v"),
                condition: SetCondition::IfPresent,
                expiry: SetExpiry::Clear,
            },
            Operation::Expire {
                key: b("k"),
                deadline_ms: Some(0),
            },
            Operation::Expire {
                key: b("k"),
                deadline_ms: None,
            },
            Operation::GetExpiry { key: b("k") },
        ];
        for (i, operation) in ops.into_iter().enumerate() {
            let request = Request {
                client: ClientId(7 + i as u64),
                sequence: i as u64,
                operation,
                timestamp_ms: i as u64 * 1000,
            };
            assert_eq!(Request::decode(&request.encode()).unwrap(), request);
        }
    }

    #[test]
    fn outcomes_round_trip() {
        let outcomes = [
            Outcome::Value(None),
            Outcome::Value(Some(b(""))),
            Outcome::Value(Some(b("x"))),
            Outcome::Written,
            Outcome::Appended { length: 0 },
            Outcome::Appended { length: 1 << 40 },
            Outcome::Deleted(true),
            Outcome::Deleted(false),
            Outcome::Swapped {
                succeeded: false,
                current: Some(b("a")),
            },
            Outcome::Swapped {
                succeeded: true,
                current: None,
            },
            Outcome::Number(-5),
            Outcome::Number(i64::MAX),
            Outcome::Rejected(KvError::Malformed),
            Outcome::Rejected(KvError::SessionExpired),
            Outcome::Rejected(KvError::NotAnInteger),
            Outcome::Rejected(KvError::Overflow),
            Outcome::Rejected(KvError::Stale {
                sequence: 3,
                last: 5,
            }),
            Outcome::Rejected(KvError::TooLarge {
                part: Part::Value,
                size: 10,
                max: 5,
            }),
            Outcome::Rejected(KvError::TooLarge {
                part: Part::Key,
                size: 10,
                max: 5,
            }),
        ];
        for outcome in outcomes {
            assert_eq!(Outcome::decode(&outcome.encode()).unwrap(), outcome);
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(Request::decode(&[]).is_err());
        assert!(Outcome::decode(&[]).is_err());
        let mut rng = 0x1234_5678_u64;
        for len in 0..200 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (rng >> 33) as u8
                })
                .collect();
            let _ = Request::decode(&bytes);
            let _ = Outcome::decode(&bytes);
        }
    }
}
