//! The clients: native exactly-once clients (Get, Put, Append, CAS, Delete) and plain
//! RESP clients (GET, SET, APPEND, SETNX, DEL), on a small key space.
//!
//! Keys are `a<slot>.<epoch>` (append-only: Append and Get) and `r<slot>.<epoch>`
//! (registers: the rest). The epoch advances every [`EPOCH`], so at any moment clients
//! contend on eight keys, yet no key's history (and no appended value) grows without
//! bound over a long soak. Every written value is unique (`n3.17;`: client kind, index,
//! counter), so a duplicated or resurrected write cannot pass for a legal one.

use super::history::{native_output, Completion, Record, Recorder};
use super::resp_client::RespConnection;
use bytes::Bytes;
use kv::KvError;
use linearizability::kv::{KvInput, KvOutput};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use server::client::{Client, ClientError, ClientOptions};
use server::resp::Reply;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long clients use one generation of keys.
pub const EPOCH: Duration = Duration::from_secs(10);
const SLOTS: u64 = 8;
/// Deadline of one client call (retries included for the native client).
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(2_500);

/// What every client shares.
#[derive(Clone)]
pub struct Context {
    pub recorder: Recorder,
    pub addresses: Vec<SocketAddr>,
    pub stop: Arc<AtomicBool>,
    pub seed: u64,
    pub think_ms: (u64, u64),
}

pub fn native_options(request_timeout: Duration) -> ClientOptions {
    ClientOptions {
        request_timeout,
        attempt_timeout: Duration::from_millis(1_000),
        backoff_min: Duration::from_millis(10),
        backoff_max: Duration::from_millis(200),
    }
}

/// The key of `slot` at time `now_ns`.
fn key_at(slot: u64, now_ns: u64) -> String {
    let epoch = now_ns / EPOCH.as_nanos() as u64;
    let kind = if slot < SLOTS / 2 { 'a' } else { 'r' };
    format!("{kind}{slot}.{epoch}")
}

pub fn is_append_key(key: &[u8]) -> bool {
    key.first() == Some(&b'a')
}

/// One client's random choices and what it has seen (for CAS's expected value).
struct Chooser {
    rng: ChaCha8Rng,
    tag: String,
    counter: u64,
    seen: HashMap<Vec<u8>, Option<Vec<u8>>>,
}

impl Chooser {
    fn new(seed: u64, tag: String) -> Chooser {
        let stream = tag
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        Chooser {
            rng: ChaCha8Rng::seed_from_u64(seed ^ stream.rotate_left(17)),
            tag,
            counter: 0,
            seen: HashMap::new(),
        }
    }

    fn unique_value(&mut self) -> Vec<u8> {
        self.counter += 1;
        format!("{}.{};", self.tag, self.counter).into_bytes()
    }

    /// The next operation; `with_cas`: a CAS with an expected value (native only).
    fn next(&mut self, now_ns: u64, with_cas: bool) -> KvInput {
        let key = key_at(self.rng.gen_range(0..SLOTS), now_ns).into_bytes();
        let roll = self.rng.gen_range(0..100);
        if is_append_key(&key) {
            return if roll < 55 {
                KvInput::append(key, self.unique_value())
            } else {
                KvInput::get(key)
            };
        }
        match roll {
            0..=34 => KvInput::get(key),
            35..=64 => KvInput::put(key, self.unique_value()),
            65..=94 => {
                let expected = if with_cas {
                    self.seen.get(&key).cloned().flatten()
                } else {
                    None
                };
                KvInput::Cas {
                    key,
                    expected,
                    new: self.unique_value(),
                }
            }
            _ => KvInput::delete(key),
        }
    }

    /// Remembers the value a reply shows the key to hold.
    fn observe(&mut self, input: &KvInput, output: &KvOutput) {
        let value = match (input, output) {
            (KvInput::Get { .. }, KvOutput::Value(value)) => value.clone(),
            (KvInput::Put { value, .. }, KvOutput::Done) => Some(value.clone()),
            (KvInput::Cas { new, .. }, KvOutput::Cas(true)) => Some(new.clone()),
            (KvInput::Delete { .. }, _) => None,
            _ => return,
        };
        self.seen.insert(input.key().to_vec(), value);
    }

    fn think(&mut self, think_ms: (u64, u64)) -> Duration {
        Duration::from_millis(self.rng.gen_range(think_ms.0..=think_ms.1))
    }
}

