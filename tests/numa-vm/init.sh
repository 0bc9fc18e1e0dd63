#!/bin/sh
# /init of the throw-away NUMA test guest started by tests/numa-vm/run.
#
# Runs as PID 1 under busybox sh inside the initramfs. It mounts the host's
# root (9p share "root", read-only) and the writable output share ("out"),
# sets up the usual pseudo file systems inside it, chroots into it and runs
# the command script the host put at /numa-vm/cmd.sh. Finally it prints the
# marker line the host waits for and powers the machine off.
#
# Files the host adds to the initramfs:
#   /lib/modules/load-order   module file names, one a line, in load order
#   /numa-vm/nonce            random token that makes the marker lines unique
#   /numa-vm/cmd.sh           the command, written by the host (sh syntax)

PATH=/bin
export PATH

# Nothing is open on fds 0-2 yet: the initramfs has no /dev/console node.
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1

nonce=$(cat /numa-vm/nonce)
# The host shows the serial console from this line on (kernel boot noise
# before it only goes to the log).
echo "numa-vm:$nonce:start"

# Setup failure: say why and stop without an exit marker; the host then
# reports a guest failure and shows the tail of the console log.
fail() {
    echo "numa-vm: guest set-up failed: $*"
    sync
    poweroff -f
    sleep 10
}

# Serial line: plain "\n" line ends (the host would otherwise see "\r\n").
stty -onlcr 2>/dev/null

mount -t proc proc /proc || fail "mount /proc"
mount -t sysfs sysfs /sys || fail "mount /sys"
hostname numa-vm

while read -r mod; do
    [ -n "$mod" ] || continue
    insmod "/lib/modules/$mod" || fail "insmod $mod"
done </lib/modules/load-order

opts=trans=virtio,version=9p2000.L,msize=262144
mount -t 9p -o "$opts,ro" root /mnt || fail "mount of the host root over 9p"

# Pseudo and scratch file systems inside the new root.
mount -t proc proc /mnt/proc || fail "mount /mnt/proc"
mount -t sysfs sysfs /mnt/sys || fail "mount /mnt/sys"
mount -t cgroup2 cgroup2 /mnt/sys/fs/cgroup 2>/dev/null
mount -t devtmpfs devtmpfs /mnt/dev || fail "mount /mnt/dev"
mkdir -p /mnt/dev/pts /mnt/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /mnt/dev/pts 2>/dev/null
mount -t tmpfs -o mode=1777 tmpfs /mnt/dev/shm || fail "mount /mnt/dev/shm"
mount -t tmpfs -o mode=0755 tmpfs /mnt/run || fail "mount /mnt/run"

# /tmp: writable, but the host's /tmp stays visible below it (work trees and
# build folders may live there). An overlay with a tmpfs upper layer gives
# both; a plain tmpfs is the fall-back.
mkdir -p /scratch
mount -t tmpfs -o mode=0755 tmpfs /scratch || fail "mount /scratch"
mkdir -p /scratch/tmp-upper /scratch/tmp-work
chmod 1777 /scratch/tmp-upper
if ! mount -t overlay overlay \
        -o lowerdir=/mnt/tmp,upperdir=/scratch/tmp-upper,workdir=/scratch/tmp-work \
        /mnt/tmp 2>/dev/null; then
    echo "numa-vm: warning: no overlay on /tmp, the host's /tmp is hidden"
    mount -t tmpfs -o mode=1777 tmpfs /mnt/tmp || fail "mount /mnt/tmp"
fi

# Output share, seen inside the chroot as /run/numa-vm-out.
mkdir -p /mnt/run/numa-vm-out /mnt/run/numa-vm
mount -t 9p -o "$opts,rw" out /mnt/run/numa-vm-out || fail "mount of the output share"
cp /numa-vm/cmd.sh /mnt/run/numa-vm/cmd.sh || fail "copy of the command script"

# Run the command with a clean environment (cmd.sh sets what it needs) and
# no input: nothing types on the serial line.
env -i chroot /mnt /bin/sh /run/numa-vm/cmd.sh </dev/null
status=$?

sync
echo "numa-vm:$nonce:exit=$status"
poweroff -f
sleep 10
