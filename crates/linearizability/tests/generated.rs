//! Large generated histories: a simulated linearizable KV store with concurrent clients
//! (each operation takes effect at a random point inside its interval) must check Ok;
//! the same history with one read corrupted must check Illegal.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use linearizability::kv::{KvInput, KvModel, KvOperation, KvOutput};
use linearizability::{CheckResult, Checker, Operation};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The shape of a generated history.
#[derive(Clone, Copy)]
struct Shape {
    clients: u64,
    ops_per_client: u64,
    keys: u64,
    /// Values come from `0..value_domain` if nonzero, else every written value is unique.
    value_domain: u64,
    /// Percent of operations that time out (half of them still take effect).
    timeout_percent: u32,
    seed: u64,
}

/// An operation's timing before its input and output are chosen.
struct Slot {
    client: u64,
    seq: u64,
    call: u64,
    ret: Option<u64>,
    /// When it takes effect; `None` if it never does.
    effect: Option<u64>,
}

fn slots(shape: &Shape, rng: &mut ChaCha8Rng) -> Vec<Slot> {
    let mut slots = Vec::new();
    for client in 0..shape.clients {
        let mut t = rng.gen_range(0..20);
        for seq in 0..shape.ops_per_client {
            let call = t;
            let ret = call + rng.gen_range(1..=100);
            let mut slot = Slot {
                client,
                seq,
                call,
                ret: Some(ret),
                effect: Some(rng.gen_range(call..=ret)),
            };
            if rng.gen_range(0..100) < shape.timeout_percent {
                slot.ret = None;
                slot.effect = rng.gen_bool(0.5).then(|| rng.gen_range(call..call + 2000));
            }
            slots.push(slot);
            t = ret + rng.gen_range(0..10);
        }
    }
    slots
}

fn value(shape: &Shape, rng: &mut ChaCha8Rng, slot: &Slot) -> Vec<u8> {
    if shape.value_domain == 0 {
        format!("c{}.{};", slot.client, slot.seq).into_bytes()
    } else {
        rng.gen_range(0..shape.value_domain)
            .to_string()
            .into_bytes()
    }
}

/// Chooses an input for `slot` and applies it to `store` if it takes effect.
fn apply(
    shape: &Shape,
    rng: &mut ChaCha8Rng,
    slot: &Slot,
    store: &mut HashMap<Vec<u8>, Vec<u8>>,
) -> (KvInput, KvOutput) {
    let key = format!("k{}", rng.gen_range(0..shape.keys)).into_bytes();
    let current = store.get(&key).cloned();
    let (input, output, next) = match rng.gen_range(0..100) {
        0..40 => (
            KvInput::get(key.clone()),
            KvOutput::Value(current.clone()),
            current,
        ),
        40..60 => {
            let v = value(shape, rng, slot);
            (
                KvInput::put(key.clone(), v.clone()),
                KvOutput::Done,
                Some(v),
            )
        }
        60..75 => {
            let v = value(shape, rng, slot);
            let mut next = current.clone().unwrap_or_default();
            next.extend_from_slice(&v);
            (KvInput::append(key.clone(), v), KvOutput::Done, Some(next))
        }
        75..90 => {
            let expected = if rng.gen_bool(0.5) {
                current.clone()
            } else {
                Some(value(shape, rng, slot))
            };
            let new = value(shape, rng, slot);
            let ok = expected == current;
            let input = KvInput::Cas {
                key: key.clone(),
                expected,
                new: new.clone(),
            };
            (
                input,
                KvOutput::Cas(ok),
                if ok { Some(new) } else { current },
            )
        }
        _ => (
            KvInput::delete(key.clone()),
            KvOutput::Deleted(current.is_some()),
            None,
        ),
    };
    if slot.effect.is_some() {
        match next {
            Some(v) => store.insert(key, v),
            None => store.remove(&key),
        };
    }
    (input, output)
}

/// A linearizable history of the given shape.
fn generate(shape: Shape) -> Vec<KvOperation> {
    let mut rng = ChaCha8Rng::seed_from_u64(shape.seed);
    let mut slots = slots(&shape, &mut rng);
    // Operations that never take effect go last (their inputs are still chosen).
    slots.sort_by_key(|s| (s.effect.is_none(), s.effect, s.client));
    let mut store = HashMap::new();
    let mut history = Vec::with_capacity(slots.len());
    for slot in &slots {
        let (input, output) = apply(&shape, &mut rng, slot, &mut store);
        history.push(match slot.ret {
            Some(ret) => Operation::new(slot.client, input, output, slot.call, ret),
            None => Operation::timed_out(slot.client, input, KvOutput::Unknown, slot.call),
        });
    }
    history.sort_by_key(|op| op.call);
    history
}

fn check_timed(history: &[KvOperation], what: &str) -> CheckResult {
    let start = Instant::now();
    let result = Checker::new()
        .timeout(Duration::from_secs(20))
        .check(&KvModel::new(), history);
    eprintln!(
        "{what}: {} ops checked in {:?}",
        history.len(),
        start.elapsed()
    );
    result
}

