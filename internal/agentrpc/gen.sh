#!/bin/sh
# gen.sh regenerates agentpb/ from agent.proto. Run it through
# `go generate ./internal/agentrpc` (or directly from any directory).
#
# The generated files are committed; they are reproducible only with the exact
# tool versions they were made with, so this script refuses others:
#   protoc              libprotoc 3.21.12 (Debian 12: apt-get install protobuf-compiler)
#   protoc-gen-go       v1.36.12  (go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12)
#   protoc-gen-go-grpc  1.6.2     (go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2)
# The plugins are taken from $GOBIN, else $(go env GOPATH)/bin, never from $PATH,
# so a stray older plugin cannot slip in.
set -eu

cd "$(dirname "$0")"

bin=${GOBIN:-$(go env GOPATH)/bin}
want_protoc="libprotoc 3.21.12"
want_go="protoc-gen-go v1.36.12"
want_grpc="protoc-gen-go-grpc 1.6.2"

check() {
	got=$("$1" --version 2>/dev/null || true)
	if [ "$got" != "$2" ]; then
		echo "gen.sh: $1 reports '$got', want '$2' (see the header of gen.sh)" >&2
		exit 1
	fi
}
check protoc "$want_protoc"
check "$bin/protoc-gen-go" "$want_go"
check "$bin/protoc-gen-go-grpc" "$want_grpc"

# The well-known types (timestamp.proto) come with protoc's include directory.
include=/usr/include
[ -f "$include/google/protobuf/timestamp.proto" ] || {
	echo "gen.sh: $include/google/protobuf/timestamp.proto missing (protoc's include files)" >&2
	exit 1
}

mkdir -p agentpb
protoc \
	--plugin=protoc-gen-go="$bin/protoc-gen-go" \
	--plugin=protoc-gen-go-grpc="$bin/protoc-gen-go-grpc" \
	-I . -I "$include" \
	--go_out=agentpb --go_opt=paths=source_relative \
	--go-grpc_out=agentpb --go-grpc_opt=paths=source_relative \
	agent.proto
