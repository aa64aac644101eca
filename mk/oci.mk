# OCI distribution (issue 19): a real registry (distribution/v3, built from its module at
# REGISTRY_VERSION into .bin/registry and run on loopback with htpasswd authentication) receives
# `hpguard bundle push`; hpguard pulls by tag and by digest and refuses a tampered blob; a real
# `opa run --server` with an OCI bundle service pulls the signed bundle and decides every golden case
# as hpguard does; the pinned conftest pulls it (`conftest pull`) and agrees on the golden cases.
# Time on 2 cores: the registry builds in about 2 min 15 s cold (modules downloaded), 5 s warm; the
# test takes about 30 s (OPA's 5,988 decisions 10 s, conftest 3 s, the CLI 14 s).
REGISTRY_VERSION := v3.1.2
REGISTRY := $(BIN)/registry

$(REGISTRY): mk/oci.mk
	@mkdir -p $(BIN)
	GOBIN=$(abspath $(BIN)) $(GO) install github.com/distribution/distribution/v3/cmd/registry@$(REGISTRY_VERSION)

.PHONY: registry
registry: $(REGISTRY) ## Build the pinned OCI registry (distribution) into .bin/

.PHONY: test-oci
test-oci: tools $(CONFTEST) $(REGISTRY) ## Registry on loopback: push, pull, digest pinning, tampered blob; OPA's OCI bundle service and conftest pull on the golden cases
	HPGUARD_CONSUMERS=1 $(GO) test -count=1 -v -run 'TestOCI' ./tests/consumers/

TEST_TARGETS += test-oci