/// Replaces the output of the completed Get nearest the middle with a never-written value;
/// returns its key.
fn corrupt_middle_read(history: &mut [KvOperation]) -> Vec<u8> {
    let middle = history.len() / 2;
    let index = (middle..history.len())
        .find(|&i| {
            matches!(history[i].input, KvInput::Get { .. }) && history[i].return_time.is_some()
        })
        .expect("a completed read after the middle");
    history[index].output = KvOutput::value("corrupt");
    history[index].input.key().to_vec()
}

const MANY_KEYS: Shape = Shape {
    clients: 10,
    ops_per_client: 500,
    keys: 10,
    value_domain: 0,
    timeout_percent: 0,
    seed: 1,
};
const ONE_KEY: Shape = Shape {
    clients: 8,
    ops_per_client: 500,
    keys: 1,
    value_domain: 4,
    timeout_percent: 0,
    seed: 2,
};

#[test]
fn many_keys_5000_ops_is_ok() {
    let history = generate(MANY_KEYS);
    assert_eq!(history.len(), 5000);
    assert_eq!(check_timed(&history, "10 keys"), CheckResult::Ok);
}

#[test]
fn one_key_4000_ops_small_value_domain_is_ok() {
    let history = generate(ONE_KEY);
    assert_eq!(check_timed(&history, "1 key, 4 values"), CheckResult::Ok);
}

#[test]
fn one_key_unique_values_is_ok() {
    let shape = Shape {
        value_domain: 0,
        seed: 3,
        ..ONE_KEY
    };
    assert_eq!(
        check_timed(&generate(shape), "1 key, unique values"),
        CheckResult::Ok
    );
}

#[test]
fn timed_out_operations_are_ok() {
    for seed in 10..15 {
        let shape = Shape {
            timeout_percent: 5,
            seed,
            ..MANY_KEYS
        };
        let history = generate(shape);
        assert!(history.iter().any(|op| op.return_time.is_none()));
        assert_eq!(
            check_timed(&history, "5% timed out"),
            CheckResult::Ok,
            "seed {seed}"
        );
    }
}

#[test]
fn many_seeds_small_histories_are_ok() {
    for seed in 100..150 {
        let shape = Shape {
            clients: 5,
            ops_per_client: 40,
            keys: 2,
            value_domain: 3,
            timeout_percent: 3,
            seed,
        };
        let result = Checker::new()
            .timeout(Duration::from_secs(20))
            .check(&KvModel::new(), &generate(shape));
        assert_eq!(result, CheckResult::Ok, "seed {seed}");
    }
}

#[test]
fn many_keys_with_one_corrupted_read_is_illegal() {
    let mut history = generate(MANY_KEYS);
    let key = corrupt_middle_read(&mut history);
    let CheckResult::Illegal(report) = check_timed(&history, "10 keys, corrupted") else {
        panic!("expected illegal");
    };
    assert_eq!(report.partitions.len(), 1);
    let expected_key = format!("\"{}\"", String::from_utf8(key).unwrap());
    assert_eq!(report.partitions[0].key, expected_key);
    assert!(report.to_text().contains("-> \"corrupt\""));
}

#[test]
fn one_key_with_one_corrupted_read_is_illegal() {
    let mut history = generate(ONE_KEY);
    corrupt_middle_read(&mut history);
    assert!(check_timed(&history, "1 key, corrupted").is_illegal());
}

#[test]
fn corrupted_reads_are_illegal_over_many_seeds() {
    for seed in 200..230 {
        let shape = Shape {
            clients: 5,
            ops_per_client: 40,
            keys: 2,
            value_domain: 3,
            timeout_percent: 3,
            seed,
        };
        let mut history = generate(shape);
        corrupt_middle_read(&mut history);
        let result = Checker::new()
            .timeout(Duration::from_secs(20))
            .check(&KvModel::new(), &history);
        assert!(result.is_illegal(), "seed {seed}: {result:?}");
    }
}

#[test]
fn one_key_with_timed_out_operations_is_ok() {
    let shape = Shape {
        timeout_percent: 5,
        clients: 4,
        ops_per_client: 250,
        seed: 4,
        ..ONE_KEY
    };
    let result = check_timed(&generate(shape), "1 key, 5% timed out");
    assert_eq!(result, CheckResult::Ok);
}

#[test]
fn one_key_eight_clients_with_timed_out_operations_is_ok() {
    // Without pruning on free (timed-out, unknown-output) operations this exhausted a
    // 5 s budget; with it, it takes well under a second.
    let shape = Shape {
        timeout_percent: 5,
        clients: 8,
        ops_per_client: 100,
        seed: 4,
        ..ONE_KEY
    };
    let result = check_timed(&generate(shape), "1 key, 8 clients, 5% timed out");
    assert_eq!(result, CheckResult::Ok);
}
