#!/usr/bin/env bash
# Runs one static x86_64 Linux program inside a QEMU VM whose kernel has the USB gadget stack
# (dummy_hcd + FunctionFS), and exits with the program's exit status. This is the cargo runner
# of the x86_64-unknown-linux-musl target (.cargo/config.toml):
#   cargo build -p k4sync --target x86_64-unknown-linux-musl
#   cargo test -p k4sync-gadget --target x86_64-unknown-linux-musl --test vm_usb
# Software emulation only (no KVM). The initramfs holds busybox, the kernel modules from
# prepare.sh, the program, and the k4sync musl binaries found next to it (k4sync from the cli
# package, k4sync-gadget and k4sync-uevent-relay from tools/k4sync-gadget).
# Usage: scripts/vm-usb/run.sh PROGRAM [ARGS...]
# Environment: K4SYNC_*, RUST_LOG and RUST_BACKTRACE are passed into the VM;
#   K4SYNC_VM_SPEED=high|super loads dummy_hcd before PROGRAM starts (tests load it themselves);
#   K4SYNC_VM_MEM (default 1024 MiB), K4SYNC_VM_TIMEOUT (default 300 s per boot).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { echo "usage: $0 PROGRAM [ARGS...]" >&2; exit 2; }
prog=$(realpath "$1")
shift

CACHE=$("$HERE/prepare.sh")
work=$(mktemp -d "${TMPDIR:-/tmp}/k4sync-vm.XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$root/bin" "$root/lib/modules" "$root/etc"

cp "$CACHE/busybox" "$root/bin/busybox"
cp "$CACHE"/modules/*.ko "$root/lib/modules/"
cp "$HERE/init.sh" "$root/init"
chmod +x "$root/init"
name=$(basename "$prog")
# Debug builds carry ~100 MB of debug info; the VM only needs the code.
pack() { strip -o "$2" "$1" 2>/dev/null || cp "$1" "$2"; }
pack "$prog" "$root/bin/$name"
# The workspace's binaries: next to a test binary's deps/ directory, or next to the program.
bindir=$(dirname "$prog")
[ "$(basename "$bindir")" = deps ] && bindir=$(dirname "$bindir")
for b in k4sync k4sync-gadget k4sync-uevent-relay; do
  if [ -x "$bindir/$b" ] && [ "$bindir/$b" != "$prog" ]; then pack "$bindir/$b" "$root/bin/$b"; fi
done

quote() { printf "'%s' " "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
{ for a in "$@"; do quote "$a"; done; } >"$root/etc/k4sync-args"
{
  echo "export K4SYNC_VM_PROGRAM=$(quote "$name")"
  echo "export K4SYNC_IN_VM=1"
  env | grep -E '^(K4SYNC_[A-Z0-9_]+|RUST_LOG|RUST_BACKTRACE)=' | grep -v '^K4SYNC_VM_PROGRAM=' |
    while IFS='=' read -r k v; do echo "export $k=$(quote "$v")"; done
} >"$root/etc/k4sync-env"

(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$work/initrd.gz"

# One boot of the VM: fills $log, sets $rc to qemu's status.
boot() {
  log="$work/console.log"
  rc=0
  : >"$log"
  timeout "${K4SYNC_VM_TIMEOUT:-300}" qemu-system-x86_64 \
    -machine q35 -accel tcg -cpu max -smp 2 -m "${K4SYNC_VM_MEM:-1024}" \
    -nographic -no-reboot -nodefaults -serial stdio -display none \
    -kernel "$CACHE/vmlinuz" -initrd "$work/initrd.gz" \
    -append "console=ttyS0 panic=-1 softlockup_panic=1 transparent_hugepage=never quiet loglevel=4 rdinit=/init" >"$log" &
  qemu=$!
  tail -f --pid="$qemu" "$log" &
  # A program that leaves the gadget stack wedged can keep the kernel from powering off:
  # once the exit status is out, give the VM 10 s and then stop it.
  while kill -0 "$qemu" 2>/dev/null; do
    if grep -q '^K4SYNC-VM-EXIT=' "$log"; then
      for _ in $(seq 20); do kill -0 "$qemu" 2>/dev/null || break; sleep 0.5; done
      kill "$qemu" 2>/dev/null || true
      break
    fi
    sleep 0.5
  done
  wait "$qemu" || rc=$?
  sleep 0.2
}

exit_status() { tr -d '\r' <"$log" | sed -n 's/^K4SYNC-VM-EXIT=\([0-9]*\)$/\1/p' | tail -n1; }

# Under software emulation on a busy host the guest kernel has locked up (a vCPU stuck with
# interrupts off, "soft lockup" on the other); softlockup_panic turns that into a prompt reboot,
# which -no-reboot ends. Such a boot is the emulator's failure, not the program's: it is said
# loudly and the program runs once more in a fresh VM.
t0=$(date +%s)
boot
status=$(exit_status)
if [ -z "$status" ] && grep -qE 'soft lockup|rcu_preempt detected stalls|Kernel panic' "$log"; then
  echo "[vm-usb] the guest kernel locked up after $(($(date +%s) - t0)) s (software emulation); booting a fresh VM once more" >&2
  cp "$log" "$work/console-first.log"
  boot
  status=$(exit_status)
fi
echo "[vm-usb] VM ran $(($(date +%s) - t0)) s" >&2
if [ -z "$status" ]; then
  echo "[vm-usb] the VM ended without reporting an exit status (qemu status $rc)" >&2
  exit 1
fi
exit "$status"
