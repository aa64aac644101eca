# hpguard. `make test` sets up everything the tests need (pinned tools are built from go.mod).
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/.bin
OPA := $(BIN)/opa
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
GOTEST_FLAGS ?=

.DEFAULT_GOAL := help

# Each mk/*.mk fragment adds its own targets and appends to TEST_TARGETS (run by `make test`).
TEST_TARGETS :=
-include mk/*.mk

.PHONY: help
help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

.PHONY: generate
generate: ## Regenerate every artifact from policies/spec (and the CLI reference)
	$(GO) run ./cmd/hpguard generate
	$(GO) run ./cmd/hpguard docs docs/cli

.PHONY: build
build: ## Build a reproducible hpguard binary into .bin/
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/hpguard ./cmd/hpguard

$(OPA): go.mod go.sum
	@mkdir -p $(BIN)
	$(GO) build -o $(OPA) github.com/open-policy-agent/opa

.PHONY: tools
tools: $(OPA) ## Build the pinned tools the tests use (versions from go.mod)

.PHONY: lint
lint: tools ## gofmt, go vet, opa check --strict and opa fmt on the generated Rego
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(OPA) check --strict policies/rego
	@out=$$($(OPA) fmt --list policies/rego); if [ -n "$$out" ]; then echo "opa fmt needed:"; echo "$$out"; exit 1; fi

.PHONY: test
test: tools lint ## Run every test (Go, opa test, drift check)
	$(GO) run ./cmd/hpguard generate --check
	$(OPA) test policies/rego
	$(GO) test -timeout 40m $(GOTEST_FLAGS) ./...
	@for t in $(TEST_TARGETS); do $(MAKE) --no-print-directory $$t || exit 1; done
