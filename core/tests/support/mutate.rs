//! Mutants of valid inputs for the never-panic properties, and the share of a strategy's inputs
//! that pass a parser's gate.
//!
//! Uniform random bytes die at the first magic number, length rule or CRC, so a never-panic
//! property fed only with them tests the gate and nothing behind it. [`mutated`] starts from
//! an encoder's valid output and applies one to four small edits (one most often) (mostly byte and bit changes
//! that keep the length, now and then a cut, an insertion or an appended tail), so most
//! mutants get past the gate and the checks behind it run on nearly valid data. [`gate_share`]
//! measures that, with a fixed seed, so a test can insist on it ([`assert_gate_share`]). Shared by the core's codec
//! properties and (through `#[path]`) the host's Matroska reader properties.

#![allow(dead_code, reason = "each including test binary uses a different part")]

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

/// One small edit of a byte string.
#[derive(Debug, Clone)]
enum Edit {
    Set(Index, u8),
    FlipBit(Index, u8),
    Cut(Index),
    Insert(Index, u8),
    Append(Vec<u8>),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<Index>(), any::<u8>()).prop_map(|(at, v)| Edit::Set(at, v)),
        4 => (any::<Index>(), 0u8..8).prop_map(|(at, bit)| Edit::FlipBit(at, bit)),
        1 => any::<Index>().prop_map(Edit::Cut),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(at, v)| Edit::Insert(at, v)),
        1 => prop::collection::vec(any::<u8>(), 1..16).prop_map(Edit::Append),
    ]
}

fn apply(bytes: &mut Vec<u8>, edit: &Edit) {
    if bytes.is_empty() {
        if let Edit::Append(tail) = edit {
            bytes.extend_from_slice(tail);
        }
        return;
    }
    let len = bytes.len();
    match edit {
        Edit::Set(at, v) => bytes[at.index(len)] = *v,
        Edit::FlipBit(at, bit) => bytes[at.index(len)] ^= 1 << bit,
        Edit::Cut(at) => bytes.truncate(at.index(len)),
        Edit::Insert(at, v) => bytes.insert(at.index(len), *v),
        Edit::Append(tail) => bytes.extend_from_slice(tail),
    }
}

/// One to four edits, fewer more often: one edit keeps most of a packet's checks passing, a
/// stack of them reaches combinations.
fn edits() -> impl Strategy<Value = Vec<Edit>> {
    prop_oneof![
        4 => prop::collection::vec(edit(), 1),
        2 => prop::collection::vec(edit(), 2),
        1 => prop::collection::vec(edit(), 3..=4),
    ]
}

/// `valid` inputs with one to four small edits.
pub fn mutated(valid: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    (valid, edits()).prop_map(|(mut bytes, edits)| {
        for e in &edits {
            apply(&mut bytes, e);
        }
        bytes
    })
}

/// The share of `cases` inputs drawn from `strategy` (fixed seed) for which `passes` holds.
pub fn gate_share<S: Strategy>(strategy: S, cases: u32, passes: impl Fn(&S::Value) -> bool) -> f64 {
    let mut runner = TestRunner::deterministic();
    let passed = (0..cases)
        .filter(|_| {
            let value = strategy
                .new_tree(&mut runner)
                .map(|tree| tree.current())
                .unwrap_or_else(|e| panic!("strategy failed to generate: {e}"));
            passes(&value)
        })
        .count();
    passed as f64 / f64::from(cases)
}

/// The share a never-panic property's inputs must reach past a gate: well above what uniform
/// bytes reach (none, for a magic number or a CRC), well below what unedited inputs reach.
pub const MIN_GATE_SHARE: f64 = 0.25;
/// How many inputs [`assert_gate_share`] draws.
pub const GATE_CASES: u32 = 1_000;

/// Fails unless at least `min` of [`GATE_CASES`] inputs from `strategy` pass.
pub fn assert_gate_share<S: Strategy>(strategy: S, min: f64, passes: impl Fn(&S::Value) -> bool) {
    let share = gate_share(strategy, GATE_CASES, passes);
    assert!(
        share >= min,
        "only {share} of the inputs passed the gate, below {min}"
    );
}
