#!/usr/bin/env bash
# Release build of the `k4sync` binary for a 64-bit ARM SBC (Raspberry Pi 4/5, Rock, Jetson)
# running a glibc distribution, linked with Debian's aarch64 cross gcc.
# Usage: scripts/build-sbc.sh            -> target/aarch64-unknown-linux-gnu/release/k4sync
# Needs: scripts/setup.sh (rustup target + gcc-aarch64-linux-gnu + libc6-dev-arm64-cross).
set -euo pipefail

cd "$(dirname "$0")/.."
TARGET=aarch64-unknown-linux-gnu
LINKER=${K4SYNC_SBC_LINKER:-aarch64-linux-gnu-gcc}

if ! command -v "$LINKER" >/dev/null 2>&1; then
  echo "build-sbc: cross linker '$LINKER' not found; run scripts/setup.sh first" >&2
  exit 1
fi
if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  echo "build-sbc: rust target $TARGET not installed; run scripts/setup.sh first" >&2
  exit 1
fi

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER="$LINKER"
cargo build --release --locked --target "$TARGET" -p k4sync --bin k4sync "$@"

BIN="target/$TARGET/release/k4sync"
echo "build-sbc: $BIN"
if command -v file >/dev/null 2>&1; then file "$BIN"; fi
