// Package testguest builds and watches govirt's test guest: a Debian cloud
// kernel plus a busybox initramfs that boots by direct kernel boot under TCG
// in seconds, runs qemu-ga (with sg3-utils for guest-exec) and prints an
// inventory of its block devices on the serial console whenever it changes.
//
// End-to-end tests use it to check what a guest really sees after govirt
// starts a VM or hot-plugs a disk: Build makes (or reuses) the kernel and
// initrd in a cache directory, WaitReady and WaitInventory read the console
// log that libvirt writes, and ParseInventories decodes that log.
//
// The console protocol, one line each, possibly with junk before the marker:
//
//	GOVIRT-READY
//	GOVIRT-INVENTORY BEGIN seq=<n> count=<k> boot=<kernel boot_id>
//	GOVIRT-DISK seq=<n> name=sda hctl=0:0:3:16684 vendor=QEMU model=QEMU_HARDDISK serial=s1 size=67108864
//	GOVIRT-INVENTORY END seq=<n>
//
// Values never contain whitespace (runs become _), "-" stands for an empty
// value and hctl is "-" for virtio-blk disks.
package testguest
