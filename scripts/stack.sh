#!/usr/bin/env bash
# Worst-case stack use of every k4sync-core entry point on the embedded target
# (thumbv7em-none-eabihf), from the compiler's per-function frame sizes and the call graph.
# Usage: scripts/stack.sh [--check] [--json]
#   --check  exit 1 when any entry point needs more than STACK_BUDGET bytes (default 4096)
set -euo pipefail
cd "$(dirname "$0")/.."

budget=${STACK_BUDGET:-4096}
check=()
json=()
for arg in "$@"; do
  case "$arg" in
    --check) check=(--budget "$budget") ;;
    --json) json=(--json) ;;
    *) echo "usage: scripts/stack.sh [--check] [--json]" >&2; exit 2 ;;
  esac
done

rustup target list --installed | grep -qx thumbv7em-none-eabihf \
  || rustup target add thumbv7em-none-eabihf
if ! command -v llvm-objdump >/dev/null || ! command -v llvm-readobj >/dev/null \
  || ! command -v llvm-cxxfilt >/dev/null; then
  sudo_=(); [ "$(id -u)" -eq 0 ] || sudo_=(sudo)
  "${sudo_[@]}" apt-get install -y llvm >&2
fi

# -Z flags on the stable compiler: emit-stack-sizes has no stable spelling.
export RUSTC_BOOTSTRAP=1
export RUSTFLAGS="-Z emit-stack-sizes -Z unstable-options -C symbol-mangling-version=legacy"
export CARGO_TARGET_DIR="$PWD/target/stack-probe"
(cd tools/stack-probe && cargo build --quiet --locked --release --target thumbv7em-none-eabihf)
lib="$CARGO_TARGET_DIR/thumbv7em-none-eabihf/release/libk4sync_stack_probe.a"
python3 scripts/stack_graph.py "$lib" "${json[@]}" "${check[@]}"