/// The native operation for a checker input.
pub fn to_native(input: &KvInput) -> kv::Operation {
    let bytes = |b: &Vec<u8>| Bytes::from(b.clone());
    match input {
        KvInput::Get { key } => kv::Operation::Get { key: bytes(key) },
        KvInput::Put { key, value } => kv::Operation::Put {
            key: bytes(key),
            value: bytes(value),
        },
        KvInput::Append { key, value } => kv::Operation::Append {
            key: bytes(key),
            value: bytes(value),
        },
        KvInput::Delete { key } => kv::Operation::Delete { key: bytes(key) },
        KvInput::Cas { key, expected, new } => kv::Operation::CompareAndSet {
            key: bytes(key),
            expected: expected.as_ref().map(bytes),
            value: bytes(new),
        },
        KvInput::Increment { key, delta } => kv::Operation::Increment {
            key: bytes(key),
            delta: *delta,
        },
    }
}

/// What became of a recorded call.
#[derive(Debug, PartialEq, Eq)]
pub enum Called {
    Answered(KvOutput),
    /// No answer to a write: recorded as possibly applied.
    Unknown,
    /// Refused, or a read without an answer: no effect, not recorded.
    Nothing,
}

/// Runs one native operation and records it under logical client `id`.
pub async fn native_call(
    client: &mut Client,
    recorder: &Recorder,
    id: u64,
    input: KvInput,
) -> Called {
    let call = recorder.now();
    let result = match client.execute(to_native(&input)).await {
        // Refusals that certainly left the state as it was. Others (a stale request, an
        // expired session) cannot say whether an earlier attempt applied: unknown.
        Err(ClientError::Rejected(
            error @ (KvError::TooLarge { .. }
            | KvError::Malformed
            | KvError::NotAnInteger
            | KvError::Overflow),
        )) => Ok(kv::Outcome::Rejected(error)),
        other => other,
    };
    let at = recorder.now();
    let (completion, called) = match result.map(native_output) {
        Ok(Some(output)) => (
            Completion::Returned {
                output: output.clone(),
                at,
            },
            Called::Answered(output),
        ),
        Ok(None) => return Called::Nothing,
        Err(_) if matches!(input, KvInput::Get { .. }) => return Called::Nothing,
        Err(_) => (Completion::Unknown, Called::Unknown),
    };
    recorder.record(Record {
        client: id,
        input,
        call,
        completion,
    });
    called
}

pub async fn native_client(index: usize, context: Context) {
    let mut chooser = Chooser::new(context.seed, format!("n{index}"));
    let mut client = Client::new(context.addresses.clone(), native_options(REQUEST_TIMEOUT));
    let mut id = context.recorder.new_client();
    while !context.stop.load(Ordering::Relaxed) {
        let input = chooser.next(context.recorder.now(), true);
        match native_call(&mut client, &context.recorder, id, input.clone()).await {
            Called::Answered(output) => chooser.observe(&input, &output),
            Called::Unknown => id = context.recorder.new_client(),
            Called::Nothing => {}
        }
        tokio::time::sleep(chooser.think(context.think_ms)).await;
    }
}

/// The RESP command for an input (registers use SET, SETNX, DEL; no CAS with a value).
fn resp_command(input: &KvInput) -> Vec<Vec<u8>> {
    let command = |parts: &[&[u8]]| parts.iter().map(|part| part.to_vec()).collect();
    match input {
        KvInput::Get { key } => command(&[b"GET", key]),
        KvInput::Put { key, value } => command(&[b"SET", key, value]),
        KvInput::Append { key, value } => command(&[b"APPEND", key, value]),
        KvInput::Delete { key } => command(&[b"DEL", key]),
        KvInput::Cas { key, new, .. } => command(&[b"SETNX", key, new]),
        KvInput::Increment { key, delta } => {
            command(&[b"INCRBY", key, delta.to_string().as_bytes()])
        }
    }
}

