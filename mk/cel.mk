# CEL (issue 8): every golden case and the bypass corpus through the generated ValidatingAdmissionPolicies
# (k8s.io/apiserver's validating admission policy machinery) against the OPA engine, the VAP objects
# against the Kubernetes v1 types, and the estimated CEL cost of every expression (per-rule report).
.PHONY: test-cel
test-cel: ## CEL equivalence with OPA (golden cases, bypass corpus), VAP validity and per-rule CEL cost
	$(GO) test -count=1 -v -run 'TestCELGolden|TestCELBypassCorpus|TestCELCost|TestCELRuntimeCostLargePod|TestCELMinimumKubernetesVersion' ./internal/engine/ | grep -E '^(---|ok|FAIL|PASS)|cel_test.go:[0-9]+: (rule|golden|bypass|profile)|Error|rego:|cel:'; exit $${PIPESTATUS[0]}
	$(GO) test -count=1 -run 'TestCELEveryRule|TestVAPObjectsAreValid' ./generator/

# test-cel repeats tests that `go test ./...` already runs (with per-rule cost output); run it on demand.
