#!/usr/bin/env bash
# The aligner's key properties against the rig simulator at 10,000 cases each (CI runs the
# default count). Usage: scripts/proptest-long.sh [cases]
set -euo pipefail
cd "$(dirname "$0")/.."
export PROPTEST_CASES="${1:-10000}"
cargo test -p k4sync-core --features sim --test sync_align -- --test-threads=2
