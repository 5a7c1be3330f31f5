# Tether: `make test` is what CI runs (.ci/run).
GO      ?= go
BIN     ?= bin/tether
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
RACE    ?= -race

.PHONY: all build run services test vet unit fuzz fuzz-smoke cluster clean
.PHONY: bench bench-smoke

all: build

# -v names each package as it compiles: the first build compiles every
# dependency and takes minutes, which should not look like a hang.
build:
	CGO_ENABLED=0 $(GO) build -v -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(BIN) ./cmd/tether

run: build
	$(BIN) dev

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
	$(GO) test -run='^$$' -fuzz=FuzzCanonicalJSON -fuzztime=15s .

test: services vet unit fuzz-smoke

fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzDecode -fuzztime=5m ./push/wire
	$(GO) test -run='^$$' -fuzz=FuzzCanonicalJSON -fuzztime=5m .

cluster:
	deployments/local/cluster.sh

# Benchmarks (issue 5; README, section Benchmarks). `make bench` runs every
# scenario at its issue's size, one after another (they share the machine's
# cores), appending each result to $(BENCH_RESULTS), then writes
# docs/benchmarks.md and docs/benchmarks.svg from the newest of each. A
# failed scenario is reported and skipped ("ignored"), so the report still
# runs. `make bench-smoke` runs each scenario tiny and reports into a
# scratch folder. Each scenario prints its table on stderr; the JSON on
# stdout is the saved result.
BENCH         = $(BIN) bench
BENCH_RESULTS ?= bench/results
BENCH_SMOKE   ?= $(or $(TMPDIR),/tmp)/tether-bench-smoke

bench: build
	-$(BENCH) idle --n 15000 --results $(BENCH_RESULTS) >/dev/null
	-$(BENCH) broadcast --n 15000 --results $(BENCH_RESULTS) >/dev/null
	-$(BENCH) push --results $(BENCH_RESULTS) >/dev/null
	-$(BENCH) chat --results $(BENCH_RESULTS) >/dev/null
	-$(BENCH) group --results $(BENCH_RESULTS) >/dev/null
	-$(BENCH) storm --n 15000 --results $(BENCH_RESULTS) >/dev/null
	-$(BENCH) cluster --nodes 4 --per-node 15000 --results $(BENCH_RESULTS) >/dev/null
	-$(BENCH) frames --results $(BENCH_RESULTS) >/dev/null
	$(BENCH) report --results $(BENCH_RESULTS) --out docs

bench-smoke: build
	rm -rf $(BENCH_SMOKE)
	$(BENCH) idle --n 600 --workers 2 --heartbeat 1s --settle 500ms --cpu-window 1s --results $(BENCH_SMOKE) >/dev/null
	$(BENCH) broadcast --n 300 --workers 2 --rounds 2 --results $(BENCH_SMOKE) >/dev/null
	$(BENCH) push --users 20 --senders 1 --receivers 2 --concurrency 4 --rates 50,100 --batch-rates 200 --batch 10 --step 1s --grace 10s --max-p99 10s --results $(BENCH_SMOKE) >/dev/null
	$(BENCH) chat --users 10 --senders 1 --receivers 2 --rates 20,40 --step 1s --grace 10s --max-p99 10s --results $(BENCH_SMOKE) >/dev/null
	$(BENCH) group --members 30 --online 10 --receivers 2 --messages 5 --rate 20 --grace 20s --results $(BENCH_SMOKE) >/dev/null
	$(BENCH) storm --n 30 --workers 3 --targets 6 --rate 40 --before 500ms --after 300ms --wait 30s --results $(BENCH_SMOKE) >/dev/null
	$(BENCH) cluster --nodes 2 --per-node 20 --workers 1 --rounds 3 --settle 100ms --results $(BENCH_SMOKE) >/dev/null
	$(BENCH) frames --users 5 --senders 1 --receivers 1 --rate 100 --duration 2s --grace 10s --results $(BENCH_SMOKE) >/dev/null
	$(BENCH) report --results $(BENCH_SMOKE) --out $(BENCH_SMOKE)/docs

clean:
	rm -rf bin
