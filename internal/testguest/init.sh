#!/bin/sh
# PID 1 of govirt's test guest (see package testguest). It loads the storage
# and virtio modules, runs qemu-ga and acpid, then reports every change of the
# set of block devices on the serial console as one GOVIRT-INVENTORY block.
# Everything it runs comes from busybox (/bin/busybox), except qemu-ga and the
# sg3-utils programs that the image builder copies in with their libraries.
# Only shell builtins run in the 200 ms polling loop and in an inventory of
# disks: forks are slow under TCG.

/bin/busybox mkdir -p /proc /sys /dev /run /tmp
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/virtio-ports
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/udev/data /run/qemu-ga
exec </dev/null >/dev/console 2>&1
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
hostname govirt-testguest

log() { echo "GOVIRT-LOG $*"; }

# load_modules inserts the modules listed (dependencies first) by the builder.
load_modules() {
	while read -r m; do
		insmod "$m" || log "insmod $m failed"
	done </etc/govirt/modules
}

# link_ports gives virtio-serial ports their /dev/virtio-ports/NAME link, which
# udev would create in a real guest.
link_ports() {
	for p in /sys/class/virtio-ports/*; do
		[ -r "$p/name" ] || continue
		read -r pname <"$p/name" 2>/dev/null || continue
		[ -n "$pname" ] && [ ! -e "/dev/virtio-ports/$pname" ] &&
			ln -sf "../${p##*/}" "/dev/virtio-ports/$pname"
	done
}

# wait_port waits up to 5 s for the host to announce the guest agent's port.
wait_port() {
	i=0
	while [ $i -lt 100 ]; do
		link_ports
		[ -e /dev/virtio-ports/org.qemu.guest_agent.0 ] && return 0
		sleep 0.05
		i=$((i + 1))
	done
	return 1
}

# run_agent keeps qemu-ga running; guest-exec and guest-shutdown need it.
run_agent() {
	while :; do
		qemu-ga -m virtio-serial -p /dev/virtio-ports/org.qemu.guest_agent.0 \
			-t /run/qemu-ga -f /run/qemu-ga.pid -l /run/qemu-ga.log
		log "qemu-ga exited with status $?"
		tail -n 5 /run/qemu-ga.log 2>/dev/null | while read -r l; do log "qemu-ga: $l"; done
		sleep 1
	done
}

# clean prints $1 with whitespace runs replaced by _ into REPLY, - if empty.
clean() {
	set -f
	# shellcheck disable=SC2086 # splitting on whitespace is the point
	set -- $1
	set +f
	REPLY="$*"
	# shellcheck disable=SC3060 # busybox ash has ${var//pattern/string}
	REPLY="${REPLY// /_}"
	[ -n "$REPLY" ] || REPLY=-
}

# attr reads the first line of file $1 into REPLY, cleaned.
attr() {
	v=
	[ -r "$1" ] && read -r v <"$1" 2>/dev/null
	clean "$v"
}

# scsi_serial sets REPLY to a SCSI device's (sysfs dir $1, block device $2)
# unit serial number: VPD page 0x80 after its 4-byte header, as the kernel
# caches it for disks, read with builtins only (ash's read drops the header's
# NUL bytes; the delimiter is \001 so that a length byte of 10 does not end
# the line), or else, for CD-ROMs (whose VPD pages the kernel does not read),
# as sg_vpd asks the device. A disk without the page yet is still being
# probed, or going away: an INQUIRY to it could hold the inventory for the
# SCSI timeout and more (seen under hot-plug churn), so it gets no serial now
# and the signature notices when its page appears.
scsi_serial() {
	REPLY=
	if [ -r "$1/vpd_pg80" ]; then
		IFS= read -r -d "$SOH" REPLY <"$1/vpd_pg80" 2>/dev/null
		REPLY=${REPLY#??} # page code and length; the NULs are gone
		return
	fi
	case $2 in sr*) ;; *) return ;; esac
	for g in "$1"/scsi_generic/*; do
		[ -e "$g" ] || continue
		REPLY=$(sg_vpd -p sn "/dev/${g##*/}" 2>/dev/null | sed -n 's/^ *Unit serial number: *//p')
	done
}
SOH=$(printf '\001')

