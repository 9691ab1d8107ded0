//! A key/value store model: Get, Put, Append, Delete and compare-and-set, per key.

use crate::history::Operation;
use crate::model::Model;

/// A request to the key/value store. Keys and values are byte strings.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvInput {
    /// Read the value of `key`.
    Get {
        /// The key read.
        key: Vec<u8>,
    },
    /// Set `key` to `value`.
    Put {
        /// The key written.
        key: Vec<u8>,
        /// The new value.
        value: Vec<u8>,
    },
    /// Append `value` to the value of `key` (an absent key counts as empty).
    Append {
        /// The key written.
        key: Vec<u8>,
        /// The bytes appended.
        value: Vec<u8>,
    },
    /// Remove `key`.
    Delete {
        /// The key removed.
        key: Vec<u8>,
    },
    /// Set `key` to `new` if its value equals `expected` (`None`: the key is absent).
    Cas {
        /// The key compared and written.
        key: Vec<u8>,
        /// The value required for success; `None` requires the key to be absent.
        expected: Option<Vec<u8>>,
        /// The value written on success.
        new: Vec<u8>,
    },
    /// Add `delta` to the value of `key` read as a decimal `i64` (absent: 0) and store
    /// the sum in decimal (Redis INCRBY).
    Increment {
        /// The key.
        key: Vec<u8>,
        /// What is added.
        delta: i64,
    },
}

impl KvInput {
    /// A Get of `key`.
    pub fn get(key: impl Into<Vec<u8>>) -> Self {
        KvInput::Get { key: key.into() }
    }

    /// A Put of `value` at `key`.
    pub fn put(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        KvInput::Put {
            key: key.into(),
            value: value.into(),
        }
    }

    /// An Append of `value` to `key`.
    pub fn append(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        KvInput::Append {
            key: key.into(),
            value: value.into(),
        }
    }

    /// A Delete of `key`.
    pub fn delete(key: impl Into<Vec<u8>>) -> Self {
        KvInput::Delete { key: key.into() }
    }

    /// A compare-and-set of `key` from `expected` to `new`.
    pub fn cas(
        key: impl Into<Vec<u8>>,
        expected: impl Into<Vec<u8>>,
        new: impl Into<Vec<u8>>,
    ) -> Self {
        KvInput::Cas {
            key: key.into(),
            expected: Some(expected.into()),
            new: new.into(),
        }
    }

    /// A compare-and-set of `key` that succeeds only if the key is absent.
    pub fn cas_absent(key: impl Into<Vec<u8>>, new: impl Into<Vec<u8>>) -> Self {
        KvInput::Cas {
            key: key.into(),
            expected: None,
            new: new.into(),
        }
    }

    /// An Increment of `key` by `delta`.
    pub fn increment(key: impl Into<Vec<u8>>, delta: i64) -> Self {
        KvInput::Increment {
            key: key.into(),
            delta,
        }
    }

    /// The key the request touches.
    pub fn key(&self) -> &[u8] {
        match self {
            KvInput::Get { key }
            | KvInput::Put { key, .. }
            | KvInput::Append { key, .. }
            | KvInput::Delete { key }
            | KvInput::Cas { key, .. }
            | KvInput::Increment { key, .. } => key,
        }
    }
}

/// A reply of the key/value store. A reply of the wrong kind for its request (e.g. a
/// `Cas` reply to a Get) never matches.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvOutput {
    /// The reply to a Get: the value, or `None` if the key was absent.
    Value(Option<Vec<u8>>),
    /// A Put, Append or Delete was applied (no further information).
    Done,
    /// The reply to an Append that reports the value's length after appending (Redis
    /// APPEND). It pins where the append landed among concurrent appends, which
    /// keeps the search linear where `Done` would try every interleaving.
    Length(u64),
    /// The reply to a Delete that tells whether the key existed.
    Deleted(bool),
    /// The reply to a compare-and-set: whether it succeeded.
    Cas(bool),
    /// The reply to an Increment: the value after it.
    Number(i64),
    /// An Increment refused because the value is not a decimal `i64` (state unchanged).
    NotAnInteger,
    /// An Increment refused because the sum is out of range (state unchanged).
    Overflow,
    /// No reply (the client timed out): matches any outcome. Record such an operation
    /// with [`Operation::timed_out`] so that it may also never have taken effect.
    Unknown,
}

