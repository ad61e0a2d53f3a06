#!/usr/bin/env bash
# host-setup.sh prepares a Debian 12 machine (root, no systemd needed) to run
# govirt's host agent and its end-to-end tests: QEMU, libvirtd, the tgt iSCSI
# target, the tools the test guest is built from, and Chromium (with npm) for
# the web portal and its browser tests. It is idempotent: a second
# run changes nothing and only confirms that every service answers.
#
# Environment:
#   GOVIRT_SKIP_APT=1     do not install packages (they must already be there)
#   GOVIRT_WITH_PG=1      also install PostgreSQL (the engine's second database)
set -euo pipefail

log() { printf 'host-setup: %s\n' "$*"; }
die() { printf 'host-setup: error: %s\n' "$*" >&2; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
	die "must run as root: it installs Debian packages, creates the libvirt-qemu user and starts libvirtd, virtlogd and tgtd (try: sudo $0)"
fi
[ -r /etc/debian_version ] || die "this script supports Debian 12 (bookworm) only"

packages=(
	qemu-system-x86 qemu-utils qemu-block-extra
	libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
	tgt sg3-utils busybox-static cpio
	libiscsi-bin
	protobuf-compiler iproute2 procps
	iptables
	chromium fonts-liberation
)
# The portal is built with npm (scripts/portal.sh); Debian's Node.js where
# the machine has none of its own.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
[ "${GOVIRT_WITH_PG:-0}" = 1 ] && packages+=(postgresql)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	[ "${GOVIRT_SKIP_APT:-0}" = 1 ] && die "missing packages and GOVIRT_SKIP_APT=1: ${missing[*]}"
	log "installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
	log "packages present"
fi

# Users and groups that libvirtd expects. QEMU runs unprivileged as
# libvirt-qemu (never root): libvirt chowns images to it.
getent group kvm >/dev/null || groupadd --system kvm
getent group libvirt >/dev/null || groupadd --system libvirt
getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
if ! id libvirt-qemu >/dev/null 2>&1; then
	useradd --system --gid libvirt-qemu --groups kvm --home-dir /var/lib/libvirt \
		--no-create-home --shell /usr/sbin/nologin libvirt-qemu
fi
install -d -m 0755 /var/log/libvirt /var/log/libvirt/qemu /var/run/libvirt /var/lib/libvirt /var/lib/libvirt/qemu /var/cache/libvirt
# /dev/kvm must be usable by the kvm group: if libvirt's capability probe
# sees KVM once and not the next time, it re-probes QEMU on every domain
# start (1-2 minutes each here). Tests still use TCG; real hosts use KVM.
if [ -e /dev/kvm ]; then
	chgrp kvm /dev/kvm 2>/dev/null || true
	chmod 0660 /dev/kvm 2>/dev/null || true
fi

# qemu.conf: containers have no AppArmor or SELinux, so no security driver.
conf=/etc/libvirt/qemu.conf
marker='# managed by govirt host-setup'
if ! grep -qF "$marker" "$conf" 2>/dev/null; then
	[ -e "$conf" ] && cp -n "$conf" "$conf.orig"
	log "writing $conf"
	cat >"$conf" <<CONF
$marker
security_driver = "none"
user = "libvirt-qemu"
group = "libvirt-qemu"
dynamic_ownership = 1
remember_owner = 0
CONF
fi

running() { pgrep -x "$1" >/dev/null 2>&1; }

if ! running virtlogd; then
	log "starting virtlogd"
	virtlogd -d
fi
# The system daemon, not the migration tests' session one (below), which is
# also called libvirtd: root's, with its socket.
if ! pgrep -x -u root libvirtd >/dev/null 2>&1; then
	log "starting libvirtd"
	libvirtd -d
fi
for _ in $(seq 1 100); do
	virsh -c qemu:///system version >/dev/null 2>&1 && break
	sleep 0.1
done
virsh -c qemu:///system version >/dev/null 2>&1 || die "libvirtd does not answer on /var/run/libvirt/libvirt-sock"
log "libvirtd answers ($(virsh -c qemu:///system version 2>/dev/null | awk '/Running hypervisor/ {print $3, $4}'))"

# QEMU inherits libvirtd's stack limit, and execve takes at most a quarter of
# it for QEMU's arguments (and never more than 6 MiB): at Debian's 8 MiB a VM
# can be created with about 3,000 disks, at 24 MiB with about 9,000. govirt's
# agent reads the limit and starts larger VMs in stages (docs/HOSTS.md).
# prlimit changes the running daemon, so running guests are not touched.
libvirtd_stack=$((24 << 20))
libvirtd_pid=$(cat /run/libvirtd.pid 2>/dev/null || pgrep -o -x libvirtd)
if [ -n "$libvirtd_pid" ] && [ "$(awk '/^Max stack size/ {print $4}' "/proc/$libvirtd_pid/limits")" != "$libvirtd_stack" ]; then
	prlimit --pid "$libvirtd_pid" --stack="$libvirtd_stack": || die "cannot raise libvirtd's stack limit"
	log "libvirtd's stack limit raised to $((libvirtd_stack >> 20)) MiB (QEMU may take 6 MiB of arguments)"
fi

if ! running tgtd; then
	log "starting tgtd on 127.0.0.1:3260"
	install -d -m 0755 /var/run/tgtd
	tgtd --iscsi portal=127.0.0.1:3260
fi
for _ in $(seq 1 100); do
	tgtadm --lld iscsi --mode target --op show >/dev/null 2>&1 && break
	sleep 0.1
done
tgtadm --lld iscsi --mode target --op show >/dev/null 2>&1 || die "tgtd does not answer tgtadm"
log "tgtd answers"

# A second libvirtd for the live-migration tests (test/e2e/migrate_test.go):
# libvirt refuses to migrate a domain to the daemon (or host UUID) it runs
# on, so the second govirt host of those tests drives the session libvirtd
# of the unprivileged user govirtpeer, with a host UUID of its own. Its QEMU
# runs as govirtpeer; the tests grant it the files of their VMs.
peer=govirtpeer
peer_uuid=5f2a1c9e-1111-4222-8333-944455556666
id "$peer" >/dev/null 2>&1 || { log "creating user $peer"; useradd -m -s /bin/sh "$peer"; }
peer_home=$(getent passwd "$peer" | cut -d: -f6)
peer_conf="$peer_home/.config/libvirt/libvirtd.conf"
if ! grep -qF "$peer_uuid" "$peer_conf" 2>/dev/null; then
	log "writing $peer_conf"
	su - "$peer" -c "mkdir -p ~/.config/libvirt && echo 'host_uuid = \"$peer_uuid\"' > ~/.config/libvirt/libvirtd.conf"
fi
peer_uri="qemu+unix:///session?socket=$peer_home/.cache/libvirt/libvirt-sock"
if ! virsh -c "$peer_uri" version >/dev/null 2>&1; then
	log "starting $peer's session libvirtd"
	# No --timeout: an idle session daemon must not exit between tests.
	su - "$peer" -c '/usr/sbin/libvirtd --daemon'
	for _ in $(seq 1 100); do
		virsh -c "$peer_uri" version >/dev/null 2>&1 && break
		sleep 0.1
	done
fi
virsh -c "$peer_uri" version >/dev/null 2>&1 || die "the session libvirtd of $peer does not answer on $peer_uri"
log "$peer's session libvirtd answers"
log "ready"