# disk_line describes block device $1 (a /sys/block path) as DISK, and writes
# the udev database entry qemu-ga reads the disk's serial from.
disk_line() {
	d=$1
	name=${d##*/}
	read -r sectors <"$d/size" 2>/dev/null || sectors=0
	read -r majmin <"$d/dev" 2>/dev/null || majmin=
	hctl=- vendor=- model=- serial=- idserial=
	case $name in
	vd*)
		attr "$d/serial"; serial=$REPLY
		idserial=$serial
		;;
	*)
		for h in "$d"/device/scsi_device/*; do
			[ -e "$h" ] && hctl=${h##*/}
		done
		attr "$d/device/vendor"; vendor=$REPLY
		attr "$d/device/model"; model=$REPLY
		scsi_serial "$d/device" "$name"
		clean "$REPLY"; serial=$REPLY
		[ "$serial" = - ] || idserial="0${vendor}_${model}_${serial}"
		;;
	esac
	[ "$serial" = - ] && idserial=
	if [ -n "$majmin" ]; then
		if [ -n "$idserial" ]; then
			printf 'I:1\nE:ID_SERIAL=%s\nE:ID_SERIAL_SHORT=%s\n' "$idserial" "$serial" \
				>"/run/udev/data/b$majmin"
		else
			printf 'I:1\n' >"/run/udev/data/b$majmin"
		fi
	fi
	DISK="name=$name hctl=$hctl vendor=$vendor model=$model serial=$serial size=$((sectors * 512))"
}

# signature sets CHANGED when the block devices' names, sizes or serial
# pages (present or not) differ from the last call, using builtins only. It
# keeps them in chunks of 128 devices (SIG_0, SIG_1, ...): appending to one
# shell string copies it, so a string of thousands of devices would cost
# quadratic time on every 200 ms poll.
signature() {
	CHANGED='' chunk=0 n=0 cur=''
	for d in /sys/block/sd* /sys/block/vd* /sys/block/sr*; do
		[ -e "$d/size" ] || continue
		read -r s <"$d/size" 2>/dev/null || s=gone
		v=0
		[ -r "$d/device/vpd_pg80" ] && v=1
		cur="$cur ${d##*/}:$s:$v"
		n=$((n + 1))
		[ $n -eq 128 ] && keep_chunk
	done
	keep_chunk
	[ "$chunk" = "$NCHUNKS" ] || { NCHUNKS=$chunk; CHANGED=1; }
}

# keep_chunk compares chunk number $chunk of the signature ($cur) with the
# last one, keeps it and starts the next.
keep_chunk() {
	eval "[ \"\$SIG_$chunk\" = \"\$cur\" ] || { SIG_$chunk=\$cur; CHANGED=1; }"
	chunk=$((chunk + 1)) n=0 cur=''
}

# print_inventory writes one complete inventory block with one printf, as
# one write to the console. Its disk lines are gathered in a file (appending
# to a shell string is quadratic: thousands of disks took minutes), which
# the shell's read takes back whole (-d "": up to the end of the file).
print_inventory() {
	seq=$((seq + 1))
	count=0
	for d in /sys/block/sd* /sys/block/vd* /sys/block/sr*; do
		[ -e "$d/size" ] || continue
		disk_line "$d"
		echo "GOVIRT-DISK seq=$seq $DISK"
		count=$((count + 1))
	done >/run/inventory.body
	body=
	IFS= read -r -d "" body </run/inventory.body
	printf 'GOVIRT-INVENTORY BEGIN seq=%d count=%d boot=%s\n%sGOVIRT-INVENTORY END seq=%d\n' \
		"$seq" "$count" "$boot" "$body" "$seq"
}

# start_acpid runs acpid, which turns the ACPI power button (libvirt's
# shutdown --mode acpi) into /etc/acpi/PWRF/00000080, that is /sbin/shutdown,
# and waits until it listens so that a press right after GOVIRT-READY counts.
start_acpid() {
	acpid -f -c /etc/acpi -l /run/acpid.log &
	pid=$!
	i=0
	while [ $i -lt 100 ]; do
		for fd in "/proc/$pid/fd/"*; do
			case $(readlink "$fd") in /dev/input/event*) return 0 ;; esac
		done
		sleep 0.02
		i=$((i + 1))
	done
	log "acpid does not listen: ACPI shutdown will not work"
}

load_modules
start_acpid
if wait_port; then
	run_agent &
else
	log "no org.qemu.guest_agent.0 port: qemu-ga not started"
fi
echo GOVIRT-READY

# boot names this boot in every inventory, so a test can tell a guest that
# kept running (a live migration) from one that booted again.
read -r boot </proc/sys/kernel/random/boot_id || boot=-
seq=0
while :; do
	signature
	[ -n "$CHANGED" ] && print_inventory
	link_ports
	sleep 0.2
done
