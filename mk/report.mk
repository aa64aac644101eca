# The HTML audit report rendered in headless Chromium (Debian's chromium package), issue 9.
.PHONY: chromium
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing Debian's chromium for the report test"; \
		(apt-get install -y -q chromium >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null)); }

.PHONY: test-report
test-report: chromium
	HPGUARD_REQUIRE_CHROMIUM=1 $(GO) test -count=1 -run 'TestReportRendersInChromium' ./cmd/hpguard

TEST_TARGETS += test-report
