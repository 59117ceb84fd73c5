#!/usr/bin/env bash
# The whole test suite: what CI runs and what the README names. Installs its own prerequisites.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "prerequisites"
bash scripts/setup.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The library as a USB-only user builds it: without the emulator feature the CLI turns on.
cargo clippy -p k4sync-host --locked -- -D warnings

step "no_std proof: k4sync-core for thumbv7em-none-eabihf"
cargo build -p k4sync-core --target thumbv7em-none-eabihf --locked
cargo build -p k4sync-core --target thumbv7em-none-eabihf --locked --features emulator,defmt

step "k4sync-core stack use per call on thumbv7em-none-eabihf (budget 4 KiB)"
bash scripts/stack.sh --check

step "k4sync-core and k4sync-host unit tests on aarch64 (the SBC target) under qemu-user"
QEMU=$(command -v qemu-aarch64-static || command -v qemu-aarch64)
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="$QEMU -L /usr/aarch64-linux-gnu"
cargo test -p k4sync-core --target aarch64-unknown-linux-gnu --all-features --locked
cargo test -p k4sync-host --lib --target aarch64-unknown-linux-gnu --features emulator --locked

step "fuzz targets still compile (cargo check of the separate fuzz workspace)"
cargo check --manifest-path fuzz/Cargo.toml --bins --examples

step "interop venv: Microsoft's libk4a/libk4arecord (pyk4a-bundle) for host/tests/mkv_interop.rs"
if [ "$(uname -m)" = x86_64 ]; then
  K4SYNC_INTEROP_PYTHON=$(bash scripts/interop-venv.sh)
  export K4SYNC_INTEROP_PYTHON K4SYNC_INTEROP_REQUIRED=1
else
  echo "interop skipped: the pyk4a-bundle wheel is x86-64 only (this machine is $(uname -m))"
fi

step "kernel USB tests in a VM (nusb against the emulator served as a USB gadget)"
if bash scripts/vm-usb/prepare.sh >/dev/null; then
  # vm_usb runs the `k4sync` binary inside the VM too; cargo builds only the tested package's
  # binaries (the gadget's), so build the command line for the same target first.
  cargo build -p k4sync --bin k4sync --locked --target x86_64-unknown-linux-musl
  K4SYNC_VM_TESTS=1 cargo test -p k4sync-gadget --locked --target x86_64-unknown-linux-musl --test vm_usb
else
  echo "skipped: the VM could not be prepared (Debian kernel packages or qemu not available; see above)"
fi

step "workspace tests (x86_64)"
export K4SYNC_MKVTOOLNIX_REQUIRED=1
# The shared sample recording beside the repository (../shared/samples): a test fails without it.
export K4SYNC_SAMPLES_REQUIRED=1
if cargo nextest --version >/dev/null 2>&1; then
  cargo test --workspace --doc --locked
  cargo nextest run --workspace --all-features --locked --no-fail-fast
else
  cargo test --workspace --all-features --locked --no-fail-fast
fi
