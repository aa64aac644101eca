# OPA bundle: real consumers of the signed bundle and of the generated Rego (issue 5).
#
# conftest is pinned at CONFTEST_VERSION and built into .bin/ in a throwaway module outside our
# go.mod (its dependencies would clash), against the same OPA version as hpguard (from go.mod): its
# own OPA (v1.21.1) rejects `{x | some x in []}` in the generated *_test.rego under
# `--policy policies/rego`, which OPA v1.22.3 accepts.
CONFTEST_VERSION := v0.71.1
CONFTEST := $(BIN)/conftest
CONFTEST_MOD := $(BIN)/conftest-mod
OPA_MOD_VERSION = $(shell $(GO) list -m -f '{{.Version}}' github.com/open-policy-agent/opa)

$(CONFTEST): mk/bundle.mk go.mod
	@mkdir -p $(CONFTEST_MOD)
	printf 'module hpguard.local/conftest\n\ngo 1.26.0\n' > $(CONFTEST_MOD)/go.mod
	printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/open-policy-agent/conftest"\n' > $(CONFTEST_MOD)/tools.go
	cd $(CONFTEST_MOD) && GOFLAGS=-mod=mod $(GO) get github.com/open-policy-agent/conftest@$(CONFTEST_VERSION) github.com/open-policy-agent/opa@$(OPA_MOD_VERSION)
	cd $(CONFTEST_MOD) && $(GO) build -ldflags "-X github.com/open-policy-agent/conftest/internal/version.Version=$(CONFTEST_VERSION)" -o $(CONFTEST) github.com/open-policy-agent/conftest

.PHONY: conftest
conftest: $(CONFTEST) ## Build the pinned conftest into .bin/

.PHONY: bundle
bundle: ## Build bundle.tar.gz from the spec (also done by `make generate`) and describe it
	$(GO) run ./cmd/hpguard bundle build -v -o bundle.tar.gz
	$(GO) run ./cmd/hpguard bundle inspect bundle.tar.gz

.PHONY: test-consumers
test-consumers: tools $(CONFTEST) ## Real OPA server (signed bundle) and conftest on every golden case; every one-byte change refused
	HPGUARD_CONSUMERS=1 HPGUARD_EXHAUSTIVE=1 $(GO) test -count=1 -v \
		-run 'TestOPAServerBundle|TestConftest|TestEveryOneByteChangeIsRefused' ./tests/consumers/ ./internal/bundle/

TEST_TARGETS += test-consumers
