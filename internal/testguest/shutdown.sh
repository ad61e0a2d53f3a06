#!/bin/sh
# /sbin/shutdown of govirt's test guest. qemu-ga's guest-shutdown runs
# `/sbin/shutdown -h -P +0 "hypervisor initiated shutdown"` (-r to reboot,
# -H to halt) and acpid runs it with no arguments for the ACPI power button.
# There is no init system to stop: flush and power off at once.
action=poweroff
for a in "$@"; do
	case $a in
	-r) action=reboot ;;
	-H) action=halt ;;
	esac
done
echo "GOVIRT-SHUTDOWN $action" >/dev/console
sync
exec /bin/busybox "$action" -f
