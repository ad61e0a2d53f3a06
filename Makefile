# govirt — see README.md. Every target works on a fresh Debian 12 machine as root.
GO      ?= go
GOBIN   := $(shell $(GO) env GOPATH)/bin
STATICCHECK_VERSION := v0.8.2

.PHONY: all build setup guest demo test unit e2e lint generate clean bench

all: build

build:
	$(GO) build -o bin/govirt ./cmd/govirt

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

# The benchmark suite (bench/): TIER=quick (minutes) or full, BUDGET bounds
# the time it starts new measurements in; results in bench/results-TIER.json
# (a second run resumes), the report in OUT.
TIER   ?= quick
BUDGET ?= 15m
OUT    ?= $(CURDIR)/docs/PERFORMANCE.md
bench: setup guest
	cd bench && GOVIRT_BENCH_COMMAND="make bench TIER=$(TIER) BUDGET=$(BUDGET)" $(GO) test -tags bench -run TestSuite \
		-timeout 0 -v . -args -tier $(TIER) -budget $(BUDGET) -results $(CURDIR)/bench/results-$(TIER).json -out $(OUT)

generate:
	$(GO) generate ./...

clean:
	rm -rf bin
