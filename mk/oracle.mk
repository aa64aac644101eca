# Hostile input and independent oracles (issue 6).
#
# oracle-test (part of `make test`):
#   - the differential tests in tests/oracle (a separate module: k8s.io/pod-security-admission and
#     k8s.io/api stay out of hpguard's go.mod): PSA baseline vs the baseline profile, and a port of
#     kube-apiserver's HostProcess validation vs R2 R3 R4 R6 R7 of the hostprocess profile, each over
#     ORACLE_CASES generated workloads (seed ORACLE_SEED), every ORACLE_CLI_EVERY-th case also
#     through the binary;
#   - internal/check and internal/engine under the race detector (-short);
#   - a short run of each native fuzz target (ORACLE_FUZZTIME, ORACLE_FUZZTIME_EVAL).
# The bypass corpus and the hostile-input tests are in tests/ and run with `go test ./...`.
#
# Reproduce a failure: make oracle ORACLE_SEED=<seed>; or, in tests/oracle,
#   go test -mod=mod -run PSA -seed <seed> -cases <n> -show 50 .
ORACLE_SEED ?= 20261126
ORACLE_CASES ?= 10000
ORACLE_CLI_EVERY ?= 5
# Budgets are execution counts, not durations: Go 1.26's fuzz coordinator can report its own -fuzztime
# deadline as a failure ("context deadline exceeded", no failing input written) when a worker is busy
# at that instant (go.dev/issue/75804, fixed in Go 1.27), which a loaded CI machine hits. A count has
# no deadline to race. Minimizing each new interesting input is capped as well (the default, 60 s per
# input, stalls a short run).
ORACLE_FUZZTIME ?= 50000x
ORACLE_FUZZTIME_EVAL ?= 5000x
ORACLE_FUZZMINIMIZE ?= 100x

.PHONY: oracle
oracle: ## Differential tests against Pod Security Admission and kube-apiserver's validation (tests/oracle)
	@mkdir -p $(BIN)
	$(GO) build -trimpath -o $(BIN)/hpguard ./cmd/hpguard
	cd tests/oracle && HPGUARD_BIN=$(BIN)/hpguard $(GO) test -mod=mod -count=1 -v -run . . \
		-seed $(ORACLE_SEED) -cases $(ORACLE_CASES) -cli-every $(ORACLE_CLI_EVERY)

.PHONY: race
race: ## internal/check and internal/engine tests under the race detector
	@# The CEL cost tests measure CEL's own runtime cost, which the race detector's slowdown distorts.
	$(GO) test -race -short -count=1 -skip 'TestCEL' ./internal/check ./internal/engine

.PHONY: fuzz-short
fuzz-short: ## A short run of each native fuzz target (FuzzReadBytes, FuzzEvaluate)
	$(GO) test -run '^$$' -fuzz '^FuzzReadBytes$$' -fuzztime $(ORACLE_FUZZTIME) -fuzzminimizetime $(ORACLE_FUZZMINIMIZE) ./internal/manifest
	$(GO) test -run '^$$' -fuzz '^FuzzEvaluate$$' -fuzztime $(ORACLE_FUZZTIME_EVAL) -fuzzminimizetime $(ORACLE_FUZZMINIMIZE) ./internal/engine

.PHONY: oracle-test
oracle-test: oracle race fuzz-short

TEST_TARGETS += oracle-test
