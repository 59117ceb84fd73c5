#!/usr/bin/env bash
# The main job: drive a camera when one is attached, otherwise the built-in emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release --locked -p k4sync-host --bin k4sync -- demo "$@"
