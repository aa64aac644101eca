# Kyverno (issue 17): the generated kyverno/ ValidatingPolicies proven with the real Kyverno.
# The CLI's module has replace directives, so `go install …@version` refuses it; the module is
# downloaded through the module proxy (`go mod download`), copied to a writable directory and built
# inside it, at the pinned version, into .bin/kyverno-<version>/ (reused while the version is
# unchanged), with tests/testdata/kyverno-eval: Kyverno's ValidatingPolicy engine, driven as the
# CLI drives it, but compiling the policies once (the CLI compiles every policy again for each
# resource: about 25 ms per policy and resource here, 275 ms for field-types).
# Time on 2 cores: the CLI 7.3 minutes with a GOCACHE that held only other projects' Kubernetes
# packages (some 380 modules), kyverno-eval then 9 s (it shares every compiled package); in a fresh
# clone with a warm GOCACHE, 16 s and 9 s. `make kyverno-test` then takes about 5.5 minutes.
KYVERNO_VERSION := v1.19.1
KYVERNO_DIR := $(BIN)/kyverno-$(KYVERNO_VERSION)
KYVERNO := $(KYVERNO_DIR)/kyverno
KYVERNO_EVAL := $(KYVERNO_DIR)/kyverno-eval

# The CLI: rebuilt when missing (its directory names the version) or when the build script changes.
$(KYVERNO): scripts/build-kyverno.sh
	@mkdir -p $(KYVERNO_DIR)
	FORCE_CLI=1 KYVERNO_VERSION=$(KYVERNO_VERSION) OUT=$(KYVERNO) EVAL_OUT=$(KYVERNO_EVAL) GO=$(GO) bash scripts/build-kyverno.sh

$(KYVERNO_EVAL): $(KYVERNO) tests/testdata/kyverno-eval/main.go scripts/build-kyverno.sh
	KYVERNO_VERSION=$(KYVERNO_VERSION) OUT=$(KYVERNO) EVAL_OUT=$(KYVERNO_EVAL) GO=$(GO) bash scripts/build-kyverno.sh

.PHONY: kyverno
kyverno: $(KYVERNO_EVAL) ## Build the pinned Kyverno CLI (and kyverno-eval) from Kyverno's module source into .bin/

# TestKyvernoApply: the golden cases and the bypass corpus under every profile, kyverno-eval and
# (bypass corpus and a sample of the golden cases) the CLI's `kyverno apply`, against hpguard check;
# TestKyvernoSuite: `kyverno test kyverno/tests`.
.PHONY: kyverno-test
kyverno-test: $(KYVERNO_EVAL) ## Prove kyverno/ with the real Kyverno: kyverno apply and Kyverno's engine against hpguard check, and the generated `kyverno test` suite
	KYVERNO=$(KYVERNO) KYVERNO_EVAL=$(KYVERNO_EVAL) $(GO) test -count=1 -v -timeout 30m -run 'TestKyverno' ./tests/

TEST_TARGETS += kyverno-test