impl KvOutput {
    /// A Get that read `value`.
    pub fn value(value: impl Into<Vec<u8>>) -> Self {
        KvOutput::Value(Some(value.into()))
    }

    /// A Get that found the key absent.
    pub fn absent() -> Self {
        KvOutput::Value(None)
    }
}

/// A KV operation with timestamps of type `T`.
pub type KvOperation<T = u64> = Operation<KvInput, KvOutput, T>;

/// The sequential specification of a key/value store, partitioned per key. The state of
/// a key is its value, `None` when absent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvModel {
    /// Whether an absent key and an empty value are the same (the 6.824 Clerk's Get
    /// returns "" for a missing key).
    absent_is_empty: bool,
}

impl KvModel {
    /// A model that tells an absent key from an empty value.
    pub fn new() -> Self {
        KvModel {
            absent_is_empty: false,
        }
    }

    /// A model for the 6.824 labs, where a missing key reads as the empty value.
    pub fn absent_is_empty() -> Self {
        KvModel {
            absent_is_empty: true,
        }
    }

    /// Whether two values (`None`: absent) are the same under this model.
    fn same(&self, a: Option<&[u8]>, b: Option<&[u8]>) -> bool {
        if self.absent_is_empty {
            a.unwrap_or_default() == b.unwrap_or_default()
        } else {
            a == b
        }
    }
}

type KvState = Option<Vec<u8>>;

impl KvModel {
    fn step_get(&self, state: &KvState, output: &KvOutput) -> Option<KvState> {
        match output {
            KvOutput::Unknown => Some(state.clone()),
            KvOutput::Value(v) if self.same(v.as_deref(), state.as_deref()) => Some(state.clone()),
            _ => None,
        }
    }

    fn step_delete(&self, state: &KvState, output: &KvOutput) -> Option<KvState> {
        match output {
            KvOutput::Done | KvOutput::Unknown => Some(None),
            KvOutput::Deleted(existed) if *existed == state.is_some() => Some(None),
            _ => None,
        }
    }

    fn step_append(&self, state: &KvState, value: &[u8], output: &KvOutput) -> Option<KvState> {
        let mut next = state.clone().unwrap_or_default();
        next.extend_from_slice(value);
        match output {
            KvOutput::Done | KvOutput::Unknown => Some(Some(next)),
            KvOutput::Length(length) if *length == next.len() as u64 => Some(Some(next)),
            _ => None,
        }
    }

    fn step_increment(&self, state: &KvState, delta: i64, output: &KvOutput) -> Option<KvState> {
        let current = match state.as_deref() {
            None => Some(0),
            Some(value) => parse_i64(value),
        };
        let (expected, next) = match current.map(|n| n.checked_add(delta)) {
            None => (KvOutput::NotAnInteger, state.clone()),
            Some(None) => (KvOutput::Overflow, state.clone()),
            Some(Some(sum)) => (KvOutput::Number(sum), Some(sum.to_string().into_bytes())),
        };
        (*output == expected || *output == KvOutput::Unknown).then_some(next)
    }

    fn step_cas(
        &self,
        state: &KvState,
        expected: Option<&[u8]>,
        new: &[u8],
        output: &KvOutput,
    ) -> Option<KvState> {
        let succeeds = self.same(expected, state.as_deref());
        let next = if succeeds {
            Some(new.to_vec())
        } else {
            state.clone()
        };
        match output {
            KvOutput::Unknown => Some(next),
            KvOutput::Cas(ok) if *ok == succeeds => Some(next),
            _ => None,
        }
    }
}

/// Whether `output` is a plain acknowledgement (or unknown).
fn is_done(output: &KvOutput) -> bool {
    matches!(output, KvOutput::Done | KvOutput::Unknown)
}

impl Model for KvModel {
    type Input = KvInput;
    type Output = KvOutput;
    type State = KvState;
    type Key = Vec<u8>;

    fn init(&self) -> KvState {
        None
    }

    fn step(&self, state: &KvState, input: &KvInput, output: &KvOutput) -> Option<KvState> {
        match input {
            KvInput::Get { .. } => self.step_get(state, output),
            KvInput::Put { value, .. } => is_done(output).then(|| Some(value.clone())),
            KvInput::Append { value, .. } => self.step_append(state, value, output),
            KvInput::Delete { .. } => self.step_delete(state, output),
            KvInput::Cas { expected, new, .. } => {
                self.step_cas(state, expected.as_deref(), new, output)
            }
            KvInput::Increment { delta, .. } => self.step_increment(state, *delta, output),
        }
    }

