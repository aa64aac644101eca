# Gatekeeper: the pinned gator (version from go.mod) verifies the generated suites gatekeeper/suite.yaml
# (a template per rule) and gatekeeper/combined/suite.yaml (the combined template).
GATOR := $(BIN)/gator
# gator prints a controller-runtime "log.SetLogger(...) was never called" stack trace when a test loads
# ExpansionTemplates; GATOR_QUIET drops exactly those lines (the exit status is gator's).
GATOR_QUIET := grep -v -e '^\[controller-runtime\] log.SetLogger' -e '^Detected at:' -e '^[[:space:]]*>'

$(GATOR): go.mod go.sum
	@mkdir -p $(BIN)
	$(GO) build -o $(GATOR) github.com/open-policy-agent/gatekeeper/v3/cmd/gator

tools: $(GATOR)

.PHONY: gator-verify
gator-verify: $(GATOR) ## Run `gator verify` on the generated Gatekeeper suite (once per template engine)
	set -o pipefail; $(GATOR) verify gatekeeper/ --enable-k8s-native-validation=false 2>&1 | $(GATOR_QUIET)
	@# gator verify does not descend into directories (-r would): the combined template's suite.
	set -o pipefail; $(GATOR) verify gatekeeper/combined/ 2>&1 | $(GATOR_QUIET)
	@# Gatekeeper prefers CEL when a template carries both engines: verify again with CEL enabled
	@# (the per-rule templates' suite: the combined template, gatekeeper/combined/, carries Rego only).
	@set -o pipefail; if grep -rqs 'engine: K8sNativeValidation' gatekeeper/templates; then \
		echo "$(GATOR) verify gatekeeper/suite.yaml --enable-k8s-native-validation=true"; \
		$(GATOR) verify gatekeeper/suite.yaml --enable-k8s-native-validation=true 2>&1 | $(GATOR_QUIET); \
	fi

	@# `kubectl apply -k` input: the templates, every profile (and expansion/) build with kustomize, when kubectl is here.
	@if command -v kubectl >/dev/null; then \
		for k in gatekeeper/templates gatekeeper/profiles/* gatekeeper/expansion gatekeeper/combined/template gatekeeper/combined/profiles/*; do \
			kubectl kustomize $$k >/dev/null || exit 1; echo "kubectl kustomize $$k: ok"; \
		done; \
	fi

TEST_TARGETS += gator-verify
