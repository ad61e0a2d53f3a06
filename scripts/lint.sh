#!/usr/bin/env bash
# lint.sh: gofmt, go vet and staticcheck over the whole module; fails on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
STATICCHECK_VERSION=v0.8.2
gobin=$(go env GOPATH)/bin

unformatted=$(gofmt -l $(git ls-files '*.go') 2>/dev/null || true)
if [ -n "$unformatted" ]; then
	echo "gofmt: these files need formatting:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...
go vet -tags bench ./bench # the benchmark suite builds only with its tag
if [ ! -x "$gobin/staticcheck" ] || ! "$gobin/staticcheck" -version 2>/dev/null | grep -q "${STATICCHECK_VERSION#v}"; then
	GOFLAGS= go install "honnef.co/go/tools/cmd/staticcheck@${STATICCHECK_VERSION}"
fi
"$gobin/staticcheck" ./...
"$gobin/staticcheck" -tags bench ./bench
echo "lint: ok"