    fn matches_any_outcome(&self, _input: &KvInput, output: &KvOutput) -> bool {
        *output == KvOutput::Unknown
    }

    fn state_heap_bytes(&self, state: &KvState) -> usize {
        state.as_ref().map_or(0, Vec::capacity)
    }

    fn partition_key(&self, input: &KvInput) -> Vec<u8> {
        input.key().to_vec()
    }

    fn describe_key(&self, key: &Vec<u8>) -> String {
        quote(key)
    }

    fn describe_operation(&self, input: &KvInput, output: &KvOutput) -> String {
        let request = match input {
            KvInput::Get { key } => format!("get({})", quote(key)),
            KvInput::Put { key, value } => format!("put({}, {})", quote(key), quote(value)),
            KvInput::Append { key, value } => format!("append({}, {})", quote(key), quote(value)),
            KvInput::Delete { key } => format!("delete({})", quote(key)),
            KvInput::Cas { key, expected, new } => {
                format!(
                    "cas({}, {} -> {})",
                    quote(key),
                    describe_value(expected),
                    quote(new)
                )
            }
            KvInput::Increment { key, delta } => format!("increment({}, {delta})", quote(key)),
        };
        let reply = match output {
            KvOutput::Value(v) => describe_value(v),
            KvOutput::Done => "ok".to_string(),
            KvOutput::Length(length) => format!("length={length}"),
            KvOutput::Deleted(existed) => format!("existed={existed}"),
            KvOutput::Cas(ok) => ok.to_string(),
            KvOutput::Number(n) => n.to_string(),
            KvOutput::NotAnInteger => "not an integer".to_string(),
            KvOutput::Overflow => "overflow".to_string(),
            KvOutput::Unknown => "unknown (timed out)".to_string(),
        };
        format!("{request} -> {reply}")
    }

    fn describe_state(&self, state: &KvState) -> String {
        describe_value(state)
    }
}

/// Parses a stored value as the store does (Redis `string2ll`): an optional `-`, then
/// digits without a leading zero (except `0`); no `+`, spaces or `-0`.
fn parse_i64(bytes: &[u8]) -> Option<i64> {
    let digits = bytes.strip_prefix(b"-").unwrap_or(bytes);
    let canonical = match digits {
        [] => false,
        [b'0'] => digits.len() == bytes.len(),
        [first, rest @ ..] => (b'1'..=b'9').contains(first) && rest.iter().all(u8::is_ascii_digit),
    };
    canonical.then(|| std::str::from_utf8(bytes).ok()?.parse().ok())?
}

/// A value for reports: quoted, or `absent`.
fn describe_value(value: &Option<Vec<u8>>) -> String {
    value.as_deref().map_or_else(|| "absent".to_string(), quote)
}

/// Bytes longer than this are shown as head ... tail.
const QUOTE_LIMIT: usize = 96;

