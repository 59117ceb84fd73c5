#!/usr/bin/env bash
# Raw-depth throughput through nusb in the USB VM, next to the gadget's own send rate in the
# same run, at high speed and at SuperSpeed (docs/performance.md, "Real USB path").
#
# Boots the VM once (scripts/vm-usb/run.sh, through the musl target's cargo runner) with
# K4SYNC_VM_THROUGHPUT=SECONDS: the vm_usb binary then, per speed, starts k4sync-gadget
# unpaced (raw depth as fast as the host takes it), opens the camera through the Device API
# over nusb, streams NFOV unbinned raw depth (5,310,760-byte frames, nominally 30 fps) for
# SECONDS and compares what the host read with what the gadget says it wrote.
#
#   scripts/vm-usb/throughput.sh [SECONDS]      default 10; release build
#   K4SYNC_VM_PROFILE=dev scripts/vm-usb/throughput.sh   the dev profile instead
#
# Prints host MB/s, gadget MB/s, their ratio, frames/s against the camera's 30 fps, and CPU
# use in the window (host process and gadget in % of one vCPU, the VM in % of all its vCPUs).
# MB = 10^6 bytes. Exits 1 if the host lost (or dropped) a frame the gadget sent whole, or a
# speed produced no figure. Not part of any test run: the figures depend on the machine.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:-10}
case "$seconds" in
  '' | *[!0-9.]* | .*) echo "throughput.sh: SECONDS must be a number, not '$seconds'" >&2; exit 2 ;;
esac
profile=${K4SYNC_VM_PROFILE:-release}
target=x86_64-unknown-linux-musl
log() { printf '[vm-usb throughput] %s\n' "$*" >&2; }

if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx "$target"; then
  log "rustup target add $target"
  rustup target add "$target" >&2
fi

out=$(mktemp "${TMPDIR:-/tmp}/k4sync-throughput.XXXXXX")
trap 'rm -f "$out"' EXIT
log "building ($profile) and booting the VM; ${seconds} s of streaming per speed"
rc=0
cargo build --profile "$profile" --target "$target" -p k4sync --bin k4sync >&2
boot_limit=$(awk -v s="$seconds" 'BEGIN { printf "%d", 300 + 4 * s }')
K4SYNC_VM_TESTS=1 K4SYNC_VM_THROUGHPUT="$seconds" K4SYNC_VM_TIMEOUT="${K4SYNC_VM_TIMEOUT:-$boot_limit}" \
  cargo test --profile "$profile" --target "$target" -p k4sync-gadget --test vm_usb 2>&1 |
  tr -d '\r' | tee "$out" >&2 || rc=$?

echo
echo "Raw depth, NFOV unbinned (5,310,760-byte frames), ${seconds} s per speed, $profile build:"
awk '
  /^THROUGHPUT / {
    delete f
    for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    host = f["host_seconds"] > 0 && f["host_frames"] > 1 ? (f["host_frames"] - 1) * f["frame_bytes"] / f["host_seconds"] : 0
    gadget = f["gadget_seconds"] > 0 ? f["gadget_bytes"] / f["gadget_seconds"] : 0
    fps = host / f["frame_bytes"]
    ratio = gadget > 0 ? host / gadget : 0
    writing = f["gadget_seconds"] > 0 ? 100 * f["gadget_writing"] / f["gadget_seconds"] : 0
    # A dropped write is a loss unless the gadget cut that frame off (a stream-stop leftover).
    extra = f["dropped"] - f["gadget_cut"]
    lost = f["lost"] + (extra > 0 ? extra : 0) + f["transfers_lost"]
    wall = f["cpu_wall"] > 0 ? f["cpu_wall"] : 1
    vm = f["cpu_vm_total"] > 0 ? 100 * f["cpu_vm_busy"] / f["cpu_vm_total"] : 0
    printf "| %s | %.1f | %.1f | %.2fx | %.1f | %.2fx | %.0f%% | %.0f%% (%.0f%% user) | %.0f%% | %.0f%% | %d | %d |\n", f["speed"], host / 1e6, gadget / 1e6, ratio, fps, fps / 30, writing, 100 * f["cpu_host"] / wall, 100 * f["cpu_host_user"] / wall, 100 * f["cpu_gadget"] / wall, vm, lost, f["unread_at_stop"]
    speeds++
    if (lost > 0) bad++
  }
  BEGIN {
    print "| speed | host MB/s | gadget MB/s | host/gadget | frames/s | vs 30 fps | gadget time in write | host CPU | gadget CPU | VM busy | lost | unread at stop |"
    print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  }
  END {
    if (speeds != 2) { print "throughput.sh: " speeds + 0 " of 2 speeds produced a figure" > "/dev/stderr"; exit 1 }
    if (bad > 0) { print "throughput.sh: the host lost frames the gadget sent" > "/dev/stderr"; exit 1 }
  }
' "$out" || exit 1
if [ "$rc" -ne 0 ]; then
  log "the VM run failed (status $rc)"
  exit 1
fi
