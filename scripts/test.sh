#!/usr/bin/env bash
# test.sh runs govirt's whole test suite on this machine: it prepares the host
# (packages, libvirtd, virtlogd, tgtd), builds the test guest, lints, and runs
# every Go test, unit and end-to-end, against the real stack. End-to-end tests
# fail (never skip) when a prerequisite is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

stage() { stage_name=$1; stage_start=$(date +%s); printf '\n=== stage %s\n' "$1"; }
stage_end() { printf '=== stage %s took %ds\n' "$stage_name" $(( $(date +%s) - stage_start )); }
suite_start=$(date +%s)

stage host-setup; GOVIRT_WITH_PG=1 scripts/host-setup.sh; stage_end
stage guest; go run ./tools/guest; stage_end
stage lint; scripts/lint.sh; stage_end
stage go-test
# -p 2: two packages at a time on this 2-core machine; e2e guests run under TCG.
go test -p 2 -count=1 -timeout 40m ./... 2>&1 | tee /tmp/govirt-go-test.log
stage_end
printf '\n=== whole suite took %ds\n' $(( $(date +%s) - suite_start ))
