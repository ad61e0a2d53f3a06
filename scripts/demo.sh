#!/usr/bin/env bash
# demo.sh: govirt's main job on this machine. It prepares the host, starts a
# host agent (TCG, unix socket) that keeps running, boots the test guest with
# virtio-SCSI disks, hot-plugs one more and prints what the guest sees next
# to what govirt assigned.
set -euo pipefail
cd "$(dirname "$0")/.."
base=/var/lib/govirt/demo
sock=/run/govirt/demo/agent.sock
scripts/host-setup.sh
go build -o bin/govirt ./cmd/govirt
mkdir -p "$base" /run/govirt/demo
chmod 755 /var/lib/govirt "$base"
if ! bin/govirt agentctl --addr "unix://$sock" ping >/dev/null 2>&1; then
	echo "demo: starting govirt agent (log: $base/agent.log)"
	nohup bin/govirt agent --listen "unix:$sock" --virt-type qemu --state-dir "$base/agent" >"$base/agent.log" 2>&1 &
	for _ in $(seq 1 100); do
		bin/govirt agentctl --addr "unix://$sock" ping >/dev/null 2>&1 && break
		sleep 0.1
	done
fi
bin/govirt agentctl --addr "unix://$sock" ping
go run ./tools/demo --addr "unix://$sock" --agent-state-dir "$base/agent" --storage "$base/storage"