/// Bytes for reports: escaped ASCII in quotes, long values abbreviated around the middle.
fn quote(bytes: &[u8]) -> String {
    if bytes.len() <= QUOTE_LIMIT {
        return format!("\"{}\"", bytes.escape_ascii());
    }
    let head = &bytes[..32];
    let tail = &bytes[bytes.len() - 56..];
    format!(
        "\"{}...{}\" ({} bytes)",
        head.escape_ascii(),
        tail.escape_ascii(),
        bytes.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(model: &KvModel, state: KvState, input: KvInput, output: KvOutput) -> Option<KvState> {
        model.step(&state, &input, &output)
    }

    #[test]
    fn each_operation_steps_as_specified() {
        let m = KvModel::new();
        let v = |s: &str| Some(s.as_bytes().to_vec());
        assert_eq!(
            step(&m, None, KvInput::get("k"), KvOutput::absent()),
            Some(None)
        );
        assert_eq!(step(&m, None, KvInput::get("k"), KvOutput::value("")), None);
        assert_eq!(
            step(&m, None, KvInput::put("k", "a"), KvOutput::Done),
            Some(v("a"))
        );
        assert_eq!(
            step(&m, v("a"), KvInput::append("k", "b"), KvOutput::Done),
            Some(v("ab"))
        );
        assert_eq!(
            step(&m, None, KvInput::append("k", "b"), KvOutput::Done),
            Some(v("b"))
        );
        assert_eq!(
            step(&m, v("a"), KvInput::delete("k"), KvOutput::Deleted(true)),
            Some(None)
        );
        assert_eq!(
            step(&m, None, KvInput::delete("k"), KvOutput::Deleted(true)),
            None
        );
        assert_eq!(
            step(&m, v("a"), KvInput::cas("k", "a", "b"), KvOutput::Cas(true)),
            Some(v("b"))
        );
        assert_eq!(
            step(
                &m,
                v("a"),
                KvInput::cas("k", "x", "b"),
                KvOutput::Cas(false)
            ),
            Some(v("a"))
        );
        assert_eq!(
            step(&m, v("a"), KvInput::cas("k", "x", "b"), KvOutput::Cas(true)),
            None
        );
        assert_eq!(
            step(&m, None, KvInput::cas_absent("k", "b"), KvOutput::Cas(true)),
            Some(v("b"))
        );
        assert_eq!(
            step(&m, v("a"), KvInput::cas("k", "a", "b"), KvOutput::Unknown),
            Some(v("b"))
        );
        assert_eq!(
            step(&m, v("a"), KvInput::get("k"), KvOutput::Cas(true)),
            None
        );
    }

    #[test]
    fn append_length_must_match_the_value_after_appending() {
        let m = KvModel::new();
        let v = |s: &str| Some(s.as_bytes().to_vec());
        assert_eq!(
            step(&m, v("a"), KvInput::append("k", "bc"), KvOutput::Length(3)),
            Some(v("abc"))
        );
        assert_eq!(
            step(&m, None, KvInput::append("k", "bc"), KvOutput::Length(2)),
            Some(v("bc"))
        );
        assert_eq!(
            step(&m, v("a"), KvInput::append("k", "bc"), KvOutput::Length(2)),
            None
        );
        assert_eq!(
            step(&m, v("a"), KvInput::put("k", "bc"), KvOutput::Length(2)),
            None
        );
        assert_eq!(
            m.describe_operation(&KvInput::append("k", "x"), &KvOutput::Length(4)),
            "append(\"k\", \"x\") -> length=4"
        );
    }

    #[test]
    fn increment_steps_like_redis_incrby() {
        let m = KvModel::new();
        let v = |s: &str| Some(s.as_bytes().to_vec());
        let inc = |delta| KvInput::increment("k", delta);
        assert_eq!(step(&m, None, inc(3), KvOutput::Number(3)), Some(v("3")));
        assert_eq!(
            step(&m, v("-4"), inc(3), KvOutput::Number(-1)),
            Some(v("-1"))
        );
        assert_eq!(step(&m, v("4"), inc(3), KvOutput::Number(3)), None);
        assert_eq!(
            step(&m, v("x"), inc(1), KvOutput::NotAnInteger),
            Some(v("x"))
        );
        assert_eq!(step(&m, v("01"), inc(1), KvOutput::Number(2)), None);
        assert_eq!(step(&m, v("5"), inc(1), KvOutput::NotAnInteger), None);
        let max = v(&i64::MAX.to_string());
        assert_eq!(
            step(&m, max.clone(), inc(1), KvOutput::Overflow),
            Some(max.clone())
        );
        assert_eq!(step(&m, max.clone(), inc(1), KvOutput::Unknown), Some(max));
        assert_eq!(step(&m, v("1"), inc(1), KvOutput::Unknown), Some(v("2")));
        assert_eq!(
            step(&m, v("1"), KvInput::get("k"), KvOutput::Number(1)),
            None
        );
    }

    #[test]
    fn absent_is_empty_mode_reads_missing_keys_as_empty() {
        let m = KvModel::absent_is_empty();
        assert_eq!(
            step(&m, None, KvInput::get("k"), KvOutput::value("")),
            Some(None)
        );
        assert_eq!(
            step(&m, None, KvInput::cas("k", "", "x"), KvOutput::Cas(true)),
            Some(Some(b"x".to_vec()))
        );
    }

    #[test]
    fn describes_operations_readably() {
        let m = KvModel::new();
        let d = m.describe_operation(&KvInput::cas_absent("k", "v"), &KvOutput::Cas(false));
        assert_eq!(d, "cas(\"k\", absent -> \"v\") -> false");
        let long = vec![b'x'; 200];
        assert!(quote(&long).ends_with("(200 bytes)"));
    }
}
