#!/usr/bin/env bash
# The sync engine's and codec's key properties at 10,000 cases each (CI runs proptest's default
# count). Release build, so the run takes minutes, not hours.
# Usage: scripts/proptest-long.sh [cases]
set -euo pipefail
cd "$(dirname "$0")/.."
export PROPTEST_CASES="${1:-10000}"
for t in sync_align sync_plan sync_pairing wire_control wire_streams; do
  printf '\n==> %s at %s cases\n' "$t" "$PROPTEST_CASES"
  cargo test --release -p k4sync-core --all-features --test "$t" -- --test-threads=2
done
printf '\n==> align_rig (k4sync align over simulated rigs) at %s cases\n' "$PROPTEST_CASES"
cargo test --release -p k4sync --test align_rig aligned_sets -- --test-threads=2
