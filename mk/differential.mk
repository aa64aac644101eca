# Differential test (issue 5): every engine gives the same exit status and findings on every input.
# The golden cases, the bypass corpus, the hostile inputs and the fuzz seeds go through hpguard's
# opa, gatekeeper and cel engines under every profile, and every checked workload document (as
# hpguard decoded it) through the pinned conftest with --policy policies/rego. Without the gate,
# `go test ./tests/` runs the bypass corpus and the fuzz seeds through the three engines only.
.PHONY: test-differential
test-differential: conftest ## Differential test: opa, gatekeeper, cel and conftest agree on every input (golden, bypass, hostile, fuzz seeds)
	HPGUARD_CONSUMERS=1 $(GO) test -count=1 -v -timeout 30m -run '^TestDifferential' ./tests/

TEST_TARGETS += test-differential
