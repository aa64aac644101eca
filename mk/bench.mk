# Side-by-side benchmark (issue 7): hpguard, a decode-only pass, PSA's native evaluator, conftest and
# gator test on the same corpus. `make bench` writes BENCHMARKS.md; `bench-smoke` (200 pods, one run,
# findings compared) is part of `make test`. The benchmark programs carry the build tag `bench`, so
# that `go install ./...` (the pre-commit hook's install) builds the hpguard command only.
BENCH_SIZES ?= 1000,10000,100000
BENCH_RUNS ?= 3

.PHONY: bench-tools
bench-tools: tools
	$(GO) build -trimpath -o $(BIN)/hpguard ./cmd/hpguard
	$(GO) build -tags bench -o $(BIN)/decode ./tests/bench/decode
	$(GO) build -tags bench -o $(BIN)/corpus ./tests/bench/corpus
	@if [ -d tests/oracle/cmd/psa-bench ]; then cd tests/oracle && $(GO) build -mod=mod -o $(BIN)/psa-bench ./cmd/psa-bench; fi
	@if grep -qs '^\$$(CONFTEST):' mk/bundle.mk; then $(MAKE) --no-print-directory conftest; fi

.PHONY: bench
bench: bench-tools ## Benchmark hpguard against its peers and write BENCHMARKS.md
	$(GO) run -tags bench ./tests/bench/run -sizes $(BENCH_SIZES) -runs $(BENCH_RUNS) -bin $(BIN) -strict -notes docs/benchmarks-notes.md -out BENCHMARKS.md

.PHONY: bench-smoke
bench-smoke: bench-tools
	$(GO) run -tags bench ./tests/bench/run -sizes 200 -runs 1 -bin $(BIN) -strict -gatekeeper-reviews 0 -out $(BIN)/BENCHMARKS.smoke.md

TEST_TARGETS += bench-smoke
