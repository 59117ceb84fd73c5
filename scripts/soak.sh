#!/usr/bin/env bash
# The soak test (docs/testing.md, "Soak"): `k4sync record` on the real-time emulator for MINUTES
# (default 30) with a random fault every few seconds (stall, short frame, starvation, unplug,
# disk-full, SIGKILL and restart), every file checked with our reader and Microsoft's library
# (after `k4sync repair` where needed), every fault looked up in the recorder's log, no frame the
# recorder reported delivered (or, for killed and disk-full recordings, written) missing, RSS flat.
#
# usage: scripts/soak.sh [MINUTES] [--seed N]
# Environment: SOAK_DIR (default /tmp/k4sync-soak) holds the files; verified ones are deleted,
# failing ones kept with their recorder log. Microsoft's library comes from scripts/interop-venv.sh;
# where that venv cannot exist (not x86-64 Linux with CPython 3.11) that check is skipped and said
# so. Exits non-zero on any violation.
set -euo pipefail
cd "$(dirname "$0")/.."

MINUTES=30
if [ $# -gt 0 ] && [[ $1 != --* ]]; then
  MINUTES=$1
  shift
fi
SOAK_DIR=${SOAK_DIR:-/tmp/k4sync-soak}

cargo build --release -p k4sync --bin k4sync
cargo build --release -p k4sync-tests --example soak
PYTHON=$(bash scripts/interop-venv.sh || true)
[ -n "$PYTHON" ] || echo "soak: Microsoft's library unavailable, its check is skipped" >&2

mkdir -p "$SOAK_DIR"
exec target/release/examples/soak --minutes "$MINUTES" --k4sync target/release/k4sync \
  --work "$SOAK_DIR" --python "$PYTHON" --readout tests/interop/official_readout.py "$@"
