#!/usr/bin/env bash
# demo.sh: govirt's main job on this machine. It prepares the host, starts
# the engine on embedded SQLite with a local host (it keeps running), and
# through the REST API boots a guest with VirtIO-SCSI disks, hot-plugs one
# more and prints what the guest sees next to what the engine assigned.
#   GOVIRT_STATE_DIR   state directory (default /var/lib/govirt)
#   GOVIRT_LISTEN      API address (default 127.0.0.1:8080)
#   GOVIRT_VIRT_TYPE   qemu (TCG, default: works in nested VMs) or kvm
set -euo pipefail
cd "$(dirname "$0")/.."
state=${GOVIRT_STATE_DIR:-/var/lib/govirt}
listen=${GOVIRT_LISTEN:-127.0.0.1:8080}
virt=${GOVIRT_VIRT_TYPE:-qemu}
url="http://$listen"
scripts/host-setup.sh
scripts/portal.sh
go build -o bin/govirt ./cmd/govirt
install -d -m 0755 "$state"
pwfile="$state/admin-password"
if [ ! -s "$pwfile" ]; then
	(umask 077; head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$pwfile")
fi
export GOVIRT_ADMIN_PASSWORD=$(cat "$pwfile")
if ! curl -fs -o /dev/null "$url/ovirt-engine/api" -u "admin@internal:$GOVIRT_ADMIN_PASSWORD"; then
	echo "demo: starting govirt engine --local-host (log: $state/engine.log)"
	nohup bin/govirt engine --local-host --virt-type "$virt" --state-dir "$state" --listen "$listen" >>"$state/engine.log" 2>&1 &
	for _ in $(seq 1 100); do
		curl -fs -o /dev/null "$url/ovirt-engine/api" -u "admin@internal:$GOVIRT_ADMIN_PASSWORD" && break
		sleep 0.2
	done
fi
go run ./tools/demo --url "$url" --state-dir "$state"
cat <<MSG

The engine keeps running: web portal at $url/ , REST API at $url/ovirt-engine/api
Log in as admin@internal with the password in $pwfile, for example:
  curl -u "admin@internal:\$(cat $pwfile)" $url/ovirt-engine/api/vms
MSG