/// The one place a RESP reply becomes the checker's output; `None`: not a reply this
/// command can give (an error, or a protocol surprise): the outcome is unknown.
pub fn resp_output(input: &KvInput, reply: &Reply) -> Option<KvOutput> {
    match (input, reply) {
        (KvInput::Get { .. }, Reply::Bulk(value)) => {
            Some(KvOutput::Value(value.as_ref().map(|v| v.to_vec())))
        }
        (KvInput::Put { .. }, Reply::Simple(ok)) if ok == "OK" => Some(KvOutput::Done),
        (KvInput::Append { .. }, Reply::Integer(length)) => {
            u64::try_from(*length).ok().map(KvOutput::Length)
        }
        (KvInput::Increment { .. }, Reply::Integer(sum)) => Some(KvOutput::Number(*sum)),
        (KvInput::Cas { expected: None, .. }, Reply::Integer(n @ 0..=1)) => {
            Some(KvOutput::Cas(*n == 1))
        }
        (KvInput::Delete { .. }, Reply::Integer(n @ 0..=1)) => Some(KvOutput::Deleted(*n == 1)),
        _ => None,
    }
}

/// Runs one RESP command and records it under logical client `id`. Returns what
/// became of it, and whether the connection is still usable.
async fn resp_call(
    connection: &mut RespConnection,
    recorder: &Recorder,
    id: u64,
    input: KvInput,
) -> (Called, bool) {
    let command = resp_command(&input);
    let arguments: Vec<&[u8]> = command.iter().map(Vec::as_slice).collect();
    let call = recorder.now();
    let reply = connection.call(&arguments, REQUEST_TIMEOUT).await;
    let at = recorder.now();
    let usable = reply.is_ok();
    let output = reply.ok().and_then(|reply| resp_output(&input, &reply));
    let (completion, called) = match output {
        Some(output) => (
            Completion::Returned {
                output: output.clone(),
                at,
            },
            Called::Answered(output),
        ),
        None if matches!(input, KvInput::Get { .. }) => return (Called::Nothing, usable),
        None => (Completion::Unknown, Called::Unknown),
    };
    recorder.record(Record {
        client: id,
        input,
        call,
        completion,
    });
    (called, usable)
}

pub async fn resp_client(index: usize, context: Context) {
    let mut chooser = Chooser::new(context.seed, format!("r{index}"));
    let mut node = index;
    let mut connection: Option<RespConnection> = None;
    let mut id = context.recorder.new_client();
    while !context.stop.load(Ordering::Relaxed) {
        let Some(open) = connection.as_mut() else {
            let address = context.addresses[node % context.addresses.len()];
            match RespConnection::connect(address, Duration::from_millis(500)).await {
                Ok(opened) => connection = Some(opened),
                Err(_) => {
                    node += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            continue;
        };
        let input = chooser.next(context.recorder.now(), false);
        let (called, usable) = resp_call(open, &context.recorder, id, input.clone()).await;
        match called {
            Called::Answered(output) => chooser.observe(&input, &output),
            Called::Unknown => id = context.recorder.new_client(),
            Called::Nothing => {}
        }
        if !usable {
            // A reply may still be on its way: this connection cannot be trusted again.
            connection = None;
            node += 1;
        }
        tokio::time::sleep(chooser.think(context.think_ms)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp_replies_map_to_outputs_and_errors_are_unknown() {
        let get = KvInput::get("r5.0");
        assert_eq!(
            resp_output(&get, &Reply::bulk("x")),
            Some(KvOutput::value("x"))
        );
        assert_eq!(resp_output(&get, &Reply::nil()), Some(KvOutput::absent()));
        let setnx = KvInput::cas_absent("r5.0", "v");
        assert_eq!(
            resp_output(&setnx, &Reply::Integer(0)),
            Some(KvOutput::Cas(false))
        );
        let put = KvInput::put("r5.0", "v");
        assert_eq!(resp_output(&put, &Reply::ok()), Some(KvOutput::Done));
        assert_eq!(resp_output(&put, &Reply::err("TRYAGAIN")), None);
        assert_eq!(resp_output(&put, &Reply::Integer(1)), None);
    }

    #[test]
    fn keys_rotate_by_epoch_and_values_are_unique() {
        assert_eq!(key_at(0, 0), "a0.0");
        assert_eq!(key_at(7, EPOCH.as_nanos() as u64 * 3), "r7.3");
        let mut chooser = Chooser::new(1, "n0".into());
        let values: std::collections::BTreeSet<Vec<u8>> =
            (0..100).map(|_| chooser.unique_value()).collect();
        assert_eq!(values.len(), 100);
    }

    #[test]
    fn append_keys_get_only_appends_and_reads() {
        let mut chooser = Chooser::new(9, "n1".into());
        for _ in 0..500 {
            let input = chooser.next(0, true);
            if is_append_key(input.key()) {
                assert!(matches!(
                    input,
                    KvInput::Append { .. } | KvInput::Get { .. }
                ));
            }
        }
    }
}
