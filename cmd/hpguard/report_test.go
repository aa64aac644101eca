package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReportMarkdown(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs without -short (make test)")
	}
	out, errOut, code := run(t, "", "report", "--engines", "opa", "-o", "md", "../../examples")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "**All green.**")
	require.Regexp(t, `Revision: `+"`"+`\d+\.\d+\.\d+\+[0-9a-f]{12}`+"`", out)
	require.Contains(t, out, "Signature: unsigned")
	p, err := loadPolicy("")
	require.NoError(t, err)
	for _, id := range p.Ruleset.RuleIDs() {
		require.Regexp(t, "\\| `"+regexp.QuoteMeta(id)+"` \\| \\d+ \\| \\d+ \\| \\d+ \\| \\d \\| \\d+/\\d+ ✓ \\|", out, "coverage row of %s", id)
	}
	require.Contains(t, out, "## Findings")
	require.Contains(t, out, "`no-named-pipe-or-socket-mounts` | 2 |")
	_, errOut, code = run(t, "", "report", "-o", "pdf")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "want a .html or .md file")
}

// TestReportRendersInChromium renders the HTML report in headless Chromium: it loads without
// console errors and a screenshot is produced. Chromium is Debian's package (`make setup` installs
// it; `make test` runs setup first); without it the test is skipped unless HPGUARD_REQUIRE_CHROMIUM
// is set.
func TestReportRendersInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("slow (starts a browser): runs without -short (make test-report)")
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("HPGUARD_REQUIRE_CHROMIUM") != "" {
			t.Fatal("chromium is required: run `make setup` (apt-get install chromium)")
		}
		t.Skip("chromium not installed")
	}
	dir := t.TempDir()
	html := filepath.Join(dir, "report.html")
	out, errOut, code := run(t, "", "report", "--engines", "opa", "-o", html, "../../examples")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "wrote "+html)
	shot := filepath.Join(dir, "report.png")
	flags := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + filepath.Join(dir, "profile"), "--enable-logging=stderr", "--v=0", "--window-size=1280,2400"}
	cmd := exec.Command(chromium, append(flags, "--screenshot="+shot, "file://"+html)...)
	logs, err := cmd.CombinedOutput()
	require.NoError(t, err, "chromium: %s", logs)
	for _, line := range strings.Split(string(logs), "\n") {
		if strings.Contains(line, "CONSOLE") || strings.Contains(line, "Uncaught") {
			t.Errorf("console message while rendering the report: %s", line)
		}
	}
	st, err := os.Stat(shot)
	require.NoError(t, err, "screenshot produced")
	require.Greater(t, st.Size(), int64(20_000), "the screenshot shows a rendered page")
	dom, err := exec.Command(chromium, append(flags, "--dump-dom", "file://"+html)...).Output()
	require.NoError(t, err)
	require.Contains(t, string(dom), "Coverage: rules × golden cases × engines")
	require.Contains(t, string(dom), "all green")
	require.Contains(t, string(dom), "<svg")
	if keep := os.Getenv("HPGUARD_REPORT_SCREENSHOT"); keep != "" {
		b, _ := os.ReadFile(shot)
		require.NoError(t, os.WriteFile(keep, b, 0o644))
	}
}
