# Build targets follow AWS SAM's makefile build method: `sam build` runs
# `make build-<LogicalId>` with ARTIFACTS_DIR set, and expects a `bootstrap`
# executable there. GOARCH defaults to arm64 (the template's architecture);
# pass GOARCH=amd64 (or the host's arch) for local runs and tests.

GOARCH ?= arm64
ARTIFACTS_DIR ?= $(CURDIR)/.build/$(GOARCH)
GO ?= go
GO_BUILD = CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH) $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w'
BUILD_DIR ?= $(CURDIR)/.build/$(GOARCH)

.PHONY: build build-OktaHookFunction build-ListTokensFunction build-RevokeTokensFunction \
	test lint local bench proof clean

build-OktaHookFunction:
	$(GO_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/okta-hook

build-ListTokensFunction:
	$(GO_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/list-tokens

build-RevokeTokensFunction:
	$(GO_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/revoke-tokens

## build: all three functions into $(BUILD_DIR)/<LogicalId>/bootstrap
build:
	$(MAKE) build-OktaHookFunction ARTIFACTS_DIR=$(BUILD_DIR)/OktaHookFunction
	$(MAKE) build-ListTokensFunction ARTIFACTS_DIR=$(BUILD_DIR)/ListTokensFunction
	$(MAKE) build-RevokeTokensFunction ARTIFACTS_DIR=$(BUILD_DIR)/RevokeTokensFunction

## lint: formatting, vet, staticcheck and the template linter; fails on any finding
lint:
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	staticcheck ./...
	cfn-lint template.yaml

## test: lint, then every Go test (unit, integration against moto_server and Prism, end to end)
test: lint
	$(GO) test -count=1 ./...

## local: the whole stack on this machine, no Docker: builds the functions for the host,
## starts moto_server and a fake Okta org, serves the API on http://127.0.0.1:3000, runs the
## demo, then serves until Ctrl-C. `make local ARGS=-demo-only` exits after the demo.
local:
	$(GO) run ./cmd/runlocal $(ARGS)

clean:
	rm -rf .build
