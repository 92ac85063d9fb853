# Build targets follow AWS SAM's makefile build method: `sam build` runs
# `make build-<LogicalId>` with ARTIFACTS_DIR set, and expects a `bootstrap`
# executable there. GOARCH defaults to arm64 (the template's architecture);
# pass GOARCH=amd64 (or the host's arch) for local runs and tests.

GOARCH ?= arm64
ARTIFACTS_DIR ?= $(CURDIR)/.build/$(GOARCH)
GO ?= go
GO_BUILD = CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH) $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w'
BUILD_DIR ?= $(CURDIR)/.build/$(GOARCH)

.PHONY: build build-OktaHookFunction build-ListTokensFunction build-RevokeTokensFunction build-ReconcileFunction \
	test lint local bench proof clean

build-OktaHookFunction:
	$(GO_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/okta-hook

build-ListTokensFunction:
	$(GO_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/list-tokens

build-RevokeTokensFunction:
	$(GO_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/revoke-tokens

build-ReconcileFunction:
	$(GO_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/reconcile

## build: every function into $(BUILD_DIR)/<LogicalId>/bootstrap
build:
	$(MAKE) build-OktaHookFunction ARTIFACTS_DIR=$(BUILD_DIR)/OktaHookFunction
	$(MAKE) build-ListTokensFunction ARTIFACTS_DIR=$(BUILD_DIR)/ListTokensFunction
	$(MAKE) build-RevokeTokensFunction ARTIFACTS_DIR=$(BUILD_DIR)/RevokeTokensFunction
	$(MAKE) build-ReconcileFunction ARTIFACTS_DIR=$(BUILD_DIR)/ReconcileFunction

## lint: formatting, vet, staticcheck and the template linter; fails on any finding
lint:
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	@command -v staticcheck >/dev/null || { echo "staticcheck is not on PATH: go install honnef.co/go/tools/cmd/staticcheck@v0.8.2 and add \$$(go env GOPATH)/bin to PATH (bash .ci/run does both)"; exit 1; }
	staticcheck ./...
	cfn-lint template.yaml

## test: lint, then every Go test (unit, integration against moto_server and Prism, end to end)
test: lint
	$(GO) test -count=1 ./...

## local: the whole stack on this machine, no Docker: builds the functions for the host,
## starts moto_server and a fake Okta org, serves the API on http://127.0.0.1:3000, runs the
## demo, then serves until Ctrl-C. `make local ARGS=-demo-only` exits after the demo.
local:
	$(GO) build -o .build/runlocal ./cmd/runlocal
	./.build/runlocal $(ARGS)

## bench: cold start of each bootstrap against the minimal aws-lambda-go function, hook
## deliveries against moto_server, revocation drains through 1, 4 and 10 environments
## sharing one rate-limited fake Okta bucket (internal/okta vs okta-sdk-golang's strategy).
## Raw output in $(BENCH_DIR) (compare runs with benchstat), a table on stdout.
## About 3 minutes. See BENCHMARKS.md.
BENCH_DIR ?= $(CURDIR)/.build/bench
# Benchmarks run on this machine: never for the deploy GOARCH a caller may pass.
BENCH_GO = env -u GOARCH -u GOOS $(GO)
bench:
	@mkdir -p $(BENCH_DIR)
	$(BENCH_GO) test -count=1 -run '^$$' -bench . -benchtime 15x ./bench/coldstart | tee $(BENCH_DIR)/coldstart.txt
	$(BENCH_GO) test -count=1 -run '^$$' -bench . -benchtime 200x ./bench/hook | tee $(BENCH_DIR)/hook.txt
	$(BENCH_GO) test -count=1 -run '^$$' -bench . -benchtime 1x -timeout 30m ./bench/drain | tee $(BENCH_DIR)/drain.txt
	@cat $(BENCH_DIR)/coldstart.txt $(BENCH_DIR)/hook.txt $(BENCH_DIR)/drain.txt > $(BENCH_DIR)/all.txt
	@echo
	@$(BENCH_GO) run ./bench/cmd/benchtable $(BENCH_DIR)/all.txt > $(BENCH_DIR)/table.md; status=$$?; \
		cat $(BENCH_DIR)/table.md; exit $$status

clean:
	rm -rf .build

## fuzz: every fuzz target in the repository for FUZZTIME each, one after the other. The
## list is read from the source (func FuzzX in *_test.go), so a new target is never forgotten.
## tools/fuzz-one.sh reruns a target (up to 3 attempts) only after Go's -fuzztime deadline race
## (golang/go#75804: "context deadline exceeded" with no failing input).
FUZZTIME ?= 10s
.PHONY: fuzz
fuzz:
	@set -e; n=0; \
	for file in $$(grep -rlE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(' --exclude-dir=.build --exclude-dir=node_modules . | sort); do \
		dir=$$(dirname $$file); \
		for name in $$(sed -nE 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/p' $$file); do \
			echo "== $$dir $$name ($(FUZZTIME))"; \
			GO="$(GO)" tools/fuzz-one.sh $$dir $$name $(FUZZTIME); \
			n=$$((n+1)); \
		done; \
	done; \
	echo "fuzz: $$n targets passed"

## proof: the evidence a security team asks for: vet and staticcheck including the
## proof-tagged suites, every test with the race detector, the proof-tagged end-to-end
## suites (fault injection, outages; each must run and pass), then `make fuzz`.
PROOF_SUITES = $(shell grep -hoE '^func TestProof[A-Za-z0-9_]*' e2e/*_test.go | cut -d' ' -f2)
proof:
	$(GO) vet -tags proof ./...
	staticcheck -tags proof ./...
	$(GO) test -race -count=1 ./...
	@out=$$(mktemp); status=0; \
	echo "$(GO) test -race -count=1 -tags proof -run '^TestProof' -v ./e2e/"; \
	$(GO) test -race -count=1 -tags proof -run '^TestProof' -v ./e2e/ >$$out 2>&1 || status=$$?; \
	cat $$out; \
	for suite in $(PROOF_SUITES); do \
		if ! grep -q "^--- PASS: $$suite " $$out; then echo "proof: $$suite did not run and pass"; status=1; fi; \
	done; \
	rm -f $$out; exit $$status
	$(MAKE) --no-print-directory fuzz
