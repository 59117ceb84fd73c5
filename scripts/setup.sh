#!/usr/bin/env bash
# Installs what the build and tests need, idempotently: rustup targets for the no_std proof,
# the SBC and the kernel-USB VM tests (static musl binaries), and Debian's cross linker and
# qemu-user for running aarch64 tests. The VM's own needs (qemu-system-x86, busybox-static, the
# kernel packages) are fetched by scripts/vm-usb/prepare.sh.
set -euo pipefail

log() { printf '[setup] %s\n' "$*"; }

need_targets=()
installed_targets=$(rustup target list --installed 2>/dev/null || true)
for t in thumbv7em-none-eabihf aarch64-unknown-linux-gnu x86_64-unknown-linux-musl; do
  grep -qx "$t" <<<"$installed_targets" || need_targets+=("$t")
done
if [ ${#need_targets[@]} -gt 0 ]; then
  log "rustup target add ${need_targets[*]}"
  rustup target add "${need_targets[@]}"
fi

need_debs=()
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || need_debs+=(gcc-aarch64-linux-gnu)
[ -e /usr/aarch64-linux-gnu/lib/libc.so.6 ] || need_debs+=(libc6-dev-arm64-cross)
command -v qemu-aarch64-static >/dev/null 2>&1 || command -v qemu-aarch64 >/dev/null 2>&1 || need_debs+=(qemu-user-static)
# A C compiler: host/tests/cli_depth.rs builds the test depth engine (tests/engine/*.c) with cc.
command -v cc >/dev/null 2>&1 || need_debs+=(gcc)
# MKVToolNix: an independent Matroska reader for host/tests/mkv_independent.rs.
command -v mkvmerge >/dev/null 2>&1 && command -v mkvinfo >/dev/null 2>&1 || need_debs+=(mkvtoolnix)
# musl-gcc: the C parts of the rig's TLS stack (ring) in the static k4sync the VM tests run.
command -v musl-gcc >/dev/null 2>&1 || need_debs+=(musl-tools)
# Chromium: rig/tests/dashboard_browser.rs opens the rig dashboard in headless Chromium over the
# DevTools protocol (Debian's browser; the test never downloads one).
command -v chromium >/dev/null 2>&1 || need_debs+=(chromium)
# iproute2: cli/tests/cli_rig_netns.rs builds its test hosts with `ip netns` and veth pairs.
command -v ip >/dev/null 2>&1 || need_debs+=(iproute2)
# fincore (util-linux): host/tests/page_cache.rs checks which pages of a file are cached.
command -v fincore >/dev/null 2>&1 || need_debs+=(util-linux)
if [ ${#need_debs[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  log "apt-get install ${need_debs[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_debs[@]}"
fi
log "ready"
