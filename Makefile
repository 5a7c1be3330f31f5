# Tether: `make test` is what CI runs (.ci/run).
GO      ?= go
BIN     ?= bin/tether
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
RACE    ?= -race

.PHONY: all build run services test vet unit fuzz fuzz-smoke cluster clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(BIN) ./cmd/tether

run:
	$(GO) run ./cmd/tether dev

services:
	deployments/local/services.sh

vet:
	$(GO) vet ./...

# The race detector is on: the suite stays well inside the 15-minute budget on
# two cores. Pass RACE= to run without it.
unit:
	$(GO) test $(RACE) -count=1 -timeout 15m ./...

fuzz-smoke:
	$(GO) test -run='^$$' -fuzz=FuzzDecode -fuzztime=15s ./push/wire

test: services vet unit fuzz-smoke

fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzDecode -fuzztime=5m ./push/wire

cluster:
	deployments/local/cluster.sh

clean:
	rm -rf bin
