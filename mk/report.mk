# The HTML audit report rendered in headless Chromium (Debian's chromium package), issue 9.
# `make setup` installs chromium (see the Makefile); test-report only runs the test, and fails when
# chromium is missing.
.PHONY: chromium
chromium: ## Install Debian's chromium with apt-get, unless a chromium is on PATH (part of `make setup`)
	@if command -v chromium >/dev/null 2>&1; then \
		echo "setup: chromium is installed ($$(command -v chromium))"; \
	else \
		echo "setup: installing Debian's chromium package (apt-get install -y chromium) for the report test (make test-report)"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -q chromium || { apt-get update -q && apt-get install -y -q chromium; } || { \
			echo "setup: could not install chromium; install it yourself (e.g. sudo apt-get install chromium)" >&2; exit 1; }; \
		echo "setup: installed $$(chromium --version 2>/dev/null || command -v chromium)"; \
	fi

SETUP_TARGETS += chromium

.PHONY: test-report
test-report: ## The HTML report rendered in headless Chromium (needs chromium: make setup)
	HPGUARD_REQUIRE_CHROMIUM=1 $(GO) test -count=1 -run 'TestReportRendersInChromium' ./cmd/hpguard

TEST_TARGETS += test-report
