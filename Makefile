# hpguard. `make test` runs every test (what CI runs); it first runs `make setup`, which builds the
# pinned tools from go.mod and installs the system packages the tests need (it says what it installs).
# `make check` is the fast inner loop: about a minute with warm caches.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/.bin
OPA := $(BIN)/opa
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
GOTEST_FLAGS ?=

.DEFAULT_GOAL := help

# Each mk/*.mk fragment adds its own targets and appends to TEST_TARGETS (run by `make test`) and to
# SETUP_TARGETS (system packages installed by `make setup`).
TEST_TARGETS :=
SETUP_TARGETS :=
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
	$(GO) vet -tags bench ./tests/bench/...
	$(OPA) check --strict policies/rego
	@out=$$($(OPA) fmt --list policies/rego); if [ -n "$$out" ]; then echo "opa fmt needed:"; echo "$$out"; exit 1; fi

.PHONY: setup
setup: tools ## Build the pinned tools and install the system packages the tests need (Debian's chromium, with apt-get)
	@for t in $(SETUP_TARGETS); do $(MAKE) --no-print-directory $$t || exit 1; done

# The packages whose unit tests `make check` runs: all but ./tests/... (the bypass corpus, differential
# and consumer tests build and run real tools; `make test` runs them).
CHECK_PKGS := . ./cmd/... ./generator/... ./internal/... ./policies/... ./vap/... ./gatekeeper/...

.PHONY: check
check: $(OPA) ## Fast inner loop (about a minute): drift check, opa test, go test -short of the unit-tested packages
	$(GO) run ./cmd/hpguard generate --check
	$(OPA) test policies/rego
	$(GO) test -short $(GOTEST_FLAGS) $(CHECK_PKGS)

.PHONY: test
test: setup lint ## Run every test (Go, opa test, drift check and the mk/*.mk test targets); what CI runs
	$(GO) run ./cmd/hpguard generate --check
	$(OPA) test policies/rego
	$(GO) test -timeout 40m $(GOTEST_FLAGS) ./...
	@for t in $(TEST_TARGETS); do s=$$(date +%s); $(MAKE) --no-print-directory $$t || exit 1; \
		echo "make test: $$t took $$(( $$(date +%s) - s )) s"; done
