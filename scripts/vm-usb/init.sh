#!/bin/busybox sh
# /init of the USB test VM: mounts, loads the USB gadget stack up to usb_f_fs, starts the uevent
# relay, runs the packed program and reports its exit status on the console for run.sh.
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /tmp /run
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
for m in configfs usb-common usbcore udc-core libcomposite usb_f_fs; do
  insmod /lib/modules/$m.ko || echo "vm-usb: insmod $m failed"
done
mount -t configfs none /sys/kernel/config
. /etc/k4sync-env
# Programs that do not load dummy_hcd themselves get it at the speed run.sh was asked for.
case "${K4SYNC_VM_SPEED:-}" in
  high) insmod /lib/modules/dummy_hcd.ko num=2 ;;
  super) insmod /lib/modules/dummy_hcd.ko num=2 is_super_speed=1 ;;
esac
[ -x /bin/k4sync-uevent-relay ] && /bin/k4sync-uevent-relay &
cd /tmp
echo "vm-usb: running $K4SYNC_VM_PROGRAM"
eval "/bin/$K4SYNC_VM_PROGRAM $(cat /etc/k4sync-args)"
rc=$?
echo "K4SYNC-VM-EXIT=$rc"
sync
poweroff -f
