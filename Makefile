# govirt — see README.md. Every target works on a fresh Debian 12 machine as root.
GO      ?= go
GOBIN   := $(shell $(GO) env GOPATH)/bin
STATICCHECK_VERSION := v0.8.2

.PHONY: all build portal setup guest demo test unit e2e lint generate clean

all: build

build: portal
	$(GO) build -o bin/govirt ./cmd/govirt

# The web admin portal (web/ -> internal/portal/dist, embedded by go build).
portal:
	scripts/portal.sh

setup:
	scripts/host-setup.sh

guest: setup
	$(GO) run ./tools/guest

# The main job: a real guest on this host, driven by govirt.
demo: setup build
	scripts/demo.sh

# The whole test suite: lint, unit tests and end-to-end tests on real
# libvirtd, QEMU and tgtd. Prepares the host first.
test:
	scripts/test.sh

lint:
	scripts/lint.sh

generate:
	$(GO) generate ./...

clean:
	rm -rf bin
