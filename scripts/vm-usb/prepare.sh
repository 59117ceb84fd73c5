#!/usr/bin/env bash
# Fetches (once) what the USB VM needs and prints the cache directory holding it:
#   vmlinuz, modules/*.ko (configfs usb-common usbcore udc-core libcomposite usb_f_fs and the
#   patched dummy_hcd), busybox.
# Debian's kernel packages for one pinned ABI are fetched with `apt-get download` and unpacked,
# never installed. dummy_hcd is rebuilt from the one source file of `linux-source-6.1` plus
# dummy_hcd-ep3.patch, against `linux-headers-<abi>`. Nothing here is committed: the cache is
# ${XDG_CACHE_HOME:-~/.cache}/k4sync/vm-usb/<abi>.
# Usage: scripts/vm-usb/prepare.sh   (all output but the final path goes to stderr)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# The pinned kernel: ABI and the Debian version of its packages (bookworm main).
KABI=${K4SYNC_VM_KABI:-6.1.0-50}
KVER=${K4SYNC_VM_KVER:-6.1.176-1}
FLAVOUR=amd64
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/k4sync/vm-usb/$KABI-$FLAVOUR
PATCH="$HERE/dummy_hcd-ep3.patch"
MODULES=(configfs usb-common usbcore udc-core libcomposite usb_f_fs)

log() { printf '[vm-usb] %s\n' "$*" >&2; }

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
need_debs=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need_debs+=(qemu-system-x86)
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "ok installed" || need_debs+=(busybox-static)
command -v make >/dev/null 2>&1 || need_debs+=(make)
command -v gcc >/dev/null 2>&1 || need_debs+=(gcc)
command -v xz >/dev/null 2>&1 || need_debs+=(xz-utils)
command -v cpio >/dev/null 2>&1 || need_debs+=(cpio)
if [ ${#need_debs[@]} -gt 0 ]; then
  log "apt-get install ${need_debs[*]}"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_debs[@]}" >&2
fi

stamp_want="$KVER $(sha256sum "$PATCH" | cut -c1-16)"
if [ -f "$CACHE/ready" ] && [ "$(cat "$CACHE/ready")" = "$stamp_want" ]; then
  echo "$CACHE"
  exit 0
fi

t0=$(date +%s)
mkdir -p "$CACHE/dl"
pkgs=("linux-image-$KABI-$FLAVOUR-unsigned=$KVER" "linux-headers-$KABI-$FLAVOUR=$KVER"
  "linux-headers-$KABI-common=$KVER" "linux-kbuild-6.1=$KVER" "linux-source-6.1=$KVER")
missing=()
for p in "${pkgs[@]}"; do
  name=${p%%=*}
  ls "$CACHE/dl/${name}_"*.deb >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "apt-get download ${missing[*]}"
  (cd "$CACHE/dl" && apt-get download "${missing[@]}" >&2 2>/dev/null) || {
    log "download failed; if $KVER left the archive, set K4SYNC_VM_KABI/K4SYNC_VM_KVER to a current pair (apt-cache madison linux-source-6.1)"
    exit 1
  }
fi

rm -rf "$CACHE/root" "$CACHE/build" "$CACHE/modules"
mkdir -p "$CACHE/root" "$CACHE/build" "$CACHE/modules"
for d in "$CACHE"/dl/linux-image-*.deb "$CACHE"/dl/linux-headers-*.deb "$CACHE"/dl/linux-kbuild-*.deb; do
  dpkg-deb -x "$d" "$CACHE/root"
done
HDR="$CACHE/root/usr/src/linux-headers-$KABI-$FLAVOUR"
# The headers' Makefile includes the common tree by absolute path; point it into the cache.
echo "include $CACHE/root/usr/src/linux-headers-$KABI-common/Makefile" >"$HDR/Makefile"

log "extracting dummy_hcd.c from linux-source-6.1"
dpkg-deb --fsys-tarfile "$CACHE"/dl/linux-source-6.1_*.deb |
  tar -xO ./usr/src/linux-source-6.1.tar.xz |
  tar -xJ -C "$CACHE/build" --strip-components=5 linux-source-6.1/drivers/usb/gadget/udc/dummy_hcd.c
(cd "$CACHE/build" && patch -p5 --quiet <"$PATCH")
echo 'obj-m := dummy_hcd.o' >"$CACHE/build/Kbuild"
log "building the patched dummy_hcd"
make -s -C "$HDR" M="$CACHE/build" modules >&2 2> >(grep -v 'Skipping BTF' >&2)

MODDIR="$CACHE/root/lib/modules/$KABI-$FLAVOUR/kernel"
for m in "${MODULES[@]}"; do
  ko=$(find "$MODDIR" -name "$m.ko" -o -name "$m.ko.xz" | head -n1)
  [ -n "$ko" ] || { log "module $m not found in the kernel package"; exit 1; }
  case "$ko" in
    *.xz) xz -dc "$ko" >"$CACHE/modules/$m.ko" ;;
    *) cp "$ko" "$CACHE/modules/$m.ko" ;;
  esac
done
cp "$CACHE/build/dummy_hcd.ko" "$CACHE/modules/dummy_hcd.ko"
cp "$CACHE/root/boot/vmlinuz-$KABI-$FLAVOUR" "$CACHE/vmlinuz"
cp /bin/busybox "$CACHE/busybox"
# Keep the downloads (for a rebuild) and the result; drop the unpacked trees.
rm -rf "$CACHE/root" "$CACHE/build"
echo "$stamp_want" >"$CACHE/ready"
log "prepared $CACHE in $(($(date +%s) - t0)) s"
echo "$CACHE"
