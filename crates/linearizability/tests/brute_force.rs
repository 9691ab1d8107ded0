//! Cross-check against brute force: for thousands of small random KV histories the
//! checker's verdict equals that of enumerating every real-time-consistent order.

use linearizability::kv::{KvInput, KvModel, KvOperation, KvOutput};
use linearizability::{CheckResult, Checker, Model, Operation};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn pick<'a>(rng: &mut ChaCha8Rng, items: &[&'a str]) -> &'a str {
    items[rng.gen_range(0..items.len())]
}

fn random_op(rng: &mut ChaCha8Rng, client: u64, timed_out_percent: u32) -> KvOperation {
    let values = ["a", "b"];
    let v = pick(rng, &values);
    let (input, output) = match rng.gen_range(0..5) {
        0 => {
            let out = match rng.gen_range(0..4) {
                0 => KvOutput::absent(),
                _ => KvOutput::value(pick(rng, &["a", "b", "ab", "ba"])),
            };
            (KvInput::get("k"), out)
        }
        1 => (KvInput::put("k", v), KvOutput::Done),
        2 => (KvInput::append("k", v), KvOutput::Done),
        3 => {
            let out = if rng.gen_bool(0.5) {
                KvOutput::Done
            } else {
                KvOutput::Deleted(rng.gen_bool(0.5))
            };
            (KvInput::delete("k"), out)
        }
        _ => {
            let input = if rng.gen_bool(0.3) {
                KvInput::cas_absent("k", v)
            } else {
                KvInput::cas("k", pick(rng, &values), v)
            };
            (input, KvOutput::Cas(rng.gen_bool(0.5)))
        }
    };
    let call = rng.gen_range(0..20);
    if rng.gen_range(0..100) < timed_out_percent {
        Operation::timed_out(client, input, KvOutput::Unknown, call)
    } else {
        Operation::new(client, input, output, call, call + rng.gen_range(0..10))
    }
}

/// Whether some order of the unused operations, consistent with real time, steps from
/// `state` through the model.
fn brute_force(
    model: &KvModel,
    ops: &[KvOperation],
    used: &mut Vec<bool>,
    state: &Option<Vec<u8>>,
) -> bool {
    if used.iter().all(|u| *u) {
        return true;
    }
    for i in 0..ops.len() {
        // i may go next unless an unused operation returned strictly before i's call.
        let blocked = (0..ops.len())
            .any(|j| !used[j] && j != i && ops[j].return_time.is_some_and(|r| r < ops[i].call));
        if used[i] || blocked {
            continue;
        }
        if let Some(next) = model.step(state, &ops[i].input, &ops[i].output) {
            used[i] = true;
            let ok = brute_force(model, ops, used, &next);
            used[i] = false;
            if ok {
                return true;
            }
        }
    }
    false
}

/// Compares the checker with brute force on `rounds` random histories of up to
/// `max_ops` operations; returns (linearizable, illegal) counts.
fn compare(seed: u64, rounds: usize, max_ops: u64, timed_out_percent: u32) -> (usize, usize) {
    let model = KvModel::new();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut ok, mut illegal) = (0, 0);
    for round in 0..rounds {
        let n = rng.gen_range(1..=max_ops);
        let history: Vec<KvOperation> = (0..n)
            .map(|c| random_op(&mut rng, c, timed_out_percent))
            .collect();
        let expected = brute_force(
            &model,
            &history,
            &mut vec![false; history.len()],
            &model.init(),
        );
        let result = Checker::new().threads(1).check(&model, &history);
        assert_ne!(result, CheckResult::Unknown);
        assert_eq!(result.is_ok(), expected, "round {round}: {history:#?}");
        if expected {
            ok += 1
        } else {
            illegal += 1
        }
    }
    (ok, illegal)
}

#[test]
fn checker_agrees_with_brute_force_on_random_small_histories() {
    let (ok, illegal) = compare(7, 3000, 6, 10);
    // Both verdicts are well represented, so the comparison means something.
    assert!(ok > 300 && illegal > 300, "ok {ok}, illegal {illegal}");
}

#[test]
fn checker_agrees_with_brute_force_with_many_timed_out_operations() {
    let (ok, illegal) = compare(8, 2000, 7, 40);
    assert!(ok > 200 && illegal > 200, "ok {ok}, illegal {illegal}");
}
